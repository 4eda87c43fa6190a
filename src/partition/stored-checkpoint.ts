/**
 * Checkpoints as the warehouse holds them, made resumable. Before windows stayed open across an end of input,
 * that end closed every window for good: the checkpoint recorded the closed boundary as END_OF_TIME, and every
 * event of a later run (a file that grew, a topic with more records) was late. Such a checkpoint is read as
 * what it means now: the boundary the watermark had reached, and the windows after it written early.
 */
import type { Checkpoint } from '../contract/checkpoint.ts';
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

/** The checkpoint of a partition nothing of which is in the warehouse yet: it starts at offset 0. */
export function emptyCheckpoint(partition: number): Checkpoint {
  return {
    partition, nextOffset: 0, maxEventMs: null, watermarkMs: null, closedThroughMs: null,
    provisionalFromMs: null, provisionalToMs: null, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0,
  };
}
