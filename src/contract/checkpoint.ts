/**
 * The contract between the engine and the warehouses: what a partition's checkpoint holds, what a partition
 * that resumes gets back, and the row files a flush hands over. Every warehouse adapter and the engine share
 * these types, and nothing here depends on either.
 */

/** Per-partition position and state, written atomically with the rows it covers. */
export interface Checkpoint {
  partition: number;
  nextOffset: number;
  maxEventMs: number | null;
  watermarkMs: number | null;
  closedThroughMs: number | null;
  /**
   * Windows starting in [from, to) were written at an end of input, as they stood then, though the watermark
   * had not closed them: when they close, their rows are rewritten with the full counts. null: none.
   */
  provisionalFromMs: number | null;
  provisionalToMs: number | null;
  events: number;
  deadLetters: number;
  duplicates: number;
  lateEvents: number;
  windowRows: number;
  /** recordHash of the record at nextOffset - 1 (contract/record-hash.ts); null or absent: not known. */
  lastRecordHash?: number | null;
  /** The window size the partition's windows were cut by; null or absent: not known (written before it was kept). */
  windowSizeMs?: number | null;
}

/** A player's state as the warehouse's users table holds it (src/users/state.ts says what it means). */
export interface StoredUserState {
  userId: string;
  installMs: number | null;
  firstSeenMs: number;
  firstPaidMs: number | null;
}

/** State rebuilt from the warehouse for a partition that resumes. */
export interface ActorRestore {
  checkpoint: Checkpoint;
  /** Players this partition wrote last, most recently changed first (RestoreRules.usersPerPartition at most). */
  users?: StoredUserState[];
  windows: { windowStart: number; eventType: number; levelId: number | null; count: number }[];
  /** The keys of the provisional windows (see Checkpoint) that already have a row, to be rewritten. */
  written: { windowStart: number; eventType: number; levelId: number | null }[];
}

/** The row files of one flush, one per table (null: no rows). */
export interface FlushFiles {
  events: string | null;
  dlq: string | null;
  agg: string | null;
  /** Window rows that replace rows already written (a provisional window that closed), same columns as agg. */
  aggUpdates: string | null;
  /** User states changed by this flush's events (src/users/), merged into the warehouse's users. */
  users?: string | null;
}
