/**
 * Says when the engine holds work but nothing moves: records were sent to the workers (or the input ended) and
 * for `afterMs` no record was routed and no commit landed. A stall that ends by itself
 * shows as one warning; one that does not is repeated every `afterMs` with the state that tells where it waits:
 * each worker's batches in flight, kept for replay and queued, when it last spoke, and the committer's queue.
 */
import type { Logger } from '../log.ts';
import type { WorkerSlot } from './worker-slot.ts';

export interface StallState {
  /** Changes whenever the engine moves: records routed, commits. */
  key: string;
  /** Work the engine holds and owes an answer for (batches not yet durable, or an input end not yet committed). */
  outstanding: boolean;
  /** What the warning reports besides the workers. */
  detail: Record<string, unknown>;
}

/** One worker's side of the state, for the warning. */
export function slotState(s: WorkerSlot, now: number): Record<string, unknown> {
  return {
    worker: s.index, incarnation: s.incarnation, ready: s.ready, inflight: s.inflight, retained: s.retained.length,
    queued: s.pendingCount, ended: s.ended, drained: s.drained, silentForS: s.lastHeardAt === 0 ? null : Math.round((now - s.lastHeardAt) / 1000),
  };
}

export class StallWatch {
  private readonly log: Logger;
  private readonly afterMs: number;
  private lastKey = '';
  private since: number;
  private warnedAt = 0;

  constructor(log: Logger, afterMs = 30_000, now = Date.now()) {
    this.log = log;
    this.afterMs = afterMs;
    this.since = now;
  }

  /** Called every second or so; returns whether it warned. */
  check(state: StallState, slots: readonly WorkerSlot[], now = Date.now()): boolean {
    if (state.key !== this.lastKey || !state.outstanding) {
      this.lastKey = state.key;
      this.since = now;
      this.warnedAt = 0;
      return false;
    }
    if (now - this.since < this.afterMs || (this.warnedAt !== 0 && now - this.warnedAt < this.afterMs)) return false;
    this.warnedAt = now;
    this.log.warn({ stalledForS: Math.round((now - this.since) / 1000), ...state.detail, workers: slots.map((s) => slotState(s, now)) },
      'no progress: the engine holds records that are neither committed nor moving (worker states attached)');
    return true;
  }
}
