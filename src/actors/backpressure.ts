/**
 * How much the supervisor lets in: source bytes not yet durable (kept for replay, or waiting for a worker)
 * stay under GAMESTREAM_MAX_UNCOMMITTED_BYTES, each worker's mailbox holds at most GAMESTREAM_MAILBOX_BATCHES
 * batches, and a source with partitions of its own (Kafka) pauses a worker's partitions while that worker is
 * far behind, so the others keep flowing; a source that can read its records again (an NDJSON file, a replay's
 * spool) keeps only a few batches ahead of each worker.
 */
import type { PartitionedLog } from '../sources/source.ts';
import type { WorkerSlot } from './worker-slot.ts';

/**
 * Batches a source that can read its records again (a file) keeps ahead of each worker, its mailbox and queue
 * together. Its batches are let go once read, but not before, so reading further ahead only holds memory: 8 batches
 * of 4096 records are a few hundred milliseconds of a worker's work. On the 1M-event file, 8 against the 32 of the
 * default mailbox saved 130–170 MB of peak RSS at the same throughput (docs/PERFORMANCE.md).
 */
export const REREAD_READ_AHEAD_BATCHES = 8;

export interface BackpressureOptions {
  slots: WorkerSlot[];
  maxHeldBytes: number;
  mailboxBatches: number;
  /** The source's partitions, when it has its own (Kafka); null: only the mailboxes and the byte bound apply. */
  log: Pick<PartitionedLog, 'pause' | 'resume'> | null;
  /** The partitions a worker thread owns. */
  partitionsOf: (worker: number) => number[];
  /** The source can read records again (a file): it keeps at most REREAD_READ_AHEAD_BATCHES ahead of each worker. */
  rereads: boolean;
}

export class Backpressure {
  private readonly o: BackpressureOptions;

  constructor(o: BackpressureOptions) {
    this.o = o;
  }

  /** Source bytes not yet durable: batches kept for replay (a file's by position only, once read) plus batches waiting for their worker. */
  get heldBytes(): number {
    return this.o.slots.reduce((a, s) => a + s.retainedBytes + s.pendingBytes, 0);
  }

  /**
   * Whether a batch of `bytes` for `slot` may be queued now. An oversized one goes once nothing else is held, or it
   * would wait forever. A source that can read records again (a file) also waits while this worker has
   * REREAD_READ_AHEAD_BATCHES it has not read: its batches are let go once read (WorkerSlot.onProcessed) but
   * those still unread cannot be, so reading further ahead would only hold more bytes in memory.
   */
  admits(bytes: number, slot: WorkerSlot): boolean {
    if (this.o.rereads && slot.inflight + slot.pendingCount >= REREAD_READ_AHEAD_BATCHES) return false;
    const held = this.heldBytes;
    return held === 0 || held + bytes <= this.o.maxHeldBytes;
  }

  /** Moves queued batches into the worker's mailbox while it has room, and pauses or resumes its partitions. */
  pump(slot: WorkerSlot): void {
    const max = this.o.mailboxBatches;
    while (slot.inflight < max) {
      const r = slot.dequeue();
      if (!r) break;
      slot.retain(r);
      slot.sendBatch(r);
    }
    const log = this.o.log;
    if (!log) return;
    // Hysteresis: pause when a whole mailbox more is waiting, resume once nothing waits and the mailbox is half
    // empty. Pausing keeps what was already fetched (the fetch loop only leaves the partition out of its next
    // requests), so the cost of pausing early is no longer a refetch; the hysteresis stays so that a worker at
    // the edge does not flip its partitions in and out of every fetch request.
    if (!slot.paused && slot.pendingCount > max) {
      slot.paused = true;
      log.pause(this.o.partitionsOf(slot.index));
    } else if (slot.paused && slot.pendingCount === 0 && slot.inflight <= max / 2) {
      slot.paused = false;
      log.resume(this.o.partitionsOf(slot.index));
    }
  }
}
