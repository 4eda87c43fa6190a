/**
 * Who may write a partition, with several daemons in one consumer group, as the BigQuery commit log records
 * it (docs/ARCHITECTURE.md, "Fencing").
 *
 * An append to the log can land any time after it was sent: a daemon frozen between its last check and its
 * commit record appends that record after another daemon took the partition over. So the log itself orders
 * owners. Each take-over is a claim with a higher `claim_epoch` than any row of the partition before it, and
 * every row a daemon writes for the partition carries that epoch. Rows rank by epoch first, so a late record
 * of an earlier owner never outranks its successor's rows. And a daemon makes a commit visible only after its
 * record landed and no claim of a later epoch had, so nothing it committed is written again by the next owner.
 * A take-over is two rows: a claim without a position, appended before the new owner reads where the
 * partition stands, then a row with the position it resumes from, once it has read it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Checkpoint } from '../../contract/checkpoint.ts';
import { GamestreamError } from '../../errors.ts';
import type { AwaitReleaseOptions, SharedOwnership } from '../sink.ts';
import { checkpointColumns } from './commit-log.ts';
import { encodeObjects, type RowObject } from './rows.ts';
import { latestPerPartition } from './tables.ts';
import type { TableWriter } from './table-writer.ts';

export interface PartitionLeasesOptions {
  /** The dataset, quoted for SQL. */
  ds: string;
  query: (sql: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>[]>;
  /** This process's writer id, recorded with every row it writes. */
  writerId: string;
  /** This daemon's consumer-group member id (null without a group). */
  member: () => string | null;
  /** The commit log's writer, once the warehouse is open. */
  commits: () => TableWriter | null;
  closing: () => boolean;
}

export class PartitionLeases implements SharedOwnership {
  private readonly o: PartitionLeasesOptions;
  /** The epoch of this daemon's claim, per source and partition. */
  private readonly epochs = new Map<string, number>();

  constructor(o: PartitionLeasesOptions) {
    this.o = o;
  }

  /** The epoch this daemon's rows of the partition carry: that of its claim (null without one, as without a group). */
  epochOf(source: string, partition: number): number | null {
    return this.epochs.get(`${source}\u0000${partition}`) ?? null;
  }

  release(source: string, checkpoints: Checkpoint[]): Promise<void> {
    return this.mark(source, checkpoints, true);
  }

  /**
   * Claims partitions with an epoch above every row of theirs so far, then checks that no other daemon claimed
   * one of them at the same epoch or later meanwhile (two daemons taking one partition at once: then this one
   * stops, and the other may too; a restart claims again).
   */
  async claim(source: string, partitions: number[]): Promise<void> {
    const commits = this.o.commits();
    if (!commits || partitions.length === 0) return;
    const top = await this.o.query(
      `SELECT source_partition, MAX(COALESCE(claim_epoch, 0)) AS epoch FROM ${this.o.ds}.gamestream_commits
       WHERE committed_at >= TIMESTAMP '1970-01-01' AND source = @source AND source_partition IN UNNEST(@partitions)
       GROUP BY source_partition`,
      { source, partitions },
    );
    const highest = new Map(top.map((r) => [Number(r.source_partition), Number(r.epoch)]));
    const rows: RowObject[] = partitions.map((p) => {
      const epoch = (highest.get(p) ?? 0) + 1;
      this.epochs.set(`${source}\u0000${p}`, epoch);
      return { ...this.common(source), source_partition: p, claim_epoch: epoch, released: null };
    });
    await commits.appendDefault(encodeObjects(rows, commits.codec));
    const rivals = await this.taken(source, partitions, true);
    if (rivals.length > 0) {
      throw new GamestreamError('partition_fenced',
        `another daemon claimed partitions ${rivals.join(', ')} at the same time as this one (two members of the consumer group thought they owned them, as after a stall longer than GAMESTREAM_KAFKA_SESSION_TIMEOUT); stopping without writing them. A restart resumes from the warehouse.`);
    }
  }

  /** Records where this daemon resumes its claimed partitions: from here on its rows outrank every earlier one. */
  resumeFrom(source: string, checkpoints: Checkpoint[]): Promise<void> {
    return this.mark(source, checkpoints, null);
  }

  /**
   * Of these partitions, those another daemon claimed after this daemon did: this daemon no longer owns them,
   * and must not make visible what it wrote of them.
   */
  fencedPartitions(source: string, partitions: number[]): Promise<number[]> {
    return this.taken(source, partitions, false);
  }

