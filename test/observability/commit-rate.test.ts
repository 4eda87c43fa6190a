import { describe, expect, it } from 'vitest';
import { CommitRate, type CommitPoint } from '../../src/observability/commit-rate.ts';

const T0 = 1_700_000_000_000;
const at = (s: number, recordsIn: number): CommitPoint => ({ atMs: T0 + s * 1000, recordsIn, eventsWritten: recordsIn, deadLetters: 0 });
const opts = { windowMs: 10_000, minGraceMs: 2000, maxGraceMs: 60_000 };

describe('CommitRate', () => {
  it('spreads each commit over the interval it covers, also when two commits arrive as one point', () => {
    const r = new CommitRate(opts, at(0, 0));
    // 1000/s: commits at 2 s and 4 s; the sampler saw the ones at 5 and 6 s only as one point at 6 s.
    r.observe(at(2, 2000));
    r.observe(at(4, 4000));
    r.observe(at(6, 6000));
    expect(r.rates(T0 + 6000).recordsInPerSec).toBe(1000);
    // Between commits the window stays at the last one: no dip while the next commit is on its way.
    expect(r.rates(T0 + 7900).recordsInPerSec).toBe(1000);
  });

  it('the same commit seen twice counts once', () => {
    const r = new CommitRate(opts, at(0, 0));
    r.observe(at(2, 2000));
    r.observe(at(2, 2000));
    expect(r.rates(T0 + 2000).recordsInPerSec).toBe(1000);
  });

  it('once the next commit is overdue the time since counts as nothing committed, down to 0 after a window', () => {
    const r = new CommitRate(opts, at(0, 0));
    for (let s = 1; s <= 20; s++) r.observe(at(s, s * 1000));
    // Gaps of 1 s: the grace is the 2 s floor.
    expect(r.rates(T0 + 22_000).recordsInPerSec).toBe(1000);
    expect(r.rates(T0 + 27_000).recordsInPerSec).toBe(500);
    expect(r.rates(T0 + 32_000).recordsInPerSec).toBe(0);
  });

  it('nothing committed yet is 0', () => {
    expect(new CommitRate(opts, at(0, 0)).rates(T0 + 5000)).toEqual({ recordsInPerSec: 0, eventsWrittenPerSec: 0, deadLettersPerSec: 0 });
  });
});
