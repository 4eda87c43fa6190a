/**
 * Validate stage: the rules and their order are in docs/SEMANTICS.md. The first failing rule wins, so a record
 * always gets exactly one reason code.
 */
import { levelIdOf } from '../contract/rules.ts';
import type { Rejection, ValidEvent } from './record.ts';
import { parseTimestamp } from './timestamp.ts';

const MAX_ID_CHARS = 256;
const MAX_IP_CHARS = 64;
const MAX_PARAM_DEPTH = 32;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const OPTIONAL_STRINGS = ['session_id', 'name', 'platform', 'app_version', 'device_model', 'ip_address'] as const;
/** The top-level fields the event schema has; any other is kept in `properties` (docs/SEMANTICS.md). */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'id', 'user_id', 'timestamp', 'type', 'parameters', 'is_paying_user', 'days_since_install', ...OPTIONAL_STRINGS,
]);

export interface ValidateOptions {
  futureToleranceMs: number;
  nowMs: number;
  /** The record's JSON text had \u escapes: its nested strings and keys are checked for lone surrogates too. */
  escapes?: boolean;
}

function fail(code: Rejection['code'], message: string): Rejection {
  return { code, stage: 'validate', message };
}

function isMissing(v: unknown): boolean {
  return v === undefined || v === null || v === '';
}

function badString(v: string, max: number): string | null {
  if (v.length > max) return `is longer than ${max} characters`;
  if (v.indexOf('\u0000') !== -1) return 'contains U+0000';
  if (!v.isWellFormed()) return 'contains a lone UTF-16 surrogate';
  return null;
}

/** A string or key anywhere in v holds half of a character (a lone UTF-16 surrogate). v nests at most MAX_PARAM_DEPTH. */
function hasLoneSurrogate(v: unknown): boolean {
  if (typeof v === 'string') return !v.isWellFormed();
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(hasLoneSurrogate);
  for (const k in v as object) if (!k.isWellFormed() || hasLoneSurrogate((v as Record<string, unknown>)[k])) return true;
  return false;
}

/** Depth of nested objects/arrays, stopping as soon as it passes `limit` (hostile input can nest deeply). */
function depthExceeds(v: unknown, limit: number, depth = 1): boolean {
  if (depth > limit) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (x !== null && typeof x === 'object' && depthExceeds(x, limit, depth + 1)) return true;
  } else {
    for (const k in v as object) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && typeof x === 'object' && depthExceeds(x, limit, depth + 1)) return true;
    }
  }
  return false;
}

/**
 * Plain property reads are safe here: none of the field names exists on Object.prototype, and JSON.parse
 * turns a "__proto__" key into an own property instead of a prototype. They cost a fraction of hasOwn.
 */
function own(obj: Record<string, unknown>, key: string): unknown {
  return obj[key];
}

