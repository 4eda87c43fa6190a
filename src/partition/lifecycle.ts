/**
 * The lifecycle every partition actor follows, as in stream engines: the host (a worker thread) calls these in
 * order and never concurrently.
 */
import type { ActorRestore, Checkpoint } from '../contract/checkpoint.ts';
import type { RawRecord } from './record.ts';

export interface ActorLifecycle {
  /** Begin at the restored position, or from offset 0 when there is none. */
  start(restore: ActorRestore | null): void;
  /** Records of this partition, in offset order. Offsets below the resume position are skipped (replays). */
  processBatch(records: RawRecord[], receivedAtMs: number, nowMs: number): void;
  /** The engine watermark moved; an idle partition may follow it so its windows close. */
  onWatermark(engineWatermarkMs: number, idle: boolean): void;
  /** Periodic housekeeping (state eviction). */
  onTick(nowMs: number): void;
  /** The checkpoint that covers every row written since the last flush, or null when nothing changed. */
  flush(): Checkpoint | null;
  /** End of input: close every window. */
  endOfInput(): void;
  /** The partition moves elsewhere: the last checkpoint, after which the actor is unusable. */
  revoke(): Checkpoint;
  close(): void;
}
