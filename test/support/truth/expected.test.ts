// computeExpected on tiny inputs with hand-worked answers: dedupe horizon edges, watermark and lateness
// edges, end of input, partitioning and offsets.
import { describe, expect, it } from 'vitest';
import { computeExpected } from './expected.ts';
import type { ComputeOptions } from './expected.ts';
import { createPartitioner } from './partition.ts';
import { label } from './records.ts';
import type { TruthRecord } from './records.ts';
import type { ErrorCode } from './validate.ts';

// ---- hand-built records ----
const T0 = Date.UTC(2026, 10, 20, 10, 0, 0); // aligned to a minute: window arithmetic stays readable
const SEC = 1000;
const MIN = 60_000;

let counter = 0;

/** A deterministic UUID-shaped id for hand-built events. */
function hid(n = ++counter): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

const USER = '11111111-2222-4333-8444-555555555555';

/** A valid event at `ts` (epoch ms) with the given id; extra fields override. */
function ev(ts: number, id = hid(), extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, user_id: USER, session_id: 'sess-1', timestamp: new Date(ts).toISOString(), type: 1001, name: 'level_start',
    parameters: { level_id: 7 }, app_version: '3.12.0', platform: 'ios', device_model: 'Pixel 8', ip_address: '8.8.8.8',
    ...extra,
  };
}

/** Wraps a value (serialized with JSON.stringify) or raw bytes/text as a record with the expected verdict. */
function rec(value: unknown, expect: 'valid' | ErrorCode = 'valid'): TruthRecord {
  const line = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  return { line, label: label({ kind: 'hand', expect }) };
}

const ONE: ComputeOptions = { partitions: 1 };

describe('dedupe (per partition, horizon 5 min, inclusive)', () => {
  it('drops a retry while the original is inside the horizon', () => {
    const x = hid();
    const e = computeExpected([rec(ev(T0, x)), rec(ev(T0 + 4 * MIN + 59 * SEC)), rec(ev(T0, x))], ONE);
    expect(e.duplicates).toBe(1);
    expect(e.events.map((r) => r.source_offset)).toEqual([0, 1]);
  });

  it('drops a retry exactly at the horizon edge (ts >= maxTs - horizon)', () => {
    const x = hid();
    const e = computeExpected([rec(ev(T0, x)), rec(ev(T0 + 5 * MIN)), rec(ev(T0, x))], ONE);
    expect(e.duplicates).toBe(1);
    expect(e.events).toHaveLength(2);
  });

  it('stores a retry again once the original has left the horizon', () => {
    const x = hid();
    const e = computeExpected([rec(ev(T0, x)), rec(ev(T0 + 5 * MIN + 1)), rec(ev(T0, x))], ONE);
    expect(e.duplicates).toBe(0);
    expect(e.reaccepted).toBe(1);
    expect(e.events.filter((r) => r.event_id === x).map((r) => r.source_offset)).toEqual([0, 2]);
    // The second copy's window [T0, T0+1m) closed long ago: stored, but late.
    expect(e.events[2].late).toBe(true);
  });

  it('counts the horizon from when the original was accepted, not from its own timestamp (a late event\'s retry is dropped)', () => {
    const x = hid();
    // x is 10 minutes late when it arrives; its retry comes right after, with the same timestamp.
    const e = computeExpected([rec(ev(T0 + 10 * MIN)), rec(ev(T0, x)), rec(ev(T0, x))], ONE);
    expect(e.duplicates).toBe(1);
    expect(e.events.map((r) => r.source_offset)).toEqual([0, 1]);
    // Five minutes of event time after it was accepted (and a millisecond), the retry is stored again.
    const f = computeExpected([rec(ev(T0 + 10 * MIN)), rec(ev(T0, x)), rec(ev(T0 + 15 * MIN + 1)), rec(ev(T0, x))], ONE);
    expect(f.duplicates).toBe(0);
    expect(f.reaccepted).toBe(1);
  });

  it('keys dedupe on partition: the same id in another partition is not a duplicate', () => {
    const x = hid();
    const p = createPartitioner(64);
    const other = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].find((u) => p.ofKey(u) !== p.ofKey(USER))!;
    const e = computeExpected([rec(ev(T0, x)), rec(ev(T0, x, { user_id: other }))], { partitions: 64 });
    expect(e.duplicates).toBe(0);
    expect(e.events).toHaveLength(2);
  });

  it('does not let an invalid record move maxTs (a far-future event is rejected, not a clock jump)', () => {
    const x = hid();
    const e = computeExpected([
      rec(ev(T0, x)), rec(ev(Date.UTC(2099, 0, 1)), 'future_timestamp'), rec(ev(T0 + SEC)), rec(ev(T0, x)),
    ], ONE);
    expect(e.duplicates).toBe(1);
    expect(e.late).toBe(0);
  });
});

