/**
 * Checkpoints as the warehouse holds them, made resumable. Before windows stayed open across an end of input,
 * that end closed every window for good: the checkpoint recorded the closed boundary as END_OF_TIME, and every
 * event of a later run (a file that grew, a topic with more records) was late. Such a checkpoint is read as
 * what it means now: the boundary the watermark had reached, and the windows after it written early.
 */
import type { Checkpoint } from '../contract/checkpoint.ts';
import { GamestreamError } from '../errors.ts';
import { END_OF_TIME, windowStartOf } from '../windows/tumbling.ts';

export function resumableCheckpoint(cp: Checkpoint, windowSizeMs: number, allowedLatenessMs: number): Checkpoint {
  if (cp.closedThroughMs === null || cp.closedThroughMs < END_OF_TIME) return cp;
  if (cp.watermarkMs === null || cp.maxEventMs === null) {
    return { ...cp, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null };
  }
  const closedThrough = windowStartOf(cp.watermarkMs - allowedLatenessMs, windowSizeMs);
  const to = windowStartOf(cp.maxEventMs, windowSizeMs) + windowSizeMs;
  return { ...cp, closedThroughMs: closedThrough, provisionalFromMs: closedThrough, provisionalToMs: Math.max(closedThrough, to) };
}

export function resumableCheckpoints(all: Map<number, Checkpoint>, windowSizeMs: number, allowedLatenessMs: number): Map<number, Checkpoint> {
  return new Map([...all].map(([p, cp]) => [p, resumableCheckpoint(cp, windowSizeMs, allowedLatenessMs)]));
}

/**
 * The checkpoints a source resumes from. A partition count below the one the warehouse has seen is refused, and so
 * is another window size than the one its windows were cut by: the open windows would be counted again in windows
 * of the new size, the same events in two rows.
 */
export function checkpointsToResume(all: Map<number, Checkpoint>, source: string, partitions: number, windowSizeMs: number, allowedLatenessMs: number): Map<number, Checkpoint> {
  const maxKnown = Math.max(-1, ...all.keys());
  if (maxKnown >= partitions) {
    throw new GamestreamError('config_invalid', `the warehouse has checkpoints for partition ${maxKnown} of ${source}, but it now has ${partitions} partitions; use the partition count of the earlier runs`);
  }
  const cut = [...all.values()].find((c) => c.windowSizeMs != null && c.windowSizeMs !== windowSizeMs);
  if (cut) {
    throw new GamestreamError('config_invalid', `GAMESTREAM_WINDOW_SIZE is ${windowSizeMs / 1000}s, but the warehouse's windows of ${source} were cut at ${cut.windowSizeMs! / 1000}s; set GAMESTREAM_WINDOW_SIZE=${cut.windowSizeMs! / 1000}s to go on with it (the size of a source's windows cannot change), or read the input into another warehouse`);
  }
  return resumableCheckpoints(all, windowSizeMs, allowedLatenessMs);
}

/**
 * What a partition restore reads back: its windows by `windowSizeMs`, and as many of its players as its share of
 * a worker's user cache holds.
 */
export function restoreRules(cfg: { windowSizeMs: number; userStateCache: number; workers: number }, partitions: number): { windowSizeMs: number; usersPerPartition: number } {
  const workers = Math.max(1, Math.min(cfg.workers, partitions));
  return { windowSizeMs: cfg.windowSizeMs, usersPerPartition: Math.floor(cfg.userStateCache / workers / Math.ceil(partitions / workers)) };
}

/** The checkpoint of a partition nothing of which is in the warehouse yet: it starts at offset 0. */
export function emptyCheckpoint(partition: number): Checkpoint {
  return {
    partition, nextOffset: 0, maxEventMs: null, watermarkMs: null, closedThroughMs: null,
    provisionalFromMs: null, provisionalToMs: null, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0,
  };
}