export function validate(obj: Record<string, unknown>, opts: ValidateOptions): ValidEvent | Rejection {
  const id = own(obj, 'id');
  const userId = own(obj, 'user_id');
  const timestamp = own(obj, 'timestamp');
  const type = own(obj, 'type');

  const missing: string[] = [];
  if (isMissing(id)) missing.push('id');
  if (isMissing(userId)) missing.push('user_id');
  if (isMissing(timestamp)) missing.push('timestamp');
  if (isMissing(type)) missing.push('type');
  if (missing.length > 0) return fail('missing_fields', `missing required fields: ${missing.join(', ')}`);

  if (typeof id !== 'string') return fail('invalid_field', `id must be a string, got ${typeof id}`);
  let bad = badString(id, MAX_ID_CHARS);
  if (bad) return fail('invalid_field', `id ${bad}`);
  if (typeof userId !== 'string') return fail('invalid_field', `user_id must be a string, got ${typeof userId}`);
  bad = badString(userId, MAX_ID_CHARS);
  if (bad) return fail('invalid_field', `user_id ${bad}`);
  if (typeof type !== 'number' || !Number.isSafeInteger(type)) {
    return fail('invalid_field', `type must be an integer, got ${typeof type === 'string' ? 'a string' : String(type).slice(0, 40)}`);
  }
  const opt: Record<string, string | null> = {};
  for (const name of OPTIONAL_STRINGS) {
    const v = own(obj, name);
    if (v === undefined || v === null) {
      opt[name] = null;
      continue;
    }
    if (typeof v !== 'string') return fail('invalid_field', `${name} must be a string, got ${typeof v}`);
    bad = badString(v, name === 'ip_address' ? MAX_IP_CHARS : MAX_ID_CHARS);
    if (bad) return fail('invalid_field', `${name} ${bad}`);
    opt[name] = v;
  }
  let parameters = own(obj, 'parameters');
  if (parameters === undefined || parameters === null) parameters = {};
  if (typeof parameters !== 'object' || Array.isArray(parameters)) {
    return fail('invalid_field', `parameters must be an object, got ${Array.isArray(parameters) ? 'an array' : typeof parameters}`);
  }
  if (depthExceeds(parameters, MAX_PARAM_DEPTH)) return fail('invalid_field', `parameters nest deeper than ${MAX_PARAM_DEPTH} levels`);
  // A warehouse load refuses the whole commit over one (DuckDB's JSON reader: "no low surrogate in string").
  if (opts.escapes && hasLoneSurrogate(parameters)) return fail('invalid_field', 'parameters contain a lone UTF-16 surrogate (half of a character)');
  let properties: Record<string, unknown> | null = null;
  for (const k in obj) {
    if (KNOWN_FIELDS.has(k)) continue;
    const v = obj[k];
    if (v === null || v === undefined) continue; // as with the known fields, null is absent
    if (typeof v === 'object' && depthExceeds(v, MAX_PARAM_DEPTH)) {
      return fail('invalid_field', `field ${JSON.stringify(k).slice(0, 80).toWellFormed()} nests deeper than ${MAX_PARAM_DEPTH} levels`);
    }
    if (opts.escapes && (!k.isWellFormed() || hasLoneSurrogate(v))) {
      return fail('invalid_field', `field ${JSON.stringify(k).slice(0, 80).toWellFormed()} contains a lone UTF-16 surrogate (half of a character)`);
    }
    // defineProperty: a field named "__proto__" stays a field, never a prototype.
    Object.defineProperty((properties ??= {}), k, { value: v, enumerable: true, writable: true, configurable: true });
  }

  const tsMs = parseTimestamp(timestamp);
  if (Number.isNaN(tsMs)) {
    return fail('invalid_timestamp', `timestamp ${JSON.stringify(timestamp)?.slice(0, 60)} is not ISO-8601 with a zone or epoch milliseconds from 2000 on`);
  }
  if (tsMs > opts.nowMs + opts.futureToleranceMs) {
    return fail('future_timestamp', `timestamp ${new Date(tsMs).toISOString()} is more than ${opts.futureToleranceMs / 1000}s ahead of the clock`);
  }
  const p = parameters as Record<string, unknown>;
  const lv = own(p, 'level_id');
  const paying = own(obj, 'is_paying_user');
  const days = own(obj, 'days_since_install');
  return {
    id,
    userId,
    sessionId: opt.session_id,
    type,
    name: opt.name,
    tsMs,
    parameters: p,
    levelId: levelIdOf(lv),
    platform: opt.platform,
    appVersion: opt.app_version,
    ipAddress: opt.ip_address,
    deviceModel: opt.device_model,
    clientPaying: typeof paying === 'boolean' ? paying : null,
    // The column is a 32-bit INTEGER in DuckDB: a larger value would fail the whole commit, for every restart.
    clientDaysSinceInstall: typeof days === 'number' && Number.isInteger(days) && days >= INT32_MIN && days <= INT32_MAX ? days : null,
    properties,
  };
}

export function isRejection(v: ValidEvent | Rejection): v is Rejection {
  return (v as Rejection).stage !== undefined;
}
