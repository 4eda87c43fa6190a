/**
 * When the daemon checkpoints DuckDB between commits.
 *
 * DuckDB 1.5 (since its pull request 18829) starts a new row group for rows appended after a checkpoint, so every
 * checkpoint closes the events table's last row group at whatever size it has reached. A later checkpoint then
 * merges adjacent row groups whenever k + 1 of them fit into k (k up to 3): it reads them back, decompresses and
 * compresses them again. Row groups fuller than three quarters of DuckDB's size never fit that way. A checkpoint at
 * a fixed write-ahead-log size (16 MiB, about 94k of the daemon's rows) left row groups under that mark at a steady
 * 50k events/s: one checkpoint in six then took 0.9-2.2 s instead of 0.35 s, with the commits waiting behind it.
 *
 * So the checkpoint waits until the rows appended since the last one end in a row group at least three quarters
 * full (or in whole row groups), and is forced at three row groups or at the write-ahead-log size given, whatever
 * comes first (the other tables, wide rows, and a commit pattern that never lands in the window).
 * docs/PERFORMANCE.md, "DuckDB's checkpoints", has the measurements.
 *
 * A checkpoint holds back every commit until it ends (about 0.2-0.6 s at 50k events/s). When the flushes waiting
 * for the next commit carry windows the watermark closed (a burst about once a window size), a checkpoint that is
 * due but not forced waits for them, at most MAX_WINDOW_WAIT_MS. In a 15-minute run at 50k events/s, the bursts
 * a checkpoint ran in front of committed their last window 0.39-1.21 s after it closed, the others 0.19-0.39 s
 * (docs/PERFORMANCE.md, "Closed windows before a due checkpoint").
 */

/** DuckDB's rows per row group (its default, which the warehouse keeps). */
export const ROW_GROUP_ROWS = 122_880;
/** A closed row group at least this full is never merged with its neighbours. */
export const FULL_ENOUGH_ROWS = (ROW_GROUP_ROWS * 3) / 4;
/** Forced after this many rows since the last checkpoint: they wait uncompressed in DuckDB's memory until then. */
export const MAX_ROWS_BETWEEN = 3 * ROW_GROUP_ROWS;
/** How long a due checkpoint (not a forced one) lets closed windows waiting to commit go first. */
export const MAX_WINDOW_WAIT_MS = 1000;

export class CheckpointPolicy {
  private readonly maxWalBytes: number;
  /** Events rows appended since the last checkpoint. */
  private rows = 0;
  /** Since when a checkpoint has been due but waited for closed windows (NaN: it has not). */
  private waitingSinceMs = NaN;

  constructor(maxWalBytes: number) {
    this.maxWalBytes = maxWalBytes;
  }

  /** A commit appended `eventRows` rows to the events table. */
  committed(eventRows: number): void {
    this.rows += eventRows;
  }

  /**
   * Whether to checkpoint now, with the write-ahead log at `walBytes`. `windowsWaiting`: the next commit carries
   * closed windows, so a checkpoint that can wait does, up to MAX_WINDOW_WAIT_MS.
   */
  due(walBytes: number, windowsWaiting = false, nowMs = Date.now()): boolean {
    if (walBytes >= this.maxWalBytes || this.rows >= MAX_ROWS_BETWEEN) return true;
    const lastGroup = this.rows % ROW_GROUP_ROWS;
    if (this.rows === 0 || (lastGroup !== 0 && lastGroup < FULL_ENOUGH_ROWS)) {
      this.waitingSinceMs = NaN;
      return false;
    }
    if (!windowsWaiting) return true;
    if (Number.isNaN(this.waitingSinceMs)) this.waitingSinceMs = nowMs;
    return nowMs - this.waitingSinceMs >= MAX_WINDOW_WAIT_MS;
  }

  /** A checkpoint ran: the next rows start a new row group. */
  checkpointed(): void {
    this.rows = 0;
    this.waitingSinceMs = NaN;
  }

  /** Events rows appended since the last checkpoint (for tests). */
  get rowsSinceCheckpoint(): number {
    return this.rows;
  }
}
