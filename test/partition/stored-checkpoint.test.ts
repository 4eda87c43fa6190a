import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/contract/checkpoint.ts';
import { checkpointsToResume, resumableCheckpoint } from '../../src/partition/stored-checkpoint.ts';

const M = 60_000;
const base: Checkpoint = {
  partition: 0, nextOffset: 10, maxEventMs: 100 * M + 30_000, watermarkMs: 100 * M + 20_000, closedThroughMs: 99 * M,
  provisionalFromMs: null, provisionalToMs: null, events: 9, deadLetters: 1, duplicates: 0, lateEvents: 0, windowRows: 4,
};

describe('resumableCheckpoint', () => {
  it('leaves a checkpoint of this version as it is', () => {
    expect(resumableCheckpoint(base, M, M)).toBe(base);
    const early = { ...base, provisionalFromMs: 99 * M, provisionalToMs: 101 * M };
    expect(resumableCheckpoint(early, M, M)).toBe(early);
  });

  it('reads an end of input that closed everything as the watermark boundary plus windows written early', () => {
    const old = { ...base, closedThroughMs: 8.64e15 };
    // watermark 100m20s - 60 s lateness → boundary 99m; the last event's window ends at 101m.
    expect(resumableCheckpoint(old, M, M)).toEqual({ ...base, closedThroughMs: 99 * M, provisionalFromMs: 99 * M, provisionalToMs: 101 * M });
  });

  it('a partition that had no valid event has nothing open and nothing written early', () => {
    const none = { ...base, maxEventMs: null, watermarkMs: null, closedThroughMs: 8.64e15 };
    expect(resumableCheckpoint(none, M, M)).toEqual({ ...none, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null });
  });
});

describe('checkpointsToResume', () => {
  it('refuses another window size than the one the source\'s windows were cut by, naming the setting and the size', () => {
    const cut = new Map([[0, { ...base, windowSizeMs: M }], [1, { ...base, partition: 1 }]]);
    expect(checkpointsToResume(cut, 'file:/x', 4, M, M).get(0)).toEqual({ ...base, windowSizeMs: M });
    expect(() => checkpointsToResume(cut, 'file:/x', 4, 2 * M, M)).toThrow(expect.objectContaining({
      code: 'config_invalid',
      message: expect.stringContaining("GAMESTREAM_WINDOW_SIZE is 120s, but the warehouse's windows of file:/x were cut at 60s; set GAMESTREAM_WINDOW_SIZE=60s"),
    }));
    // Checkpoints written before the size was kept say nothing.
    expect(checkpointsToResume(new Map([[0, base]]), 'file:/x', 4, 2 * M, M).size).toBe(1);
  });
});
