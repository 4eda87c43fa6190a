// Timestamp spellings clients send, and an independent reading of the contract's timestamp rule
// (docs/SEMANTICS.md, validate rule 3).

export const YEAR_2000_MS = Date.UTC(2000, 0, 1);

export type TsStyle =
  | 'iso_ms_z' // 2026-11-20T23:41:05.123Z
  | 'iso_s_z' // 2026-11-20T23:41:05Z
  | 'iso_space' // 2026-11-20 23:41:05.123Z
  | 'iso_frac1' // 2026-11-20T23:41:05.1Z
  | 'iso_micro' // 2026-11-20T23:41:05.123456Z (truncated to ms)
  | 'iso_colon_offset' // 2026-11-21T01:41:05.123+02:00
  | 'iso_compact_offset' // 2026-11-20T18:41:05.123-0500
  | 'iso_half_hour_offset' // 2026-11-21T05:11:05.123+05:30
  | 'epoch_ms'; // 1795736465123 (JSON number)

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function wallClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/**
 * Renders an instant in a style. Returns the JSON value and the instant it denotes, which can differ from
 * `ms` for styles that lose precision (seconds-only, one fraction digit): the denoted instant is the truth.
 * `extra` supplies the three sub-millisecond digits of iso_micro.
 */
export function renderTimestamp(ms: number, style: TsStyle, extra = 0): { value: string | number; ms: number } {
  switch (style) {
    case 'iso_ms_z':
      return { value: `${wallClock(ms)}.${pad(ms % 1000, 3)}Z`, ms };
    case 'iso_s_z': {
      const s = ms - (ms % 1000);
      return { value: `${wallClock(s)}Z`, ms: s };
    }
    case 'iso_space':
      return { value: `${wallClock(ms).replace('T', ' ')}.${pad(ms % 1000, 3)}Z`, ms };
    case 'iso_frac1': {
      const t = ms - (ms % 100);
      return { value: `${wallClock(t)}.${Math.floor((t % 1000) / 100)}Z`, ms: t };
    }
    case 'iso_micro':
      return { value: `${wallClock(ms)}.${pad(ms % 1000, 3)}${pad(extra % 1000, 3)}Z`, ms };
    case 'iso_colon_offset':
      return { value: `${wallClock(ms + 2 * 3600_000)}.${pad(ms % 1000, 3)}+02:00`, ms };
    case 'iso_compact_offset':
      return { value: `${wallClock(ms - 5 * 3600_000)}.${pad(ms % 1000, 3)}-0500`, ms };
    case 'iso_half_hour_offset':
      return { value: `${wallClock(ms + 5.5 * 3600_000)}.${pad(ms % 1000, 3)}+05:30`, ms };
    case 'epoch_ms':
      return { value: ms, ms };
  }
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2}|[+-]\d{4})$/;

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

/**
 * The instant a timestamp value names, or null when it is not a timestamp by the contract's grammar.
 * The before-2000 rule is applied by the caller, so this only answers "is it a real instant".
 */
export function parseTimestamp(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value !== 'string') return null;
  const m = ISO.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  let offsetMin = 0;
  const zone = m[8];
  if (zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4));
    if (oh > 23 || om > 59) return null;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC maps years 0–99 to 1900s; such years are long before 2000 either way, so the result is only
  // used to reject them, which stays correct.
  return utc - offsetMin * 60_000;
}

/** UTC calendar fields of an instant, as the warehouse derives them. */
export function calendarOf(ms: number): { date: string; hour: number; dayOfWeek: number } {
  const d = new Date(ms);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  // JS counts Sunday as 0; the warehouse counts Monday as 0.
  return { date, hour: d.getUTCHours(), dayOfWeek: (d.getUTCDay() + 6) % 7 };
}
