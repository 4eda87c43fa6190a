/**
 * Calendar fields derived from an event's epoch-millisecond timestamp, all in UTC.
 *
 * This runs once per event (~300k/s), so it avoids Date objects and string formatting on the common path: events
 * of a stream cluster in a few hours, and the whole result is cached per UTC hour number. Results are frozen and
 * shared between calls.
 */
import { GamestreamError } from '../errors.ts';

export interface TimeFields {
  /** YYYY-MM-DD (UTC). */
  readonly eventDate: string;
  /** 0-23 (UTC). */
  readonly eventHour: number;
  /** 0 = Monday … 6 = Sunday, like Python's `date.weekday()`. */
  readonly dayOfWeek: number;
}

const MS_PER_HOUR = 3_600_000;
const HOURS_PER_DAY = 24;
// Enough for ~170 days of distinct hours: a replay of months of history still mostly hits.
const CACHE_LIMIT = 4096;

// Largest |ms| a Date can hold; beyond it there is no calendar date to give.
const MAX_MS = 8.64e15;

let lastHour = Number.NaN;
let lastFields: TimeFields | null = null;
const byHour = new Map<number, TimeFields>();

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

/**
 * Days since 1970-01-01 → proleptic Gregorian date, integer math only (Howard Hinnant's civil_from_days, valid
 * for negative day numbers too).
 */
export function civilFromDays(day: number): { year: number; month: number; dayOfMonth: number } {
  const z = day + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097; // [0, 146096]
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100)); // [0, 365], year starts 1 March
  const mp = Math.floor((5 * doy + 2) / 153); // [0, 11], 0 = March
  const dayOfMonth = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, dayOfMonth };
}

function formatDate(day: number): string {
  const { year, month, dayOfMonth } = civilFromDays(day);
  const y = year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : (year < 0 ? '-' : '+') + String(Math.abs(year)).padStart(6, '0');
  return `${y}-${pad2(month)}-${pad2(dayOfMonth)}`;
}

function compute(hourNumber: number): TimeFields {
  const day = Math.floor(hourNumber / HOURS_PER_DAY);
  const eventHour = hourNumber - day * HOURS_PER_DAY;
  // 1970-01-01 (day 0) was a Thursday = 3 in Monday-based numbering; the double modulo keeps it non-negative.
  const dayOfWeek = (((day + 3) % 7) + 7) % 7;
  // Neighbouring hours of the same day share one date string.
  const sibling = lastFields !== null && Math.floor(lastHour / HOURS_PER_DAY) === day ? lastFields.eventDate : null;
  return Object.freeze({ eventDate: sibling ?? formatDate(day), eventHour, dayOfWeek });
}

export function deriveTimeFields(tsMs: number): TimeFields {
  const hourNumber = Math.floor(tsMs / MS_PER_HOUR);
  if (hourNumber === lastHour) return lastFields!;
  // NaN, ±Infinity and out-of-range values all fail this test.
  if (!(tsMs >= -MAX_MS && tsMs <= MAX_MS)) {
    throw new GamestreamError('internal', `deriveTimeFields: timestamp ${tsMs} is not a valid epoch-millisecond value`);
  }
  let fields = byHour.get(hourNumber);
  if (fields === undefined) {
    fields = compute(hourNumber);
    // Dropping everything when full keeps this trivially bounded; refilling costs a few µs per distinct hour.
    if (byHour.size >= CACHE_LIMIT) byHour.clear();
    byHour.set(hourNumber, fields);
  }
  lastHour = hourNumber;
  lastFields = fields;
  return fields;
}
