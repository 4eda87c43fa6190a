/**
 * Turns the cumulative per-partition counts in warehouse checkpoints into the per-commit deltas that
 * Metrics.recordCommit wants. Checkpoints are written in the same transaction as their rows, so deltas taken
 * between two committed checkpoints count committed data exactly once, across worker restarts and replays
 * (a replayed batch produces the same checkpoint, hence a zero delta).
 */
import type { Checkpoint } from '../contract/checkpoint.ts';
import type { OffsetGaps } from '../sources/offset-gaps.ts';
import type { PartitionDelta } from './metrics.ts';

export class CheckpointDeltas {
  private readonly last = new Map<number, Checkpoint>();
  private readonly unreadable: OffsetGaps | undefined;

  /**
   * `initial`: the checkpoints the daemon resumed from (warehouse.loadCheckpoints), whose counts are not new;
   * `unreadable`: the source's offsets that will never be read (deleted by retention, or holding no record), which
   * are not records in.
   */
  constructor(initial: Iterable<Checkpoint> = [], unreadable?: OffsetGaps) {
    for (const c of initial) this.last.set(c.partition, c);
    this.unreadable = unreadable;
  }

  /** Deltas of one commit's checkpoints against the previous ones; zero deltas are left out. */
  next(checkpoints: Iterable<Checkpoint>): PartitionDelta[] {
    const out: PartitionDelta[] = [];
    for (const c of checkpoints) {
      const prev = this.last.get(c.partition);
      // A partition seen for the first time starts from offset 0 and zero counts.
      const from = prev?.nextOffset ?? 0;
      const d: PartitionDelta = {
        partition: c.partition,
        recordsIn: Math.max(0, c.nextOffset - from - (this.unreadable?.within(c.partition, from, c.nextOffset) ?? 0)),
        eventsWritten: Math.max(0, c.events - (prev?.events ?? 0)),
        deadLetters: Math.max(0, c.deadLetters - (prev?.deadLetters ?? 0)),
        duplicates: Math.max(0, c.duplicates - (prev?.duplicates ?? 0)),
        lateEvents: Math.max(0, c.lateEvents - (prev?.lateEvents ?? 0)),
        windowRows: Math.max(0, c.windowRows - (prev?.windowRows ?? 0)),
      };
      if (!prev || c.nextOffset >= prev.nextOffset) this.last.set(c.partition, c);
      // Nothing asks below the previous checkpoint again (the lag asks from the durable one on): a topic with a
      // transaction marker per few records would otherwise keep a range per marker for good.
      this.unreadable?.forgetBelow(c.partition, from);
      if (d.recordsIn + d.eventsWritten + d.deadLetters + d.duplicates + d.lateEvents + d.windowRows > 0) out.push(d);
    }
    return out;
  }

  /** After a rebalance hands a partition back, its checkpoint comes from the warehouse again. */
  reset(checkpoint: Checkpoint): void {
    this.last.set(checkpoint.partition, checkpoint);
  }
}