  /**
   * Partitions with another daemon's rows at a later epoch than this daemon's claim, or at the same one: right
   * after a claim (`atClaim`), any such row (two claims at once); later, only rows with a position. A daemon
   * that lost a race of claims at one epoch stops before it writes any (claim()), so its claim row does not
   * fence the winner.
   */
  private async taken(source: string, partitions: number[], atClaim: boolean): Promise<number[]> {
    if (partitions.length === 0) return [];
    const mine = partitions.map((p) => `STRUCT(${Math.trunc(p)} AS p, ${this.epochOf(source, p) ?? 0} AS e)`).join(', ');
    const same = atClaim ? 'COALESCE(c.claim_epoch, 0) = m.e' : 'COALESCE(c.claim_epoch, 0) = m.e AND c.next_offset IS NOT NULL';
    const rows = await this.o.query(
      `SELECT DISTINCT c.source_partition FROM ${this.o.ds}.gamestream_commits c JOIN UNNEST([${mine}]) m
         ON c.source_partition = m.p AND (COALESCE(c.claim_epoch, 0) > m.e OR (${same}))
       WHERE c.committed_at >= TIMESTAMP '1970-01-01' AND c.source = @source AND c.writer != @writer`,
      { source, writer: this.o.writerId },
    );
    return rows.map((r) => Number(r.source_partition)).sort((a, b) => a - b);
  }

  /**
   * Of these commit records, those contested: another daemon claimed one of their partitions after their writer
   * did (or wrote it at a later epoch). Such a record may have been left invisible on purpose, its partitions
   * resumed below it: only a daemon that has just claimed its partition decides on it (loadCheckpoints). Any
   * other record is finished by whoever reads it: every later claim of its partitions reads it too.
   */
  async contested(commitIds: string[]): Promise<Set<string>> {
    if (commitIds.length === 0) return new Set();
    const rows = await this.o.query(
      `SELECT DISTINCT r.commit_id FROM ${this.o.ds}.gamestream_commits r JOIN ${this.o.ds}.gamestream_commits o
         ON o.source = r.source AND o.source_partition = r.source_partition AND o.writer != r.writer
           AND COALESCE(o.claim_epoch, 0) > COALESCE(r.claim_epoch, 0)
       WHERE r.committed_at >= TIMESTAMP '1970-01-01' AND o.committed_at >= TIMESTAMP '1970-01-01'
         AND r.source_partition IS NOT NULL AND r.commit_id IN UNNEST(@ids)`,
      { ids: commitIds },
    );
    return new Set(rows.map((r) => String(r.commit_id)));
  }

  private common(source: string): RowObject {
    return {
      commit_id: randomUUID(), source, writer: this.o.writerId, member: this.o.member(), committed_at: Date.now() * 1000, streams: [],
      engine_watermark: null, end_of_input: false,
    };
  }

  /** Rows with a position and without streams: a release (true) or where a claim resumes (null). */
  private async mark(source: string, checkpoints: Checkpoint[], released: true | null): Promise<void> {
    const commits = this.o.commits();
    if (!commits || checkpoints.length === 0) return;
    const rows: RowObject[] = checkpoints.map((cp) => ({
      ...this.common(source), ...checkpointColumns(cp), released, window_updates: null,
      claim_epoch: this.epochOf(source, cp.partition),
    }));
    await commits.appendDefault(encodeObjects(rows, commits.codec));
  }

  /**
   * Resolves once no other daemon may still write these partitions (SharedOwnership.awaitRelease): the latest of
   * the other daemons' rows of each is a release, or its writer is gone. Other daemons' rows only, so that this
   * daemon's own claim does not hide an earlier owner's that landed late.
   */
  async awaitRelease(source: string, partitions: number[], o: AwaitReleaseOptions): Promise<void> {
    if (partitions.length === 0) return;
    while (!this.o.closing()) {
      const rows = await this.o.query(
        latestPerPartition(this.o.ds, 'source_partition, writer, member, released, TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), committed_at, MILLISECOND) AS age_ms',
          { where: 'source = @source AND source_partition IN UNNEST(@partitions) AND writer != @writer', claims: true }),
        { source, partitions, writer: this.o.writerId },
      );
      const others = rows.filter((r) => r.released !== true);
      // A writer still in the group is alive and releases what it had once it has committed it, however long
      // that takes (a slow warehouse); one the group dropped is gone. Rows without a member: by their age.
      let live: Set<string> | null = null;
      if (others.some((r) => typeof r.member === 'string') && o.liveMembers) {
        try {
          live = await o.liveMembers();
        } catch (err) {
          // The group's coordinator moving (a broker restarting): unknown is not gone; ask again in a second.
          o.onWait([`the consumer group cannot say who is in it now (${(err as Error).message}); asking again`]);
          await sleep(1000);
          continue;
        }
      }
      const holders = others
        .filter((r) => (typeof r.member === 'string' && live ? live.has(r.member) : Number(r.age_ms) < o.graceMs))
        .map((r) => `partition ${r.source_partition} (last written by ${r.writer}${typeof r.member === 'string' ? ` as group member ${r.member}, still in the group` : ''} ${Math.round(Number(r.age_ms) / 1000)} s ago)`);
      if (holders.length === 0) return;
      o.onWait(holders);
      await sleep(1000);
    }
  }
}
