/**
 * The engine's watermarks, as the supervisor keeps them: each partition's (reported by its worker), the live
 * engine watermark over them (windows/watermark.ts says how), and the one a commit may record, which never
 * runs ahead of the rows that are durable (docs/SEMANTICS.md, "Windows").
 */
import type { Checkpoint } from '../contract/checkpoint.ts';
import { engineWatermark } from '../windows/watermark.ts';

export interface WatermarkTrackerOptions {
  partitions: number;
  idleTimeoutMs: number;
  startedAt: number;
}

export class WatermarkTracker {
  private readonly o: WatermarkTrackerOptions;
  /** Per partition, as its worker last reported (Infinity: not owned here, so it holds nothing back). */
  readonly partitionWm: Float64Array;
  /** The live engine watermark (metrics, the progress line, idle partitions); never moves backwards. */
  engineWm = -Infinity;
  /** The engine watermark the last commit recorded. */
  private persistedWm = -Infinity;
  /** When a watermark-only commit last ran. */
  private markerAt = 0;

  constructor(o: WatermarkTrackerOptions) {
    this.o = o;
    this.partitionWm = new Float64Array(o.partitions).fill(-Infinity);
  }

  /**
   * Recomputes the live engine watermark and returns the idle partitions. `ended`: the partitions this daemon
   * owns once the input has ended and every worker has flushed it; every window is then closed, so the watermark
   * is as far as any of them got.
   */
  update(lastRoutedAt: Float64Array, nowMs: number, ended: Iterable<number> | null): number[] {
    const e = engineWatermark(this.partitionWm, lastRoutedAt, nowMs, this.o.idleTimeoutMs, this.engineWm, this.o.startedAt);
    this.engineWm = e.watermarkMs;
    if (ended) {
      let max = -Infinity;
      for (const p of ended) if (this.partitionWm[p]! > max) max = this.partitionWm[p]!;
      if (Number.isFinite(max) && max > this.engineWm) this.engineWm = max;
    }
    return e.idlePartitions;
  }

  /**
   * The engine watermark that a commit of `checkpoints` may record (and will: it becomes the persisted one):
   * computed like the live one, but from each owned partition's watermark as of its last committed flush, this
   * batch's included. The live watermark also covers records whose rows still sit in a worker or in the commit
   * queue, and the ETL takes a day as complete from the recorded one. `ended` as in update(): then everything is
   * committed and the live watermark is durable.
   */
  durable(
    checkpoints: Checkpoint[], owned: Iterable<number>, checkpointOf: (p: number) => Checkpoint | undefined,
    lastRoutedAt: Float64Array, nowMs: number, ended: boolean,
  ): number | null {
    let recorded = this.engineWm;
    if (!ended) {
      const batch = new Map(checkpoints.map((c) => [c.partition, c]));
      const wm = new Float64Array(this.o.partitions).fill(Infinity);
      for (const p of owned) wm[p] = (batch.get(p) ?? checkpointOf(p))?.watermarkMs ?? -Infinity;
      const e = engineWatermark(wm, lastRoutedAt, nowMs, this.o.idleTimeoutMs, this.persistedWm, this.o.startedAt);
      recorded = Math.min(e.watermarkMs, this.engineWm);
    }
    this.persistedWm = recorded;
    return Number.isFinite(recorded) ? recorded : null;
  }

  /**
   * A quiet stream still moves the engine watermark (idle partitions, the last events' out-of-orderness), and the
   * daily ETL's sensor reads it from the warehouse: true when an empty commit should record it now (the live one
   * is ahead of the recorded one, and none ran within the last `intervalMs`).
   */
  markerDue(nowMs: number, intervalMs: number): boolean {
    if (!(this.engineWm > this.persistedWm) || nowMs - this.markerAt < intervalMs) return false;
    this.markerAt = nowMs;
    return true;
  }
}
