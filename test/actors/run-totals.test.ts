import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProgressLine, type RunTotals } from '../../src/actors/run-totals.ts';

const totals = (over: Partial<RunTotals>): RunTotals => ({
  recordsRouted: 0, recordsSkipped: 0, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0,
  engineWatermarkMs: null, workerRestarts: 0, elapsedMs: 0, endOfInput: false, ...over,
});

afterEach(() => {
  vi.useRealTimers();
});

describe('the progress line', () => {
  it('labels the read rate and the committed rate, and gives a file\'s share and the time left', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const p = new ProgressLine();
    vi.setSystemTime(1_002_000);
    // 2 s: 40,000 read, 30,000 committed (29,900 events + 100 dead letters), a quarter of 400 MB.
    const line = p.next(totals({ recordsRouted: 40_000, events: 29_900, deadLetters: 100, elapsedMs: 2000 }), { bytesRead: 100e6, totalBytes: 400e6 });
    expect(line).toContain(' in 40,000 (25% of input), 6s left  read 20,000/s  written 29,900  committed 15,000/s  dead letters 100');
    vi.setSystemTime(1_004_000);
    const next = p.next(totals({ recordsRouted: 40_000, events: 39_900, deadLetters: 100, elapsedMs: 4000 }), { bytesRead: 100e6, totalBytes: 400e6 });
    // Nothing read for 2 s: no estimate rather than an infinite one; the commits caught up meanwhile.
    expect(next).toContain(' in 40,000 (25% of input)  read 0/s  written 39,900  committed 5,000/s');
  });

  it('has no share or estimate for an endless source', () => {
    const line = new ProgressLine().next(totals({ recordsRouted: 10 }), { bytesRead: 0, totalBytes: null });
    expect(line).toMatch(/ in 10  read [\d,]+\/s  written 0  committed 0\/s/);
  });
});
