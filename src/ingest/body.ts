/**
 * A request body → the events to produce. Only what cannot be accepted as a whole is refused here (too big, too
 * many events, not splittable); a broken event inside an accepted batch goes to Kafka as it is, so the stream
 * processor dead-letters it with its raw bytes and nothing a client sent disappears without a trace.
 *
 * Split rules:
 * - `Content-Type: application/json`, or any other type with a body starting with `[`: a JSON array. It must
 *   parse; each element is produced as `JSON.stringify(element)`, whatever its shape.
 * - otherwise NDJSON: lines split on `\n` (a trailing `\r` is dropped), blank lines skipped, every other line
 *   produced as its exact bytes, JSON or not. At least one line must be a JSON object: a body with none (gzip
 *   sent without `Content-Encoding`, a pretty-printed object, form data) is not NDJSON.
 * The key is the event's `user_id`, found by the same scan the daemon's router uses (docs/SEMANTICS.md).
 */
import type { IncomingMessage } from 'node:http';
import { isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { GamestreamError, type ErrorCode } from '../errors.ts';
import { scanUserIdKey } from '../sources/key-scan.ts';


/** HTTP status for each way a request is refused at the edge. */
export const REJECT_STATUS = {
  unauthorized: 401,
  body_too_large: 413,
  too_many_events: 413,
  event_too_large: 413,
  unsupported_encoding: 415,
  empty_body: 400,
  bad_gzip: 400,
  not_json_array: 400,
  not_ndjson: 400,
  json_too_deep: 400,
} satisfies Partial<Record<ErrorCode, number>>;

export interface BodyLimits {
  maxBodyBytes: number;
  maxBatchEvents: number;
  maxEventBytes: number;
  /** Deepest nesting of arrays and objects a JSON body may have (checked by a scan before parsing); 64 when not given. */
  maxJsonDepth?: number;
}

const DEFAULT_MAX_JSON_DEPTH = 64;

/**
 * Whether the JSON text in buf[start, end) nests arrays and objects deeper than maxDepth: one pass over the bytes
 * that skips strings (with their escapes), so a hostile body costs a linear scan, never a parse (V8's JSON.parse
 * of a 4 MB `[[[[…` takes over a second, and the event loop with it).
 */
export function jsonDepthExceeds(buf: Buffer, start: number, end: number, maxDepth: number): boolean {
  let depth = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < end; i++) {
        const c = buf[i];
        if (c === 0x5c) i++;
        else if (c === 0x22) break;
      }
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (b === 0x5d || b === 0x7d) {
      depth--;
    }
  }
  return false;
}

export interface OutMessage {
  key: Buffer | null;
  value: Buffer;
}

export interface EventBatch {
  messages: OutMessage[];
  /** Key and value bytes of all messages: what the batch holds in memory until Kafka acknowledges it. */
  bytes: number;
}

function reject(code: keyof typeof REJECT_STATUS, message: string): GamestreamError {
  return new GamestreamError(code, message);
}

/**
 * Reads the raw body, refusing it as soon as it passes the limit (nothing more is buffered). `admit`, when given,
 * is asked with the bytes received so far before each chunk is kept; when it says no, the body is refused with
 * its error (the in-flight budget: nothing is buffered that the budget has not admitted).
 */
export function readBody(req: IncomingMessage, maxBytes: number, admit?: (total: number) => Error | null): Promise<Buffer> {
  return new Promise((resolve, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: Error | null, body?: Buffer) => {
      if (settled) return;
      settled = true;
      if (err) fail(err);
      else resolve(body!);
    };
    // With a declared length the body is copied into one buffer as it arrives: no second copy at the end.
    const declared = Number(req.headers['content-length'] ?? NaN);
    const whole = Number.isSafeInteger(declared) && declared > 0 && declared <= maxBytes ? Buffer.allocUnsafe(declared) : null;
    let filled = 0;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) {
        chunks.length = 0;
        settle(reject('body_too_large', `the request body is larger than ${maxBytes} bytes`));
        return;
      }
      const refused = admit?.(size) ?? null;
      if (refused) {
        chunks.length = 0;
        settle(refused);
        return;
      }
      if (whole !== null && chunks.length === 0 && filled + chunk.length <= whole.length) {
        chunk.copy(whole, filled);
        filled += chunk.length;
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      if (whole === null) settle(null, Buffer.concat(chunks, size));
      else if (chunks.length === 0) settle(null, whole.subarray(0, filled));
      else settle(null, Buffer.concat([whole.subarray(0, filled), ...chunks], size));
    });
    req.on('error', (err) => settle(new GamestreamError('client_aborted', 'the request body was not received whole', { cause: err })));
    req.on('close', () => settle(new GamestreamError('client_aborted', 'the client closed the connection before the body ended')));
  });
}

/**
 * Undoes `Content-Encoding`. The decompressed size is limited like the raw one (a gzip bomb stops at the limit),
 * and `admit` is asked with the bytes decompressed so far before each chunk is kept, as readBody asks of the raw
 * ones: concurrent requests cannot hold more decompressed memory than the in-flight budget.
 */
