import { describe, expect, it } from 'vitest';
import { MIN_EVENT_MS, parseTimestamp } from '../../src/partition/timestamp.ts';

describe('parseTimestamp', () => {
  it('reads ISO-8601 with Z or an offset, normalised to UTC', () => {
    expect(parseTimestamp('2026-11-20T10:00:00Z')).toBe(Date.UTC(2026, 10, 20, 10));
    expect(parseTimestamp('2026-11-20T10:00:00.123Z')).toBe(Date.UTC(2026, 10, 20, 10, 0, 0, 123));
    expect(parseTimestamp('2026-11-20T12:00:00+02:00')).toBe(Date.UTC(2026, 10, 20, 10));
    expect(parseTimestamp('2026-11-20T05:00:00-0500')).toBe(Date.UTC(2026, 10, 20, 10));
    expect(parseTimestamp('2026-11-20 10:00:00.5Z')).toBe(Date.UTC(2026, 10, 20, 10, 0, 0, 500));
    expect(parseTimestamp('2026-11-20T10:00:00.123456789Z')).toBe(Date.UTC(2026, 10, 20, 10, 0, 0, 123));
    expect(parseTimestamp('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
  });

  it('the fast path and the general path agree', () => {
    for (let i = 0; i < 5000; i++) {
      const ms = MIN_EVENT_MS + Math.floor(Math.random() * 4e12);
      const iso = new Date(ms).toISOString();
      expect(parseTimestamp(iso)).toBe(ms);
      expect(parseTimestamp(iso.replace('Z', '+00:00'))).toBe(ms);
    }
  });

  it('reads integer epoch milliseconds', () => {
    expect(parseTimestamp(1_763_632_800_000)).toBe(1_763_632_800_000);
  });

  it('rejects the impossible and the ambiguous', () => {
    for (const v of [
      '2026-02-30T10:00:00Z', '2026-13-01T00:00:00Z', '2026-11-20T24:00:00Z', '2026-11-20T10:60:00Z',
      '2026-11-20T10:00:00', 'yesterday', '', '2026-11-20', '1999-12-31T23:59:59Z', '2025-02-29T00:00:00Z',
      '2026-11-20T10:00:00+25:00', 1.5e12 + 0.5, -1, 1e300, NaN, true, null, {}, '1763632800000',
      '２０２６-11-20T10:00:00Z',
    ]) {
      expect(parseTimestamp(v), String(v)).toBeNaN();
    }
  });
});
