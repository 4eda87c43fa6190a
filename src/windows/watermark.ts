/**
 * The engine-wide watermark: the minimum over partitions that are not idle. A partition is idle when nothing
 * was routed to it for the idle timeout (wall clock), counted from the daemon's start for a partition not seen
 * yet (from its hand-over for one taken over: Router.setResume): Kafka fetches partitions one by one, and one not
 * fetched yet is not quiet, only late to be read.
 * Idle partitions do not hold the engine back, and they are told to follow it so their own windows close.
 */

export interface EngineWatermark {
  /** Never moves backwards; -Infinity until some active partition has a watermark. */
  watermarkMs: number;
  idlePartitions: number[];
}

export function engineWatermark(
  partitionWatermarks: ArrayLike<number>,
  lastRecordAtMs: ArrayLike<number>,
  nowMs: number,
  idleTimeoutMs: number,
  previousMs: number,
  startedAtMs: number,
): EngineWatermark {
  const idle: number[] = [];
  let min = Infinity;
  for (let p = 0; p < partitionWatermarks.length; p++) {
    const last = lastRecordAtMs[p] === 0 ? startedAtMs : lastRecordAtMs[p];
    if (nowMs - last >= idleTimeoutMs) {
      idle.push(p);
      continue;
    }
    if (partitionWatermarks[p] < min) min = partitionWatermarks[p];
  }
  // Every partition idle: nothing holds the watermark back, but nothing moves it either.
  const watermarkMs = min !== Infinity && min > previousMs ? min : previousMs;
  return { watermarkMs, idlePartitions: idle };
}