describe('windows (per partition, watermark = maxTs - 10 s, lateness 60 s)', () => {
  it('counts an out-of-order event whose window is still open', () => {
    // wm = T0+1m40s-10s = T0+1m30s < end(T0+1m) + 60s
    const e = computeExpected([rec(ev(T0)), rec(ev(T0 + 100 * SEC)), rec(ev(T0 + 20 * SEC))], ONE);
    expect(e.late).toBe(0);
    expect(e.outOfOrderOnTime).toBe(1);
    expect(e.agg.find((r) => r.window_start === T0)?.event_count).toBe(2);
  });

  it('closes a window exactly when watermark >= end + lateness; a later event for it is late', () => {
    // wm = T0+2m10s-10s = T0+2m = end(T0+1m) + 60s → closed
    const e = computeExpected([rec(ev(T0)), rec(ev(T0 + 130 * SEC)), rec(ev(T0 + 30 * SEC))], ONE);
    expect(e.late).toBe(1);
    expect(e.events).toHaveLength(3);
    expect(e.events[2].late).toBe(true);
    expect(e.agg.find((r) => r.window_start === T0)?.event_count).toBe(1);
  });

  it('keeps the window open one millisecond before the edge', () => {
    const e = computeExpected([rec(ev(T0)), rec(ev(T0 + 130 * SEC - 1)), rec(ev(T0 + 30 * SEC))], ONE);
    expect(e.late).toBe(0);
    expect(e.agg.find((r) => r.window_start === T0)?.event_count).toBe(2);
  });

  it('closes every open window at end of input (no idle partition needed)', () => {
    const e = computeExpected([rec(ev(T0 + 5 * SEC)), rec(ev(T0 + 61 * SEC)), rec(ev(T0 + 62 * SEC))], ONE);
    expect(e.agg.map((r) => [r.window_start - T0, r.event_count]).sort()).toEqual([[0, 1], [60_000, 2]]);
    expect(e.late).toBe(0);
  });

  it('keys windows by event_type and integer level_id only', () => {
    const e = computeExpected([
      rec(ev(T0, hid(), { parameters: { level_id: 3 } })),
      rec(ev(T0 + 1, hid(), { parameters: { level_id: '3' } })),
      rec(ev(T0 + 2, hid(), { parameters: { level_id: 3.5 } })),
      rec(ev(T0 + 3, hid(), { parameters: null })),
      rec(ev(T0 + 4, hid(), { type: 1002, parameters: { level_id: 0 } })),
    ], ONE);
    const rows = e.aggTotals.map((r) => [r.event_type, r.level_id, r.event_count]);
    expect(rows).toEqual(expect.arrayContaining([[1001, 3, 1], [1001, null, 3], [1002, 0, 1]]));
    expect(rows).toHaveLength(3);
    expect(e.events[3].parameters).toEqual({});
  });

  it('keeps windows per partition and sums them in aggTotals', () => {
    const p = createPartitioner(64);
    const other = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].find((u) => p.ofKey(u) !== p.ofKey(USER))!;
    const e = computeExpected([rec(ev(T0)), rec(ev(T0 + SEC, hid(), { user_id: other }))], { partitions: 64 });
    expect(e.agg).toHaveLength(2);
    expect(e.aggTotals).toEqual([{ window_start: T0, event_type: 1001, level_id: 7, event_count: 2 }]);
  });
});

