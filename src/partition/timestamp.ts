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

/** Epoch milliseconds, or NaN when the value is not a valid timestamp. */
export function parseTimestamp(value: unknown): number {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= MIN_EVENT_MS ? value : NaN;
  }
  if (typeof value !== 'string' || value.length > 40) return NaN;
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