export async function decodeBody(body: Buffer, contentEncoding: string | undefined, maxBytes: number, admit: (total: number) => GamestreamError | null = () => null): Promise<Buffer> {
  const enc = (contentEncoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  if (enc !== 'gzip' && enc !== 'x-gzip') {
    throw reject('unsupported_encoding', `Content-Encoding ${JSON.stringify(enc.slice(0, 40))} is not supported: send gzip or no encoding`);
  }
  return new Promise<Buffer>((resolve, fail) => {
    const z = createGunzip();
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const stop = (err: GamestreamError): void => {
      if (settled) return;
      settled = true;
      z.destroy();
      fail(err);
    };
    z.on('data', (chunk: Buffer) => {
      if (settled) return;
      total += chunk.length;
      if (total > maxBytes) return stop(reject('body_too_large', `the request body is larger than ${maxBytes} bytes once decompressed`));
      const refused = admit(total);
      if (refused) return stop(refused);
      chunks.push(chunk);
    });
    z.on('error', (err: Error) => stop(reject('bad_gzip', `the body is not valid gzip: ${err.message}`)));
    z.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    });
    z.end(body);
  });
}

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function keyOf(buf: Buffer, start: number, end: number): Buffer | null {
  const k = scanUserIdKey(buf, start, end);
  if (k === null) return null;
  return k.decoded ? Buffer.from(k.decoded.buffer, k.decoded.byteOffset, k.decoded.byteLength) : buf.subarray(k.start, k.end);
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines', 'text/plain']);

export function splitEvents(body: Buffer, contentType: string | undefined, limits: BodyLimits): EventBatch {
  let start = 0;
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) start = 3; // UTF-8 BOM
  let first = start;
  while (first < body.length && isWs(body[first])) first++;
  if (first === body.length) throw reject('empty_body', 'the body holds no events');
  const type = mediaType(contentType);
  if (type === 'application/json' || (!NDJSON_TYPES.has(type) && body[first] === 0x5b)) {
    return splitArray(body.subarray(start), limits);
  }
  return splitNdjson(body, start, limits);
}

function splitArray(body: Buffer, limits: BodyLimits): EventBatch {
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) {
    throw reject('not_json_array', 'the body looks gzip-compressed: send it with Content-Encoding: gzip');
  }
  if (!isUtf8(body)) throw reject('not_json_array', 'the body is not valid UTF-8, so it is not a JSON array');
  const maxDepth = limits.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (jsonDepthExceeds(body, 0, body.length, maxDepth)) {
    throw reject('json_too_deep', `the body nests arrays or objects deeper than ${maxDepth} levels`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw reject('not_json_array', `the body is not a JSON array of events: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw reject('not_json_array', 'the body is JSON but not an array of events');
  if (parsed.length > limits.maxBatchEvents) {
    throw reject('too_many_events', `the batch has ${parsed.length} events; at most ${limits.maxBatchEvents} are allowed`);
  }
  const messages: OutMessage[] = new Array(parsed.length);
  let bytes = 0;
  for (let i = 0; i < parsed.length; i++) {
    // stringify of an element cannot fail: it came out of JSON.parse. `undefined` cannot occur in parsed JSON.
    const value = Buffer.from(JSON.stringify(parsed[i]));
    if (value.length > limits.maxEventBytes) {
      throw reject('event_too_large', `event ${i} has ${value.length} bytes; at most ${limits.maxEventBytes} are allowed`);
    }
    const key = keyOf(value, 0, value.length);
    messages[i] = { key, value };
    bytes += value.length + (key?.length ?? 0);
  }
  return { messages, bytes };
}

function splitNdjson(body: Buffer, start: number, limits: BodyLimits): EventBatch {
  const messages: OutMessage[] = [];
  let bytes = 0;
  let sawObject = false;
  let lineNo = 0;
  let pos = start;
  while (pos < body.length) {
    let nl = body.indexOf(0x0a, pos);
    if (nl < 0) nl = body.length;
    let end = nl;
    if (end > pos && body[end - 1] === 0x0d) end--;
    const lineStart = pos;
    pos = nl + 1;
    lineNo++;
    let first = lineStart;
    while (first < end && isWs(body[first])) first++;
    if (first === end) continue;
    if (messages.length === limits.maxBatchEvents) {
      throw reject('too_many_events', `the batch has more than ${limits.maxBatchEvents} events (lines); at most ${limits.maxBatchEvents} are allowed`);
    }
    if (end - lineStart > limits.maxEventBytes) {
      throw reject('event_too_large', `line ${lineNo} has ${end - lineStart} bytes; at most ${limits.maxEventBytes} are allowed`);
    }
    // A line nested too deep is forwarded as it is, but not parsed here to tell whether it is an object.
    if (!sawObject && body[first] === 0x7b && !jsonDepthExceeds(body, first, end, limits.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH)) {
      sawObject = isJsonObject(body, first, end);
    }
    const value = body.subarray(lineStart, end);
    const key = keyOf(body, lineStart, end);
    messages.push({ key, value });
    bytes += value.length + (key?.length ?? 0);
  }
  if (!sawObject) {
    const gz = body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
    throw reject('not_ndjson', gz
      ? 'the body looks gzip-compressed: send it with Content-Encoding: gzip'
      : 'the body is neither a JSON array nor NDJSON: no line is a JSON object');
  }
  // The events are views of the body, which stays in memory whole until Kafka acknowledges them. The budget counts
  // the events' bytes; a body mostly of something else (blank lines, padding) gives its events copies instead.
  if (bytes < body.length * 0.75) {
    for (const m of messages) {
      m.value = Buffer.from(m.value);
      if (m.key !== null && m.key.buffer === body.buffer) m.key = Buffer.from(m.key);
    }
  }
  return { messages, bytes };
}

function isJsonObject(body: Buffer, start: number, end: number): boolean {
  try {
    const v: unknown = JSON.parse(body.toString('utf8', start, end));
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}
