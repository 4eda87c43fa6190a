/**
 * The warehouse behind a small interface, so DuckDB (embedded) and BigQuery (production) are interchangeable.
 * A commit is atomic: the rows of its files and the checkpoints that cover them land together or not at all,
 * which is what makes restarts exact.
 */
import type { ActorRestore, Checkpoint, FlushFiles } from '../actors/protocol.ts';

export interface CommitBatch {
  files: FlushFiles[];
  checkpoints: Checkpoint[];
  engineWatermarkMs: number | null;
  endOfInput: boolean;
}

export interface RestoreRules {
  dedupeHorizonMs: number;
  windowSizeMs: number;
}

export interface Warehouse {
  readonly name: string;
  open(): Promise<void>;
  loadCheckpoints(source: string): Promise<Map<number, Checkpoint>>;
  /** State of each partition at its checkpoint, derived from the rows already written. */
  loadRestore(source: string, checkpoints: Checkpoint[], rules: RestoreRules): Promise<ActorRestore[]>;
  commit(batch: CommitBatch): Promise<void>;
  close(): Promise<void>;
}