describe('partitions, offsets and verdicts', () => {
  it('places keyless records by record index and numbers offsets per partition', () => {
    const e = computeExpected([
      rec('not json', 'parse_error'), rec(ev(T0)), rec({ ...ev(T0), user_id: '' }, 'missing_fields'), rec(ev(T0 + 1)),
    ], { partitions: 4 });
    const pUser = createPartitioner(4).ofKey(USER);
    expect(e.dlqRows.map((d) => [d.code, d.source_partition])).toEqual([['parse_error', 0], ['missing_fields', 2]]);
    expect(e.events.map((r) => r.source_partition)).toEqual([pUser, pUser]);
    const expectedOffsets = pUser === 0 ? [1, 2] : pUser === 2 ? [0, 2] : [0, 1];
    expect(e.events.map((r) => r.source_offset)).toEqual(expectedOffsets);
  });

  it('matches the Java client: (murmur2(key) & 0x7fffffff) % n with Kafka\'s published hashes', () => {
    // Hashes of Utils.murmur2 from the Kafka Java client, as quoted by Akka's Murmur2Spec.
    const javaHashes: Record<string, number> = {
      '1': -1993445489, '12': 126087238, '123': -267702483, '1234': -1614185708, '12345': -1188365604,
    };
    for (const n of [1, 7, 64, 100]) {
      const p = createPartitioner(n);
      for (const [key, h] of Object.entries(javaHashes)) expect(p.ofKey(key)).toBe((h & 0x7fffffff) % n);
    }
  });

  it('applies the validate rules in order', () => {
    const e = computeExpected([
      rec({ ...ev(T0), id: undefined, type: '1001' }, 'missing_fields'),
      rec({ ...ev(T0), type: '1001', timestamp: 'yesterday' }, 'invalid_field'),
      rec({ ...ev(T0), timestamp: '2026-02-30T10:00:00Z', parameters: { level_id: 1 } }, 'invalid_timestamp'),
      rec({ ...ev(T0), timestamp: '1999-12-31T23:59:59.999Z' }, 'invalid_timestamp'),
      rec({ ...ev(T0), timestamp: '2000-01-01T00:00:00Z' }),
      rec({ ...ev(T0), timestamp: '2099-01-01T00:00:00+05:00' }, 'future_timestamp'),
      rec(Buffer.concat([Buffer.from('{"id":"x","user_id":"u","name":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]), 'parse_error'),
    ], { partitions: 1 });
    expect(e.dlqRows.map((d) => [d.code, d.stage, d.encoding])).toEqual([
      ['missing_fields', 'validate', 'utf8'], ['invalid_field', 'validate', 'utf8'], ['invalid_timestamp', 'validate', 'utf8'],
      ['invalid_timestamp', 'validate', 'utf8'], ['future_timestamp', 'validate', 'utf8'], ['parse_error', 'decode', 'base64'],
    ]);
    expect(e.events).toHaveLength(1);
  });

  it('derives UTC calendar fields, Monday = 0', () => {
    const e = computeExpected([rec(ev(T0, hid(), { timestamp: '2026-11-22T01:30:00+02:00' }))], ONE);
    // 2026-11-21T23:30Z is a Saturday.
    expect(e.events[0]).toMatchObject({ event_date: '2026-11-21', event_hour: 23, day_of_week: 5 });
  });

  it('refuses a generator label the contract disagrees with', () => {
    expect(() => computeExpected([rec({ ...ev(T0), type: 1001.5 })], ONE)).toThrow(/contract says invalid_field/);
  });
});
