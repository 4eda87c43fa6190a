import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../src/sources/generator.ts';
import { StringMap } from '../src/string-map.ts';

/** What both maps offer, so that one walk drives either. */
interface StringKeyed {
  set(key: string, value: number): unknown;
  delete(key: string): boolean;
  readonly size: number;
  [Symbol.iterator](): Iterator<[string, number]>;
}

/** The same entries in a StringMap and in a Map. */
function twins(n: number, key: (i: number) => string): [StringMap<number>, Map<string, number>] {
  const ours = new StringMap<number>();
  const map = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    ours.set(key(i), i);
    map.set(key(i), i);
  }
  return [ours, map];
}

/** Iterates, deleting some visited entries and some not yet visited; returns the keys visited. */
function walkDeleting(m: StringKeyed): string[] {
  const seen: string[] = [];
  for (const [k, v] of m) {
    seen.push(k);
    if (v % 3 === 0) m.delete(k);
    if (v % 7 === 0) m.delete(`k${v + 1}`); // a later entry: not visited
  }
  return seen;
}

/** Adds n entries, taking the three oldest out after every fifth (the cache's scan from the oldest). */
function churn(m: StringKeyed, n: number): void {
  for (let i = 0; i < n; i++) {
    m.set(`u${i}`, i);
    if (i % 5 !== 4) continue;
    let taken = 0;
    for (const [k] of m) {
      if (taken++ === 3) break;
      m.delete(k);
    }
  }
}

describe('StringMap', () => {
  it('answers as a Map does over random sets, deletes and clears, in the same order', () => {
    for (const seed of [1, 2, 3]) {
      const rand = mulberry32(seed); // replayable: a failing sequence can be run again
      const [ours, map] = twins(0, String);
      // Few distinct keys, so that sets overwrite, deletes hit and growth compacts holes.
      const key = (): string => `user-${Math.floor(rand() * 3000)}`;
      for (let step = 0; step < 60_000; step++) {
        const r = rand();
        const k = key();
        if (r < 0.55) {
          ours.set(k, step);
          map.set(k, step);
        } else if (r < 0.85) {
          expect(ours.delete(k)).toBe(map.delete(k));
        } else if (r < 0.99999) {
          expect(ours.get(k)).toBe(map.get(k));
          expect(ours.has(k)).toBe(map.has(k));
        } else {
          ours.clear();
          map.clear();
        }
        expect(ours.size).toBe(map.size);
      }
      expect([...ours]).toEqual([...map]);
      expect([...ours.keys()]).toEqual([...map.keys()]);
    }
  });

  it('lets iteration delete as it goes, oldest first, as a Map does', () => {
    const [ours, map] = twins(1000, (i) => `k${i}`);
    expect(walkDeleting(ours)).toEqual(walkDeleting(map));
    expect([...ours]).toEqual([...map]);
    expect(ours.size).toBe(map.size);
  });

  it('answers as a Map does when the oldest entries leave as new ones come, as in the user cache', () => {
    const [ours, map] = twins(0, String);
    churn(ours, 50_000);
    churn(map, 50_000);
    expect(ours.size).toBe(map.size);
    expect([...ours]).toEqual([...map]);
    for (const [k] of map) map.delete(k);
    for (const [k] of ours) ours.delete(k);
    expect(ours.size).toBe(0);
    expect([...ours]).toEqual([]);
    ours.set('again', 1);
    expect([...ours]).toEqual([['again', 1]]);
  });

  it('keeps an overwritten key in its first place', () => {
    const m = new StringMap<string>();
    m.set('a', '1').set('b', '2').set('a', '3');
    expect([...m]).toEqual([['a', '3'], ['b', '2']]);
  });

  it('tells apart keys that differ only in case, length, non-ASCII text or surrogates, and the empty string', () => {
    const keys = ['', 'a', 'A', 'aa', 'é', 'e\u0301', '😀', '\ud83d', '\ude00', 'x'.repeat(10_000), 'x'.repeat(10_001)];
    const m = new StringMap<number>();
    keys.forEach((k, i) => m.set(k, i));
    expect(m.size).toBe(keys.length);
    keys.forEach((k, i) => expect(m.get(k)).toBe(i));
    expect(m.get('b')).toBeUndefined();
  });

  it('finds a key by its text, not by the string object: a string made again finds the entry', () => {
    const m = new StringMap<number>();
    const id = '74a8c252-7d78-48f3-a6bc-d25f3c319bbb';
    m.set(id, 1);
    const again = (JSON.parse(`{"u":"${id}"}`) as { u: string }).u;
    expect(m.get(again)).toBe(1);
  });

  it('holds many keys (one growth after another) and finds each', () => {
    const m = new StringMap<number>();
    const n = 200_000;
    for (let i = 0; i < n; i++) m.set(`${i.toString(16).padStart(8, '0')}-7d78-48f3-a6bc-d25f3c319bbb`, i);
    expect(m.size).toBe(n);
    for (let i = 0; i < n; i += 997) expect(m.get(`${i.toString(16).padStart(8, '0')}-7d78-48f3-a6bc-d25f3c319bbb`)).toBe(i);
  });
});
