/**
 * The warehouse behind a small interface, so DuckDB (embedded) and BigQuery (production) are interchangeable.
 * A commit is atomic: the rows of its files and the checkpoints that cover them land together or not at all,
 * which is what makes restarts exact.
 */
import type { ActorRestore, Checkpoint, FlushFiles } from '../contract/checkpoint.ts';
import type { StoredUserState } from '../users/state.ts';

export interface CommitBatch {
  files: FlushFiles[];
  checkpoints: Checkpoint[];
  engineWatermarkMs: number | null;
  endOfInput: boolean;
  /**
   * Shared warehouses call this once the commit record has landed, before anything of the batch is visible; it
   * throws when this daemon may have lost the batch's partitions to another (it stalled past its consumer-group
   * session), and nothing of the batch is made visible: the record ranks below the new owner's claim.
   */
  fence?: () => Promise<void>;
}

export interface AwaitReleaseOptions {
  graceMs: number;
  /** The consumer group's members now, when the source has a group. */
  liveMembers?: () => Promise<Set<string>>;
  onWait: (holders: string[]) => void;
}

export interface RestoreRules {
  windowSizeMs: number;
  /** Players to read back per partition, most recently changed first, so that a restart does not read them one batch at a time (0 or absent: none). */
  usersPerPartition?: number;
}

/** How far the warehouse has one source partition. */
export interface CommittedPosition {
  source: string;
  partition: number;
  nextOffset: number;
  maxEventMs: number | null;
}

/** Committed events of one source partition, offsets [fromOffset, toOffset): read back for the dedupe index. */
export interface IdRange {
  source: string;
  partition: number;
  fromOffset: number;
  toOffset: number;
  /** The partition's max event time before fromOffset (its checkpoint there), or null at the start. */
  anchorMs: number | null;
  /** Only events seen at this time or later are wanted. */
  minSeenMs: number;
}

export interface CommittedId {
  id: string;
  /**
   * When the event was seen: its partition's max event time once it was accepted, that is the greatest of the
   * range's anchor and the event times of the range's events up to this one (docs/SEMANTICS.md, "Duplicates").
   */
  seenMs: number;
  source: string;
  partition: number;
  offset: number;
}

/**
 * A warehouse several daemons of one consumer group share (BigQuery): hand-offs of partitions and the fence
 * against a stalled previous owner go through its commit records. Warehouses one process owns (DuckDB) have none.
 */
export interface SharedOwnership {
  /** Marks partitions as handed off after their last commit, so that the next owner may start them at once. */
  release(source: string, checkpoints: Checkpoint[]): Promise<void>;
  /**
   * Resolves once no other daemon may still write these partitions: the latest of the other daemons' commit-log
   * rows of each is a release, or was written by a consumer-group member that `liveMembers` no longer lists (rows
   * without a member: older than `graceMs`). Reports waits through `onWait`.
   */
  awaitRelease(source: string, partitions: number[], o: AwaitReleaseOptions): Promise<void>;
  /**
   * Marks partitions as taken by this daemon, before it reads where they stand: from then on a stalled previous
   * owner finds itself fenced, and what it appends late ranks below this daemon's rows.
   */
  claim(source: string, partitions: number[]): Promise<void>;
  /** Records the checkpoints this daemon resumes its claimed partitions from, read after its claim. */
  resumeFrom(source: string, checkpoints: Checkpoint[]): Promise<void>;
  /** Of these partitions, those another daemon has claimed since this daemon did (or won a claim at once with it). */
  fencedPartitions(source: string, partitions: number[]): Promise<number[]>;
}

/** What the warehouse's upkeep between commits is told about the next commit. */
export interface UpkeepContext {
  /** Flushes queued for the next commit carry windows the watermark closed: their rows should not wait long. */
  windowsWaiting: boolean;
}

export interface Warehouse {
  readonly name: string;
  open(): Promise<void>;
  /**
   * Each partition's latest durable checkpoint. On BigQuery, a commit whose record landed but whose streams were
   * not committed yet is finished first: for the partitions in `finish` (those a daemon of a group just claimed)
   * whatever it is, for the others only if no other daemon has claimed one of its partitions since (it may have
   * been left invisible on purpose); with `finish` left out (no group), for every partition.
   */
  loadCheckpoints(source: string, finish?: number[]): Promise<Map<number, Checkpoint>>;
  /**
   * A stable id of this warehouse, made at its first use: the dedupe index kept beside it checks it, so an index
   * left from a warehouse that was deleted and made anew is not trusted.
   */
  identity(): Promise<string>;
  /**
   * Where every source partition the warehouse has a checkpoint for stands, read only (on BigQuery, a commit of
   * another daemon that is under way right now counts as landed; one appended after another daemon claimed its
   * partition counts only up to the commit before it, since it may never be made visible).
   */
  committedPositions(): Promise<CommittedPosition[]>;
  /**
   * The ids of committed events in these ranges seen at their range's minSeenMs or later, in chunks. A warehouse
   * that cannot read whole ranges cheaply (BigQuery, where that means scanning every day) may leave out the
   * events whose own time is before that; the dedupe index says so (docs/SEMANTICS.md).
   */
  readCommittedIds(ranges: IdRange[], onRows: (rows: CommittedId[]) => void): Promise<void>;
  /** State of each partition at its checkpoint, derived from the rows already written. */
  loadRestore(source: string, checkpoints: Checkpoint[], rules: RestoreRules): Promise<ActorRestore[]>;
  /**
   * The committed states of these users (those it has none of are left out): a commit's `users` files merge
   * into them in the same transaction as its events, each time the earliest wins (src/users/state.ts).
   */
  readUserStates(userIds: string[]): Promise<StoredUserState[]>;
  /** How many users it holds. */
  countUsers(): Promise<number>;
  /** Every user id it holds, or only those last written by these partitions of a source, in chunks. */
  readUserIds(only: { source: string; partitions: number[] } | null, onIds: (ids: string[]) => void): Promise<void>;
  commit(batch: CommitBatch): Promise<void>;
  /**
   * Upkeep between commits, once the last commit's rows are queryable and before the next one starts (DuckDB:
   * its checkpoint, which would otherwise run inside a commit and hold back that commit's rows). A step the
   * warehouse refuses for now is tried again after a later commit; it throws only when the warehouse can no
   * longer be written, and the committer then stops.
   */
  betweenCommits?(next: UpkeepContext): Promise<void>;
  /** Memory the warehouse's engine holds in this process (DuckDB's buffer manager), for the memory gauges. */
  memoryBytes?(): Promise<number>;
  /** The most the engine may hold (DuckDB's memory_limit as it stands: it grows with the players), for its gauge. */
  memoryLimitBytes?(): number;
  /** Partition hand-offs and fencing between the daemons of one consumer group, or null: one process owns it. */
  readonly shared: SharedOwnership | null;
  close(): Promise<void>;
}
