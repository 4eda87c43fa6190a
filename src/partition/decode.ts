/**
 * Decode stage: raw bytes → a plain JS object, or a rejection. JSON and Avro give the same object for the same
 * event, so validation and everything after it never know the wire format.
 */
import { isUtf8 } from 'node:buffer';
import avro from 'avsc';
import { avroWriterType } from './avro-types.ts';
import type { Rejection } from './record.ts';

/**
 * `escapes`: the JSON text had `\u` escapes, the only way a decoded string can hold half of a character (a lone
 * UTF-16 surrogate: raw bytes that are not UTF-8 are refused before), which no warehouse load accepts.
 */
export type Decoded = { ok: true; obj: Record<string, unknown>; escapes?: boolean } | { ok: false; rejection: Rejection };

function reject(code: Rejection['code'], message: string): Decoded {
  return { ok: false, rejection: { code, stage: 'decode', message } };
}

export function checkSize(bytes: Uint8Array, maxBytes: number): Decoded | null {
  return bytes.length > maxBytes ? reject('too_large', `record is ${bytes.length} bytes, over the ${maxBytes}-byte limit`) : null;
}

export function decodeJson(bytes: Uint8Array, maxBytes: number): Decoded {
  const big = checkSize(bytes, maxBytes);
  if (big) return big;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  // Invalid bytes decode to U+FFFD; only then is the (rarer) full check needed, since U+FFFD is also legal text.
  if (text.indexOf('\uFFFD') !== -1 && !isUtf8(bytes)) return reject('parse_error', 'record is not valid UTF-8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject('parse_error', `not valid JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return reject('parse_error', `JSON is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not an object`);
  }
  return { ok: true, obj: value as Record<string, unknown>, escapes: text.indexOf('\\u') !== -1 };
}

/** Decodes Avro datums written with a given writer schema into the JSON-equivalent object. */
export class AvroDecoder {
  private readonly type: avro.Type;
  private readonly fields: { name: string; type: avro.Type }[];

  constructor(writerSchemaJson: string) {
    this.type = avroWriterType(writerSchemaJson);
    this.fields = (this.type as unknown as { fields?: { name: string; type: avro.Type }[] }).fields ?? [];
  }

  decode(bytes: Uint8Array, maxBytes: number): Decoded {
    const big = checkSize(bytes, maxBytes);
    if (big) return big;
    let rec: Record<string, unknown>;
    try {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      const res = this.type.decode(buf, 0);
      if (res.offset !== buf.length || res.value === undefined) return reject('parse_error', 'Avro datum does not match the writer schema');
      rec = res.value as Record<string, unknown>;
    } catch (err) {
      return reject('parse_error', `Avro datum does not decode: ${(err as Error).message.slice(0, 200)}`);
    }
    // defineProperty, not assignment: a field named "__proto__" must stay data, never a prototype.
    const obj: Record<string, unknown> = {};
    let escapes = false;
    for (const { name, type } of this.fields) {
      const v = plain(type, rec[name]);
      if (v === null || v === undefined) continue; // null and absent are the same to validation
      if (name === 'parameters' && typeof v === 'string') {
        try {
          obj.parameters = JSON.parse(v);
        } catch {
          return reject('parse_error', 'Avro field parameters is not JSON text');
        }
        // Avro's strings are UTF-8 (whole characters); parameters' JSON text can still escape half of one.
        escapes = v.indexOf('\\u') !== -1;
        continue;
      }
      Object.defineProperty(obj, name, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return { ok: true, obj, escapes };
  }
}

/**
 * A decoded Avro value as JSON would carry it: unions without their branch wrapper, at any depth (a field
 * gamestream does not know may be a record of unions), bytes and fixed as base64 text.
 */
function plain(type: avro.Type, v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (type instanceof avro.types.WrappedUnionType) {
    const branch = Object.keys(v as object)[0]!;
    const t = type.types.find((b) => b.branchName === branch);
    return t ? plain(t, (v as Record<string, unknown>)[branch]) : v;
  }
  if (type instanceof avro.types.RecordType) {
    const out: Record<string, unknown> = {};
    for (const f of type.fields) {
      Object.defineProperty(out, f.name, { value: plain(f.type, (v as Record<string, unknown>)[f.name]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  if (type instanceof avro.types.ArrayType) return (v as unknown[]).map((x) => plain(type.itemsType, x));
  if (type instanceof avro.types.MapType) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as object)) Object.defineProperty(out, k, { value: plain(type.valuesType, x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (Buffer.isBuffer(v)) return v.toString('base64');
  return v;
}

/**
 * Confluent wire format on a Kafka topic that also carries JSON: magic byte 0, a 4-byte big-endian schema id,
 * then the Avro datum. JSON never starts with a 0 byte, so one topic can mix both.
 *
 * Schemas arrive from the supervisor (GAMESTREAM_AVRO_SCHEMA_DIR at start, the schema registry later) before
 * any batch that needs them, so an id missing here is one nobody knows: a per-record `unknown_schema`.
 */
export class ConfluentAvro {
  private readonly decoders = new Map<number, AvroDecoder>();
  /** Ids whose schema exists but cannot decode Avro (another schema type, unresolvable references): why. */
  private readonly unusable = new Map<number, string>();
  private readonly unknownHint: string;

  constructor(schemas: Record<string, string>, opts: { unusable?: Record<string, string>; unknownHint?: string } = {}) {
    this.unknownHint = opts.unknownHint ?? 'GAMESTREAM_AVRO_SCHEMA_DIR';
    this.add(schemas, opts.unusable ?? {});
  }

  add(schemas: Record<string, string>, unusable: Record<string, string> = {}): void {
    for (const [id, schema] of Object.entries(schemas)) {
      if (!this.decoders.has(Number(id))) this.decoders.set(Number(id), new AvroDecoder(schema));
    }
    for (const [id, why] of Object.entries(unusable)) this.unusable.set(Number(id), why);
  }

  static isFramed(bytes: Uint8Array): boolean {
    return bytes.length >= 5 && bytes[0] === 0;
  }

  static schemaId(bytes: Uint8Array): number {
    return ((bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4]) >>> 0;
  }

  decode(bytes: Uint8Array, maxBytes: number): Decoded {
    const big = checkSize(bytes, maxBytes);
    if (big) return big;
    const id = ConfluentAvro.schemaId(bytes);
    const decoder = this.decoders.get(id);
    if (!decoder) {
      const why = this.unusable.get(id);
      return reject('unknown_schema', why ? `Avro schema id ${id} cannot be used: ${why}` : `Avro schema id ${id} is unknown (${this.unknownHint})`);
    }
    return decoder.decode(bytes.subarray(5), maxBytes);
  }
}
