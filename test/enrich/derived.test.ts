import { describe, expect, it } from 'vitest';
import { civilFromDays, deriveTimeFields } from '../../src/enrich/derived.ts';
import { mulberry32 } from '../../src/sources/generator.ts';

const DAY = 86_400_000;
const T2000 = Date.UTC(2000, 0, 1);
const T2100 = Date.UTC(2101, 0, 1);

function expected(ms: number): { eventDate: string; eventHour: number; dayOfWeek: number } {
  const d = new Date(ms);
  return {
    eventDate: d.toISOString().slice(0, 10),
    eventHour: d.getUTCHours(),
    // getUTCDay: 0 = Sunday; Python weekday(): 0 = Monday.
    dayOfWeek: (d.getUTCDay() + 6) % 7,
  };
}


describe('deriveTimeFields', () => {
  it('known dates', () => {
    expect(deriveTimeFields(Date.UTC(2024, 1, 29, 23, 59, 59, 999))).toEqual({
      eventDate: '2024-02-29',
      eventHour: 23,
      dayOfWeek: 3, // Thursday
    });
    expect(deriveTimeFields(Date.UTC(2000, 0, 1))).toEqual({ eventDate: '2000-01-01', eventHour: 0, dayOfWeek: 5 });
    expect(deriveTimeFields(0)).toEqual({ eventDate: '1970-01-01', eventHour: 0, dayOfWeek: 3 });
    expect(deriveTimeFields(Date.UTC(2025, 5, 16, 12))).toEqual({ eventDate: '2025-06-16', eventHour: 12, dayOfWeek: 0 });
    expect(deriveTimeFields(Date.UTC(2100, 2, 1, 7))).toEqual({ eventDate: '2100-03-01', eventHour: 7, dayOfWeek: 0 });
  });

  it('matches Date for 200k random timestamps in 2000–2100', () => {
    const rnd = mulberry32(42);
    for (let i = 0; i < 200_000; i++) {
      const ms = T2000 + Math.floor(rnd() * (T2100 - T2000));
      const got = deriveTimeFields(ms);
      const want = expected(ms);
      if (got.eventDate !== want.eventDate || got.eventHour !== want.eventHour || got.dayOfWeek !== want.dayOfWeek) {
        expect(got, `ts ${ms}`).toEqual(want);
      }
    }
  });

  it('every day boundary and hour boundary 2000–2100 (±1 ms)', () => {
    for (let day = T2000 / DAY; day <= T2100 / DAY; day++) {
      for (const ms of [day * DAY - 1, day * DAY, day * DAY + 1, day * DAY + 3_600_000 - 1, day * DAY + 3_600_000]) {
        const got = deriveTimeFields(ms);
        const want = expected(ms);
        if (got.eventDate !== want.eventDate || got.eventHour !== want.eventHour || got.dayOfWeek !== want.dayOfWeek) {
          expect(got, `ts ${ms}`).toEqual(want);
        }
      }
    }
  });

  it('interleaved timestamps (cache switching between hours) stay correct', () => {
    const a = Date.UTC(2023, 11, 31, 23, 30);
    const b = Date.UTC(2024, 0, 1, 0, 30);
    for (let i = 0; i < 10; i++) {
      expect(deriveTimeFields(a)).toEqual(expected(a));
      expect(deriveTimeFields(b)).toEqual(expected(b));
      expect(deriveTimeFields(a + 3_600_000)).toEqual(expected(a + 3_600_000));
    }
  });

  it('keeps working after the hour cache fills (more than 4096 distinct hours)', () => {
    const start = Date.UTC(2030, 0, 1);
    for (let h = 0; h < 10_000; h++) {
      const ms = start + h * 3_600_000 + 1234;
      const got = deriveTimeFields(ms);
      if (got.eventHour !== h % 24) expect(got, `ts ${ms}`).toEqual(expected(ms));
    }
    expect(deriveTimeFields(start)).toEqual(expected(start));
  });

  it('fractional milliseconds and pre-1970 instants', () => {
    expect(deriveTimeFields(Date.UTC(2024, 0, 1) - 0.5)).toEqual(expected(Date.UTC(2024, 0, 1) - 1));
    expect(deriveTimeFields(-1)).toEqual({ eventDate: '1969-12-31', eventHour: 23, dayOfWeek: 2 });
    expect(deriveTimeFields(Date.UTC(1900, 1, 28, 5))).toEqual(expected(Date.UTC(1900, 1, 28, 5)));
  });

  it('results are frozen (they are shared between calls)', () => {
    const f = deriveTimeFields(Date.UTC(2024, 4, 5, 6));
    expect(Object.isFrozen(f)).toBe(true);
  });

  it('rejects values that are not instants', () => {
    for (const v of [Number.NaN, Infinity, -Infinity, 9e15]) {
      expect(() => deriveTimeFields(v), String(v)).toThrow(/not a valid epoch-millisecond/);
    }
  });
});

describe('civilFromDays', () => {
  it('agrees with Date for every day from 1900 to 2200', () => {
    for (let day = Date.UTC(1900, 0, 1) / DAY; day < Date.UTC(2200, 0, 1) / DAY; day++) {
      const d = new Date(day * DAY);
      const c = civilFromDays(day);
      if (c.year !== d.getUTCFullYear() || c.month !== d.getUTCMonth() + 1 || c.dayOfMonth !== d.getUTCDate()) {
        expect(c, `day ${day}`).toEqual({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, dayOfMonth: d.getUTCDate() });
      }
    }
  });
});
