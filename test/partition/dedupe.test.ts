import { describe, expect, it } from 'vitest';
import { DedupeStore, type DedupeOptions } from '../../src/partition/dedupe.ts';
import { mulberry32 as prng } from '../../src/sources/generator.ts';

/**
 * The rule of docs/SEMANTICS.md written as plainly as possible: every accepted (id, ts) is kept forever, and
 * an event is a duplicate iff one of them has the same id and ts >= maxTs - horizon. The per-id index only
 * makes the 200k-operation runs fast; it changes no answer.
 */
class Reference {
  entries: { id: string; ts: number }[] = [];
  #byId = new Map<string, number[]>();
  readonly horizonMs: number;

  constructor(horizonMs: number) {
    this.horizonMs = horizonMs;
  }

  seen(id: string, ts: number, maxTs: number): boolean {
    const cutoff = maxTs - this.horizonMs;
    for (const i of this.#byId.get(id) ?? []) if (this.entries[i].ts >= cutoff) return true;
    this.add(id, ts);
    return false;
  }

  add(id: string, ts: number): void {
    let list = this.#byId.get(id);
    if (list === undefined) this.#byId.set(id, (list = []));
    list.push(this.entries.length);
    this.entries.push({ id, ts });
  }

  clear(): void {
    this.entries = [];
    this.#byId = new Map();
  }

  /** Distinct ids with an entry at or after `ts`. */
  idsSince(ts: number): number {
    let n = 0;
    for (const list of this.#byId.values()) if (list.some((i) => this.entries[i].ts >= ts)) n++;
    return n;
  }
}


function uuid(rnd: () => number): string {
  let s = '';
  for (let i = 0; i < 32; i++) {
    if (i === 8 || i === 12 || i === 16 || i === 20) s += '-';
    s += '0123456789abcdef'[Math.floor(rnd() * 16)];
  }
  return s;
}

/** `u` with the char at `pos` replaced by another one (a different hex digit by default). */
function changeAt(u: string, pos: number, ch?: string): string {
  const next = ch ?? '0123456789abcdef'[('0123456789abcdef'.indexOf(u[pos].toLowerCase()) + 1) % 16];
  return u.slice(0, pos) + next + u.slice(pos + 1);
}

/** Ids of every shape the detector distinguishes, with near-misses that must never be confused. */
function idPool(rnd: () => number, n: number): string[] {
  const pool: string[] = [
    '00000000-0000-0000-0000-000000000000', // all-zero bits: must not match an empty slot
    '00000000-0000-0000-0000-000000000001',
    '12345678-1234-1234-1234-123456789012', // digits only: the same string in either case
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
    'FfFfFfFf-FfFf-FfFf-FfFf-FfFfFfFfFfFf',
    '------------------------------------', // 36 dashes: parsing it as hex would alias the zero UUID
    '00000000-0000-0000-0000-00000000000-',
    '0000000000000-0000-0000-000000000000',
    '00000000-0000-0000-0000-00000000000g',
    '00000000-0000-0000-0000-0000000000\u00e0',
    '00000000-0000-0000-0000-0000000000\u0130', // İ: uppercases oddly, not hex
    '00000000000000000000000000000000', // 32 hex without dashes
    '',
    ' ',
    'a',
    'A',
    'évènement',
    '事件-1',
    '🎮🎮',
    '\u0000',
  ];
  while (pool.length < n) {
    const u = uuid(rnd);
    const r = rnd();
    if (r < 0.45) pool.push(u);
    else if (r < 0.6) pool.push(u, u.toUpperCase()); // same bits, different ids
    else if (r < 0.7) pool.push(u.toUpperCase());
    else if (r < 0.75) pool.push(u.replace(/[a-f]/, (ch) => ch.toUpperCase())); // mixed case
    else if (r < 0.77) pool.push(u, changeAt(u, Math.floor(rnd() * 36))); // near miss, often in one word only
    else if (r < 0.8) pool.push(u, changeAt(u, [8, 13, 18, 23][Math.floor(rnd() * 4)], rnd() < 0.5 ? 'a' : '0'));
    else if (r < 0.85) pool.push(`${u}x`);
    else if (r < 0.9) pool.push(`evt-${Math.floor(rnd() * 1e6)}`);
    else if (r < 0.95) pool.push(String.fromCodePoint(0x4e00 + Math.floor(rnd() * 2000), 0x1f600 + Math.floor(rnd() * 50)));
    else pool.push(u.replace(/-/g, ''));
  }
  return pool;
}

interface Scenario {
  readonly name: string;
  readonly horizonMs: number;
  readonly options?: DedupeOptions;
  readonly ops: number;
  readonly poolSize: number;
  /** Mean forward step of the stream's clock per event, ms. */
  readonly stepMs: number;
  /** Largest lateness of an event behind the clock, ms. */
  readonly maxLateMs: number;
  /** Chance per event of a forward jump of up to this many ms. */
  readonly jumpMs: number;
}

const DAY = 86_400_000;
const scenarios: Scenario[] = [
  { name: '5 min horizon, dense', horizonMs: 300_000, ops: 60_000, poolSize: 3_000, stepMs: 20, maxLateMs: 400_000, jumpMs: 600_000 },
  { name: '1 s horizon, 1 ms buckets', horizonMs: 1_000, options: { bucketMs: 1 }, ops: 40_000, poolSize: 500, stepMs: 2, maxLateMs: 3_000, jumpMs: 5_000 },
  { name: 'zero horizon', horizonMs: 0, ops: 30_000, poolSize: 200, stepMs: 0.3, maxLateMs: 5, jumpMs: 10 },
  { name: '1 ms horizon', horizonMs: 1, options: { bucketMs: 7 }, ops: 30_000, poolSize: 200, stepMs: 0.5, maxLateMs: 5, jumpMs: 10 },
  // Steps of hours across years: rebases (every ~12 days of event time) with live entries in the table.
  { name: '6-day horizon, rebases', horizonMs: 2 ** 29, ops: 30_000, poolSize: 2_000, stepMs: 3_600_000, maxLateMs: 8 * DAY, jumpMs: 400 * DAY },
  { name: 'many live ids, table growth', horizonMs: 600_000, ops: 60_000, poolSize: 60_000, stepMs: 5, maxLateMs: 100_000, jumpMs: 0 },
  // No displacement at all: every collision of two full lines grows the table or falls back to the Maps.
  { name: 'forced Map fallback', horizonMs: 60_000, options: { maxKicks: 0 }, ops: 40_000, poolSize: 30_000, stepMs: 2, maxLateMs: 70_000, jumpMs: 200_000 },
];

function runDifferential(sc: Scenario, seed: number): { ops: number; dups: number } {
  const rnd = prng(seed);
  const pool = idPool(rnd, sc.poolSize);
  const store = new DedupeStore(sc.horizonMs, { seed, ...sc.options });
  const ref = new Reference(sc.horizonMs);
  let clock = 1_700_000_000_000;
  let maxTs = Number.NEGATIVE_INFINITY;
  let dups = 0;
  // Restore first, as a restarted partition does: add() what the warehouse holds, then resume at its maxTs.
  for (let i = 0; i < 200; i++) {
    const id = pool[Math.floor(rnd() * pool.length)];
    const ts = clock - Math.floor(rnd() * sc.horizonMs * 1.5);
    store.add(id, ts);
    ref.add(id, ts);
    maxTs = Math.max(maxTs, ts);
  }
  for (let i = 0; i < sc.ops; i++) {
    clock += Math.floor(rnd() * 2 * sc.stepMs + (rnd() < 0.001 ? rnd() * sc.jumpMs : 0));
    const r = rnd();
    // Retries of recent ids are common; otherwise any id of the pool.
    const id = r < 0.3 && i > 0 ? pool[Math.floor(rnd() * Math.min(pool.length, 50))] : pool[Math.floor(rnd() * pool.length)];
    const late = rnd() < 0.7 ? Math.floor(rnd() * Math.min(sc.maxLateMs, sc.horizonMs + 2)) : Math.floor(rnd() * sc.maxLateMs);
    const ts = clock - late;
    if (rnd() < 0.01) {
      store.add(id, ts);
      ref.add(id, ts);
      maxTs = Math.max(maxTs, ts);
      continue;
    }
    maxTs = Math.max(maxTs, ts);
    const expected = ref.seen(id, ts, maxTs);
    const got = store.seen(id, ts, maxTs);
    if (got !== expected) {
      throw new Error(`${sc.name} seed ${seed} op ${i}: seen(${JSON.stringify(id)}, ${ts}, ${maxTs}) = ${got}, expected ${expected}`);
    }
    if (expected) dups++;
    if (rnd() < 0.002) store.evict(maxTs);
    if (rnd() < 0.00005) {
      store.clear();
      ref.clear();
      maxTs = Number.NEGATIVE_INFINITY;
    }
  }
  // After evict(), size counts every live id and at most the expired ones of the boundary bucket.
  store.evict(maxTs);
  const cutoff = maxTs - sc.horizonMs;
  expect(store.size).toBeGreaterThanOrEqual(ref.idsSince(cutoff));
  if (sc.options?.maxKicks === undefined) {
    // (With the forced fallback a UUID may sit in a Map and, re-accepted, in the table too.)
    expect(store.size).toBeLessThanOrEqual(ref.idsSince(Math.floor(cutoff / store.bucketMs) * store.bucketMs));
  }
  return { ops: sc.ops, dups };
}

describe('DedupeStore: differential test against the brute-force reference', () => {
  for (const sc of scenarios) {
    it(sc.name, () => {
      let total = 0;
      let dups = 0;
      for (const seed of [1, 2]) {
        const r = runDifferential(sc, seed);
        total += r.ops;
        dups += r.dups;
      }
      // Guards the test itself: a generator that produced no duplicates would prove nothing.
      expect(dups).toBeGreaterThan(total * 0.02);
      expect(dups).toBeLessThan(total);
    });
  }

  it('runs more than 200k seen() operations in total', () => {
    const total = scenarios.reduce((n, sc) => n + 2 * sc.ops, 0);
    expect(total).toBeGreaterThan(200_000);
  });
});

const T0 = 1_750_000_000_000;
const U = '3f2b8c1e-7d4a-4e9b-a1c2-0d5e6f708192';

describe('DedupeStore: boundaries', () => {
  for (const [kind, id] of [
    ['UUID', U],
    ['uppercase UUID', U.toUpperCase()],
    ['non-UUID', 'evt-42'],
  ] as const) {
    it(`${kind}: ts exactly at maxTs - horizon is still a duplicate, one ms before is accepted again`, () => {
      const store = new DedupeStore(60_000);
      expect(store.seen(id, T0, T0)).toBe(false);
      expect(store.seen(id, T0 + 10, T0 + 10)).toBe(true); // a retry inside the horizon
      expect(store.seen(id, T0 + 60_000, T0 + 60_000)).toBe(true); // original ts == maxTs - horizon
      expect(store.seen(id, T0 + 60_001, T0 + 60_001)).toBe(false); // original ts == maxTs - horizon - 1
      expect(store.seen(id, T0 + 60_002, T0 + 60_002)).toBe(true); // the re-accepted copy counts now
    });

    it(`${kind}: an id re-added after expiry is remembered with its new timestamp`, () => {
      const store = new DedupeStore(1_000);
      expect(store.seen(id, T0, T0)).toBe(false);
      store.evict(T0 + 5_000); // frees the first copy
      expect(store.seen(id, T0 + 5_000, T0 + 5_000)).toBe(false);
      expect(store.seen(id, T0 + 5_500, T0 + 5_500)).toBe(true);
      expect(store.seen(id, T0 + 6_000, T0 + 6_000)).toBe(true);
      expect(store.seen(id, T0 + 6_001, T0 + 6_001)).toBe(false);
    });
  }

  it('the duplicate test uses the stored event time, not the arrival order', () => {
    const store = new DedupeStore(1_000);
    expect(store.seen('a', T0 + 5_000, T0 + 5_000)).toBe(false);
    expect(store.seen(U, T0 + 4_100, T0 + 5_000)).toBe(false); // late but inside the horizon
    expect(store.seen(U, T0 + 5_100, T0 + 5_100)).toBe(true); // its stored ts 4_100 == 5_100 - 1_000
    expect(store.seen(U, T0 + 5_101, T0 + 5_101)).toBe(false);
  });

  it('a late event already outside the horizon is accepted and cannot match later', () => {
    const store = new DedupeStore(1_000);
    expect(store.seen(U, T0 + 10_000, T0 + 10_000)).toBe(false);
    expect(store.seen('x', T0, T0 + 10_000)).toBe(false);
    expect(store.seen('x', T0, T0 + 10_000)).toBe(false); // the first copy was never inside the horizon
    expect(store.seen(U, T0 + 9_000, T0 + 10_000)).toBe(true); // (the stored copy at 10_000 is)
  });

  it('zero horizon: only a copy at exactly maxTs matches', () => {
    const store = new DedupeStore(0);
    expect(store.seen(U, T0, T0)).toBe(false);
    expect(store.seen(U, T0, T0)).toBe(true);
    expect(store.seen(U, T0 + 1, T0 + 1)).toBe(false);
  });

  it('add() then seen(): restored ids are duplicates inside the horizon only', () => {
    const store = new DedupeStore(60_000);
    store.add(U, T0);
    store.add('evt-1', T0 + 30_000);
    store.add(U, T0 - 5_000); // an older copy must not lower the newer one
    expect(store.size).toBe(2);
    expect(store.seen(U, T0 + 60_000, T0 + 60_000)).toBe(true);
    expect(store.seen('evt-1', T0 + 60_000, T0 + 60_000)).toBe(true);
    expect(store.seen(U, T0 + 60_001, T0 + 60_001)).toBe(false);
    expect(store.seen(U.toUpperCase(), T0 + 60_001, T0 + 60_001)).toBe(false);
  });

  it('clear() forgets everything', () => {
    const store = new DedupeStore(60_000);
    for (let i = 0; i < 1000; i++) store.seen(`${U.slice(0, 30)}${String(i).padStart(6, '0')}`, T0 + i, T0 + i);
    store.seen('evt-1', T0, T0 + 999);
    expect(store.size).toBe(1001);
    store.clear();
    expect(store.size).toBe(0);
    expect(store.seen(`${U.slice(0, 30)}000000`, T0, T0 + 999)).toBe(false);
    expect(store.seen('evt-1', T0, T0 + 999)).toBe(false);
    // Time may start over after clear(): a new partition assignment.
    store.clear();
    expect(store.seen(U, 1_000, 1_000)).toBe(false);
    expect(store.seen(U, 1_000, 1_000)).toBe(true);
  });

  it('ids are exact strings: case and format variants never match each other', () => {
    const store = new DedupeStore(60_000);
    const variants = [
      U,
      U.toUpperCase(),
      U.replace('f', 'F'), // mixed case
      U.replace(/-/g, ''),
      `{${U}}`,
      U.slice(0, 35),
      ...[8, 13, 18, 23].map((pos) => changeAt(U, pos, '0')), // a hex digit where a dash belongs
      ...[0, 9, 14, 19, 24, 28, 35].map((pos) => changeAt(U, pos)), // one digit off, in each 32-bit word
      '00000000-0000-0000-0000-000000000000',
      '------------------------------------',
      '12345678-1234-1234-1234-123456789012',
    ];
    for (const v of variants) expect(store.seen(v, T0, T0)).toBe(false);
    for (const v of variants) expect(store.seen(v, T0 + 1, T0 + 1)).toBe(true);
    expect(store.seen('12345678-1234-1234-1234-123456789012'.toUpperCase(), T0, T0 + 1)).toBe(true); // same string
    expect(store.size).toBe(variants.length);
  });

  it('size counts each held id exactly once through growth, displacement and the Map fallback', () => {
    for (const options of [{ seed: 3 }, { seed: 3, maxKicks: 0 }, { seed: 3, maxKicks: 1 }]) {
      const rnd = prng(11);
      const store = new DedupeStore(3_600_000, options);
      const ids = Array.from({ length: 20_000 }, (_, i) => (i % 3 === 0 ? uuid(rnd).toUpperCase() : uuid(rnd)));
      ids.forEach((id, i) => expect(store.seen(id, T0 + (i % 1000), T0 + 1000)).toBe(false));
      expect(store.size).toBe(ids.length);
      for (const id of ids) expect(store.seen(id, T0, T0 + 1000)).toBe(true);
      store.evict(T0 + 1000);
      expect(store.size).toBe(ids.length);
    }
  });

  it('rejects horizons it cannot represent', () => {
    expect(() => new DedupeStore(-1)).toThrow(RangeError);
    expect(() => new DedupeStore(1.5)).toThrow(RangeError);
    expect(() => new DedupeStore(2 ** 29 + 1)).toThrow(RangeError);
    expect(() => new DedupeStore(1000, { bucketMs: 0 })).toThrow(RangeError);
    expect(() => new DedupeStore(2 ** 29, { bucketMs: 1 })).toThrow(RangeError); // a 2^29-entry count ring
  });
});

describe('DedupeStore: memory stays bounded', () => {
  /** 2 hours of event time at `rate` ids/s with a 60 s horizon; returns the largest size and bytes seen. */
  function stream(rate: number, makeId: (i: number) => string, evictEvery: number): { maxSize: number; maxBytes: number; store: DedupeStore } {
    const store = new DedupeStore(60_000);
    let maxSize = 0;
    let maxBytes = 0;
    const n = 2 * 3600 * rate;
    for (let i = 0; i < n; i++) {
      const maxTs = T0 + Math.floor((i * 1000) / rate);
      store.seen(makeId(i), maxTs - (i % 7) * 100, maxTs);
      if (evictEvery > 0 && i % evictEvery === 0) store.evict(maxTs);
      if (i % 997 === 0) {
        maxSize = Math.max(maxSize, store.size);
        maxBytes = Math.max(maxBytes, store.approxBytes);
      }
    }
    return { maxSize, maxBytes, store };
  }
  const hex = (i: number): string => `${(i >>> 0).toString(16).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`;
  // Live ids: 60 s × rate. Slack: at most one 15 s bucket, plus ids still inside at sampling time.
  const bound = (rate: number): number => (60 + 15 + 1) * rate;

  it('UUIDs with periodic evict()', () => {
    const { maxSize, maxBytes, store } = stream(200, hex, 500);
    expect(maxSize).toBeGreaterThanOrEqual(60 * 200);
    expect(maxSize).toBeLessThanOrEqual(bound(200));
    expect(maxBytes / maxSize).toBeLessThan(60); // bytes per held id, growth slack included
    store.evict(T0 + 10 * 3600_000); // far ahead: everything expired, table shrinks
    expect(store.size).toBe(0);
    expect(store.approxBytes).toBeLessThan(4096);
  });

  it('UUIDs without evict(): expired slots are reused, so the table does not grow', () => {
    const { maxSize, maxBytes } = stream(200, hex, 0);
    expect(maxSize).toBeLessThanOrEqual(bound(200));
    expect(maxBytes).toBeLessThan(bound(200) * 60);
  });

  it('non-UUID ids, with and without evict()', () => {
    for (const evictEvery of [500, 0]) {
      const { maxSize } = stream(100, (i) => `evt-${i}`, evictEvery);
      // Without evict(), opening a bucket drops the expired ones: one more bucket of slack.
      expect(maxSize).toBeLessThanOrEqual(bound(100) + 15 * 100);
    }
  });
});
