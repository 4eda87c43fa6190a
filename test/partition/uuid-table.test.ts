import { describe, expect, it } from 'vitest';
import { UuidTable } from '../../src/partition/uuid-table.ts';
import { mulberry32 as prng } from '../../src/sources/generator.ts';

// The table's behaviour inside DedupeStore is covered by test/partition/dedupe.test.ts (differential test);
// these cases check the table's own mechanics directly.

const T0 = 1_750_000_000_000;
const U = '3f2b8c1e-7d4a-4e9b-a1c2-0d5e6f708192';

function uuid(rnd: () => number): string {
  let s = '';
  for (let i = 0; i < 32; i++) {
    if (i === 8 || i === 12 || i === 16 || i === 20) s += '-';
    s += '0123456789abcdef'[Math.floor(rnd() * 16)];
  }
  return s;
}

/** `u` with the hex digit at `pos` replaced by the next one. */
function changeAt(u: string, pos: number): string {
  const next = '0123456789abcdef'[('0123456789abcdef'.indexOf(u[pos].toLowerCase()) + 1) % 16];
  return u.slice(0, pos) + next + u.slice(pos + 1);
}

function noSpill(): never {
  throw new Error('unexpected spill');
}

/** True when the table holds `id` inside the horizon; leaves it as the current key for insert(). */
function has(t: UuidTable, id: string): boolean {
  expect(t.parse(id)).toBe(true);
  const q = t.find();
  return q >= 0 && t.isLive(q);
}

describe('UuidTable', () => {
  it('parses only all-lowercase or all-uppercase 8-4-4-4-12 hex', () => {
    const t = new UuidTable(60_000, 15_000, {}, noSpill);
    for (const id of [U, U.toUpperCase(), '12345678-1234-1234-1234-123456789012', '00000000-0000-0000-0000-000000000000']) {
      expect(t.parse(id)).toBe(true);
    }
    for (const id of [
      U.replace('f', 'F'), // mixed case
      U.replace(/-/g, ''),
      `{${U}}`,
      U.slice(0, 35),
      '------------------------------------',
      '00000000-0000-0000-0000-00000000000g',
      '00000000-0000-0000-0000-0000000000\u0130',
      '0000000000000-0000-0000-000000000000',
    ]) {
      expect(t.parse(id)).toBe(false);
    }
  });

  it('near misses never match: ids one hex digit apart, in each 32-bit word', () => {
    // Thousands of pairs, so that some pairs share a table line and the full comparison is what decides.
    const rnd = prng(7);
    const t = new UuidTable(60_000, 15_000, { seed: 7 }, noSpill);
    t.advance(T0);
    const ids = Array.from({ length: 5000 }, () => uuid(rnd));
    for (const id of ids) {
      expect(has(t, id)).toBe(false);
      t.insert(T0);
    }
    let dups = 0;
    for (const id of ids) {
      for (const pos of [3, 10, 16, 21, 26, 31]) if (has(t, changeAt(id, pos))) dups++;
    }
    expect(dups).toBe(0);
    for (const id of ids) expect(has(t, id)).toBe(true);
    expect(t.held).toBe(ids.length);
  });

  it('an entry exactly at the cutoff survives when timestamps are re-based (every ~12 days of event time)', () => {
    for (const h of [2 ** 29, 2 ** 28 + 12_345, 86_400_000]) {
      const t = new UuidTable(h, Math.ceil(h / 4), {}, noSpill);
      const rnd = prng(h);
      let prev = '';
      // Steps of exactly one horizon: whenever a step re-bases, the previous id sits at maxTs - horizon.
      for (let k = 0; k < 40; k++) {
        const m = T0 + k * h;
        t.advance(m);
        const id = k % 2 === 0 ? uuid(rnd) : uuid(rnd).toUpperCase();
        expect(has(t, id)).toBe(false);
        t.insert(m);
        if (prev !== '') {
          expect(has(t, prev)).toBe(true);
          t.advance(m + 1);
          expect(has(t, prev)).toBe(false);
        }
        prev = id;
      }
    }
  });

  it('an entry it cannot place is spilled with its exact id and timestamp, and counted once', () => {
    const rnd = prng(11);
    const spilled = new Map<string, number>();
    // No displacement at all: collisions of two full lines grow the table, and rebuilds then spill.
    const t = new UuidTable(3_600_000, 900_000, { seed: 3, maxKicks: 0 }, (id, tsMs) => spilled.set(id, tsMs));
    t.advance(T0 + 1000);
    const ts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const id = i % 3 === 0 ? uuid(rnd).toUpperCase() : uuid(rnd);
      ts.set(id, T0 + (i % 1000));
      expect(has(t, id)).toBe(false);
      t.insert(T0 + (i % 1000));
    }
    expect(spilled.size).toBeGreaterThan(0);
    for (const [id, at] of spilled) expect(ts.get(id)).toBe(at); // case and every digit kept
    let inTable = 0;
    for (const id of ts.keys()) if (has(t, id)) inTable++;
    expect(inTable).toBe(t.held);
    expect(t.held + spilled.size).toBe(ts.size);
  });
});
