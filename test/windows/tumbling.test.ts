import { describe, expect, it } from 'vitest';
import { TumblingWindows, type WindowRow } from '../../src/windows/tumbling.ts';

const M = 60_000;

describe('TumblingWindows', () => {
  it('closes a window once the watermark passes its end plus the allowed lateness', () => {
    const w = new TumblingWindows(M, M);
    const rows: WindowRow[] = [];
    expect(w.add(10_000, 1001, 5)).toBe(true);
    expect(w.add(50_000, 1001, 5)).toBe(true);
    expect(w.add(70_000, 1002, null)).toBe(true);
    expect(w.advance(2 * M - 1, (r) => rows.push(r))).toBe(0); // end 60 s + 60 s lateness not yet passed
    expect(w.advance(2 * M, (r) => rows.push(r))).toBe(1);
    expect(rows).toEqual([{ windowStart: 0, windowEnd: M, eventType: 1001, levelId: 5, count: 2 }]);
    expect(w.add(59_999, 1001, 5)).toBe(false); // late: its window was emitted
    expect(w.add(60_000, 1001, 5)).toBe(true);
    w.emitOpen((r) => rows.push(r));
    expect(rows.slice(1)).toEqual([
      { windowStart: M, windowEnd: 2 * M, eventType: 1002, levelId: null, count: 1 },
      { windowStart: M, windowEnd: 2 * M, eventType: 1001, levelId: 5, count: 1 },
    ]);
  });

  it('at the end of the input emits the open windows but keeps them open: what comes later is not late', () => {
    const w = new TumblingWindows(M, M);
    const rows: WindowRow[] = [];
    w.add(10_000, 1, null);
    w.add(70_000, 1, null);
    w.advance(2 * M, (r) => rows.push(r)); // closes [0, M)
    expect(w.emitOpen((r) => rows.push(r))).toBe(1);
    expect(rows).toEqual([
      { windowStart: 0, windowEnd: M, eventType: 1, levelId: null, count: 1 },
      { windowStart: M, windowEnd: 2 * M, eventType: 1, levelId: null, count: 1 },
    ]);
    // The boundary is the watermark's, not the end of time: the window emitted early still counts, the one the
    // watermark closed does not.
    expect(w.closedThrough).toBe(M);
    expect(w.openWindows).toBe(1);
    expect(w.lastOpenStart).toBe(M);
    expect(w.add(80_000, 1, null)).toBe(true);
    expect(w.add(20_000, 1, null)).toBe(false);
    rows.length = 0;
    w.advance(3 * M, (r) => rows.push(r));
    expect(rows).toEqual([{ windowStart: M, windowEnd: 2 * M, eventType: 1, levelId: null, count: 2 }]);
  });

  it('never emits a window twice and never loses a count (randomised against a model)', () => {
    for (let round = 0; round < 20; round++) {
      const size = [1000, 10_000, M][round % 3];
      const lateness = [0, 5000, M][round % 3];
      const w = new TumblingWindows(size, lateness);
      const emitted = new Map<string, number>();
      let accepted = 0;
      let late = 0;
      let wm = -Infinity;
      const expectCounts = new Map<string, number>();
      for (let i = 0; i < 5000; i++) {
        const ts = 1_700_000_000_000 + i * 50 + Math.floor((Math.random() - 0.7) * 20_000);
        const key = `${Math.floor(ts / size) * size}|${i % 3}`;
        if (w.add(ts, i % 3, null)) {
          accepted++;
          expectCounts.set(key, (expectCounts.get(key) ?? 0) + 1);
        } else late++;
        if (ts - 2000 > wm) {
          wm = ts - 2000;
          w.advance(wm, (r) => {
            const k = `${r.windowStart}|${r.eventType}`;
            expect(emitted.has(k)).toBe(false);
            emitted.set(k, r.count);
          });
        }
      }
      w.emitOpen((r) => emitted.set(`${r.windowStart}|${r.eventType}`, r.count));
      expect([...emitted.values()].reduce((a, b) => a + b, 0)).toBe(accepted);
      expect(new Map([...emitted].sort())).toEqual(new Map([...expectCounts].sort()));
      expect(accepted + late).toBe(5000);
    }
  });

  it('restores open windows and the closed boundary', () => {
    const w = new TumblingWindows(M, 0);
    w.restore(2 * M, [
      { windowStart: M, eventType: 1, levelId: null, count: 9 }, // before the boundary: ignored
      { windowStart: 2 * M, eventType: 1, levelId: 3, count: 4 },
    ]);
    expect(w.add(M + 1, 1, null)).toBe(false);
    expect(w.add(2 * M + 1, 1, 3)).toBe(true);
    const rows: WindowRow[] = [];
    w.emitOpen((r) => rows.push(r));
    expect(rows).toEqual([{ windowStart: 2 * M, windowEnd: 3 * M, eventType: 1, levelId: 3, count: 5 }]);
  });
});
