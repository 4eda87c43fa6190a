/** Value parsers for env vars. Each throws a message that says what is allowed; schema.ts adds name and value. */

export class ValueError extends Error {}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "250ms", "10s", "5m", "1h", "2d"; a number without a unit is refused ("60": seconds or milliseconds?), but 0. */
export function duration(min: number, max: number) {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
    if (!m) throw new ValueError(`a duration such as 500ms, 10s, 5m or 1h`);
    if (m[2] === undefined && Number(m[1]) !== 0) {
      throw new ValueError(`a duration with its unit: ${m[1]}s or ${m[1]}ms? (ms, s, m, h or d; from ${fmtMs(min)} to ${fmtMs(max)})`);
    }
    const ms = Math.round(Number(m[1]) * UNITS_MS[m[2] ?? 'ms']);
    if (ms < min || ms > max) throw new ValueError(`a duration from ${fmtMs(min)} to ${fmtMs(max)}`);
    return ms;
  };
}

export function fmtMs(ms: number): string {
  for (const [u, f] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= f && ms % f === 0) return `${ms / f}${u}`;
  }
  return `${ms}ms`;
}

export function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new ValueError(`a whole number from ${min} to ${max}`);
    const n = Number(raw.trim());
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new ValueError(`a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A number setting where 0 turns the thing off: 0 becomes null. */
export function zeroIsOff(parse: (raw: string) => number) {
  return (raw: string): number | null => {
    const n = parse(raw);
    return n === 0 ? null : n;
  };
}

const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1e6, gb: 1e9 };

/** "1MiB", "512KiB", "64MB", or a bare byte count. */
export function byteSize(min: number, max: number) {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i.exec(raw.trim());
    const unit = SIZE_UNITS[(m?.[2] ?? 'b').toLowerCase()];
    if (!m || unit === undefined) throw new ValueError(`a size such as 1048576, 512KiB or 1MiB`);
    const n = Math.round(Number(m[1]) * unit);
    if (n < min || n > max) throw new ValueError(`a size from ${min} to ${max} bytes`);
    return n;
  };
}

/**
 * A size as a setting that byteSize reads back, for messages that tell what to set: whole GiB when it is a whole
 * number of them, else MiB rounded up (a size a message asks for must not come out short).
 */
export function sizeSetting(bytes: number): string {
  const gib = 1024 ** 3;
  return bytes >= gib && bytes % gib === 0 ? `${bytes / gib}GiB` : `${Math.ceil(bytes / 1024 ** 2)}MiB`;
}

export function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T => {
    const v = raw.trim().toLowerCase() as T;
    if (!values.includes(v)) throw new ValueError(`one of ${values.join(', ')}`);
    return v;
  };
}

export function boolFlag(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  throw new ValueError('on or off (also true/false, 1/0, yes/no)');
}

export function nonEmpty(raw: string): string {
  if (raw.trim() === '') throw new ValueError('a non-empty value');
  return raw.trim();
}

/** An http(s) URL, or empty for none. */
export function httpUrlOrEmpty(raw: string): string | null {
  const s = raw.trim();
  if (s === '') return null;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ValueError('an http:// or https:// URL, or empty for none');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ValueError('an http:// or https:// URL, or empty for none');
  return s;
}

/** A fraction from `min` (inclusive unless `exclusiveMin`) to 1. */
export function fraction(opts: { exclusiveMin?: boolean } = {}) {
  return (raw: string): number => {
    const n = Number(raw.trim());
    const low = opts.exclusiveMin ? n <= 0 : n < 0;
    if (raw.trim() === '' || !Number.isFinite(n) || low || n > 1) {
      throw new ValueError(opts.exclusiveMin ? 'a fraction above 0 and at most 1 (0.01 is 1%)' : 'a fraction from 0 to 1');
    }
    return n;
  };
}

/** Kafka bootstrap servers, `host:port[,host:port…]` (an IPv6 host in brackets); empty gives none. */
export function brokerList(raw: string): string[] {
  if (raw.trim() === '') return [];
  const list = raw.split(',').map((b) => b.trim());
  for (const b of list) if (!/^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/.test(b)) throw new ValueError(`host:port[,host:port…] (${JSON.stringify(b)} is not host:port)`);
  return list;
}

/** Kafka's own rule for topic names. */
export function kafkaTopic(raw: string): string {
  const t = raw.trim();
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(t) || t === '.' || t === '..') {
    throw new ValueError('a Kafka topic name: 1–249 characters from a–z, A–Z, 0–9, ".", "_", "-"');
  }
  return t;
}
