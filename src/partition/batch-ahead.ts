/**
 * The records of a worker's batch that its actors have not reached yet, so that the first actor that must read a
 * user from the warehouse reads the users of the whole batch at once.
 *
 * A worker's batch holds records of many partitions, and each partition's actor processes its own share. When an
 * actor met a user that had to be read, it read the users of its own share only: with more players than the
 * user-state cache holds, that was a warehouse read for nearly every partition of every batch (10,793 reads of
 * 43 users each for 1M events of 100,000 players with a cache of 10,000, docs/PERFORMANCE.md, "Many players").
 */
import type { RawRecord } from './record.ts';

export class BatchAhead {
  private shares: readonly RawRecord[][] = [];
  private at = 0;

  /** A batch begins: its partitions' shares in the order their actors will process them. */
  begin(shares: readonly RawRecord[][]): void {
    this.shares = shares;
    this.at = 0;
  }

  /** The actor of the share being processed has finished it. */
  next(): void {
    this.at++;
  }

  /** The batch is done: nothing is ahead any more. */
  end(): void {
    this.shares = [];
    this.at = 0;
  }

  /**
   * The shares after the one being processed, once per batch: whoever takes them reads their users too, so a later
   * actor's misses in this batch are rare and read only its own share.
   */
  take(): readonly RawRecord[][] {
    const rest = this.shares.slice(this.at + 1);
    this.shares = [];
    return rest;
  }
}
