import { describe, expect, it } from 'vitest';
import { OffsetGaps } from '../../src/sources/offset-gaps.ts';

describe('OffsetGaps', () => {
  it('counts the unreadable offsets in a range, per partition', () => {
    const g = new OffsetGaps();
    g.add(0, 100, 200);
    g.add(0, 500, 600);
    g.add(1, 0, 10);
    expect(g.within(0, 0, 1000)).toBe(200);
    expect(g.within(0, 150, 550)).toBe(100);
    expect(g.within(0, 200, 500)).toBe(0);
    expect(g.within(1, 5, 100)).toBe(5);
    expect(g.within(2, 0, 100)).toBe(0);
    expect(g.within(0, 300, 300)).toBe(0);
  });

  it('merges ranges that overlap or touch, so no offset counts twice', () => {
    const g = new OffsetGaps();
    g.add(0, 100, 200);
    g.add(0, 300, 400);
    g.add(0, 150, 320); // joins both
    g.add(0, 400, 410); // touches the end
    g.add(0, 10, 20);
    g.add(0, 50, 50); // empty: nothing
    expect(g.within(0, 0, 1000)).toBe(10 + 310);
    expect(g.within(0, 405, 1000)).toBe(5);
  });

  it('forgets the ranges below an offset, cutting the one it falls in', () => {
    const g = new OffsetGaps();
    g.add(0, 10, 20);
    g.add(0, 30, 40);
    g.add(0, 50, 60);
    g.add(1, 0, 5);
    g.forgetBelow(0, 35);
    expect(g.within(0, 0, 100)).toBe(5 + 10);
    expect(g.within(0, 35, 40)).toBe(5);
    g.forgetBelow(0, 5); // below all that is left: nothing
    expect(g.within(0, 0, 100)).toBe(15);
    g.forgetBelow(0, 1000);
    expect(g.within(0, 0, 2000)).toBe(0);
    expect(g.within(1, 0, 5)).toBe(5);
    g.add(0, 2000, 2001); // a partition forgotten whole takes new ranges
    expect(g.within(0, 0, 3000)).toBe(1);
  });

  it('counts like a set of offsets whatever the order ranges come in (randomised against a model)', () => {
    for (let round = 0; round < 50; round++) {
      const g = new OffsetGaps();
      const model = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const from = Math.floor(Math.random() * 500);
        const to = from + Math.floor(Math.random() * 40);
        g.add(3, from, to);
        for (let o = from; o < to; o++) model.add(o);
      }
      const lo = Math.floor(Math.random() * 500);
      const hi = lo + Math.floor(Math.random() * 200);
      expect(g.within(3, lo, hi)).toBe([...model].filter((o) => o >= lo && o < hi).length);
    }
  });
});
