// An independent reading of docs/SEMANTICS.md "Decode" and "Validate": the verdict for one record, and the
// partition key. The generator labels every record with what it meant to make; computeExpected checks
// those labels against this code, so a slip in either shows up as a disagreement instead of a wrong truth.
import { YEAR_2000_MS, parseTimestamp } from './timestamps.ts';

export type ErrorCode =
  | 'too_large'
  | 'parse_error'
  | 'missing_fields'
  | 'invalid_field'
  | 'invalid_timestamp'
  | 'future_timestamp';

export const ERROR_CODES: readonly ErrorCode[] = [
  'too_large', 'parse_error', 'missing_fields', 'invalid_field', 'invalid_timestamp', 'future_timestamp',
];

export type Stage = 'decode' | 'validate';

export function stageOf(code: ErrorCode): Stage {
  return code === 'too_large' || code === 'parse_error' ? 'decode' : 'validate';
}

export type JsonObject = Record<string, unknown>;

export type Decoded =
  | { ok: true; value: JsonObject }
  | { ok: false; code: 'too_large' | 'parse_error'; utf8: boolean };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** JSON.parse of strictly decoded UTF-8, or undefined when the bytes are not a JSON text. */
function parseJson(bytes: Uint8Array): { value: unknown } | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decode stage for a JSON line: size first, then UTF-8, then JSON, then "is an object". */
export function decodeJsonLine(line: Uint8Array, maxEventBytes: number): Decoded {
  if (line.length > maxEventBytes) return { ok: false, code: 'too_large', utf8: isUtf8(line) };
  const parsed = parseJson(line);
  if (!parsed) return { ok: false, code: 'parse_error', utf8: isUtf8(line) };
  if (!isPlainObject(parsed.value)) return { ok: false, code: 'parse_error', utf8: true };
  return { ok: true, value: parsed.value };
}

/**
 * The Kafka key of a file record: its top-level `user_id` when that is a non-empty string in a record that
 * is a JSON object, else null (the record is then placed by line index). The size limit plays no part:
 * partitioning happens in the source, before decode. Generated records never repeat a top-level key, so
 * JSON.parse's "last wins" equals the contract's "first".
 */
export function partitionKeyOfLine(line: Uint8Array): string | null {
  const parsed = parseJson(line);
  if (!parsed || !isPlainObject(parsed.value)) return null;
  return keyOfObject(parsed.value);
}

export function keyOfObject(obj: JsonObject): string | null {
  const uid = Object.hasOwn(obj, 'user_id') ? obj.user_id : undefined;
  return typeof uid === 'string' && uid.length > 0 ? uid : null;
}

/** Half of a UTF-16 surrogate pair on its own: not a character, and no warehouse stores it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A string or object key anywhere in the value holds a lone surrogate. Iterative, as nestingDepth. */
export function holdsLoneSurrogate(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return true;
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) stack.push(...v);
    else for (const [k, c] of Object.entries(v)) stack.push(k, c);
  }
  return false;
}

/** Nesting depth: a scalar is 0, `{}` and `[]` are 1. Iterative, because test values nest thousands deep. */
export function nestingDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) stack.push([c, depth]);
  }
  return max;
}

const REQUIRED = ['id', 'user_id', 'timestamp', 'type'] as const;
const OPTIONAL_STRINGS: readonly (readonly [string, number])[] = [
  ['session_id', 256], ['name', 256], ['platform', 256], ['app_version', 256], ['device_model', 256],
  ['ip_address', 64],
];
const MAX_NESTING = 32;
/** Every top-level field the event schema names. */
export const KNOWN_FIELDS: readonly string[] = [
  'id', 'user_id', 'session_id', 'timestamp', 'type', 'name', 'parameters', 'platform', 'app_version', 'ip_address',
  'device_model', 'is_paying_user', 'days_since_install',
];
const TWO_53 = 2 ** 53;

export interface ValidateOptions {
  nowMs: number;
  futureToleranceMs: number;
}

export type Validated =
  | { ok: true; ts: number }
  | { ok: false; code: 'missing_fields' | 'invalid_field' | 'invalid_timestamp' | 'future_timestamp' };

function field(obj: JsonObject, name: string): unknown {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

/** Validate stage, first failing rule wins. */
export function validateObject(obj: JsonObject, opts: ValidateOptions): Validated {
  for (const name of REQUIRED) {
    const v = field(obj, name);
    if (v === undefined || v === null || v === '') return { ok: false, code: 'missing_fields' };
  }
  const strings: string[] = [];
  for (const name of ['id', 'user_id']) {
    const v = field(obj, name);
    if (typeof v !== 'string' || v.length > 256) return { ok: false, code: 'invalid_field' };
    strings.push(v);
  }
  const type = field(obj, 'type');
  if (typeof type !== 'number' || !Number.isInteger(type) || Math.abs(type) > TWO_53) {
    return { ok: false, code: 'invalid_field' };
  }
  for (const [name, maxLen] of OPTIONAL_STRINGS) {
    const v = field(obj, name);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v.length > maxLen) return { ok: false, code: 'invalid_field' };
    strings.push(v);
  }
  const params = field(obj, 'parameters');
  if (params !== undefined && params !== null) {
    if (!isPlainObject(params) || nestingDepth(params) > MAX_NESTING) return { ok: false, code: 'invalid_field' };
  }
  // Fields the schema does not know are kept (the event's `properties`), under the same nesting limit.
  for (const [k, v] of Object.entries(obj)) {
    if (!KNOWN_FIELDS.includes(k) && v !== null && nestingDepth(v) > MAX_NESTING) return { ok: false, code: 'invalid_field' };
  }
  if (strings.some((s) => s.includes('\u0000'))) return { ok: false, code: 'invalid_field' };
  // Half a character anywhere: in a string field, in parameters, in a field the schema does not know (key or value).
  if (holdsLoneSurrogate(obj)) return { ok: false, code: 'invalid_field' };
  const ts = parseTimestamp(field(obj, 'timestamp'));
  if (ts === null || ts < YEAR_2000_MS) return { ok: false, code: 'invalid_timestamp' };
  if (ts > opts.nowMs + opts.futureToleranceMs) return { ok: false, code: 'future_timestamp' };
  return { ok: true, ts };
}

/** `parameters.level_id` when it is an integer, else null: the window key. */
export function levelIdOf(params: unknown): number | null {
  if (!isPlainObject(params)) return null;
  const v = field(params, 'level_id');
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
}
