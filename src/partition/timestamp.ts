/**
 * Event timestamps: ISO-8601 with `Z` or an offset, or epoch milliseconds. Strict on purpose: a zone-less
 * timestamp would be read in the server's zone, and Date.parse accepts impossible dates such as Feb 30.
 */

export const MIN_EVENT_MS = Date.UTC(2000, 0, 1);

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})$/;

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = s.charCodeAt(i + k) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** The common client format `YYYY-MM-DDTHH:MM:SS.sssZ` without a regex; NaN sends it to the general path. */
function fastUtcMillis(s: string): number {
  if (s.length !== 24 || s.charCodeAt(23) !== 90 /* Z */ || s.charCodeAt(10) !== 84 /* T */) return NaN;
  if (s[4] !== '-' || s[7] !== '-' || s[13] !== ':' || s[16] !== ':' || s[19] !== '.') return NaN;
  const y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  const h = digits(s, 11, 2), mi = digits(s, 14, 2), sec = digits(s, 17, 2), ms = digits(s, 20, 3);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0) {
    return NaN;
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  return t >= MIN_EVENT_MS ? t : NaN;
}

/** Epoch milliseconds, or NaN when the value is not a valid timestamp. */
export function parseTimestamp(value: unknown): number {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= MIN_EVENT_MS ? value : NaN;
  }
  if (typeof value !== 'string' || value.length > 40) return NaN;
  const fast = fastUtcMillis(value);
  if (fast === fast) return fast;
  const m = ISO.exec(value);
  if (!m) return NaN;
  const y = +m[1], mo = +m[2], d = +m[3], h = +m[4], mi = +m[5], s = +m[6];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return NaN;
  const ms = m[7] ? Math.floor(Number(m[7].padEnd(3, '0').slice(0, 3))) : 0;
  let offsetMin = 0;
  const z = m[8];
  if (z !== 'Z' && z !== 'z') {
    const oh = +z.slice(1, 3);
    const om = +z.slice(z.length - 2);
    if (oh > 23 || om > 59) return NaN;
    offsetMin = (z[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMin * 60_000;
  return t >= MIN_EVENT_MS ? t : NaN;
}
