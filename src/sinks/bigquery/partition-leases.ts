/**
 * Who may write a partition, with several daemons in one consumer group, as the BigQuery commit log records
 * it: a daemon claims the partitions it takes, releases those it hands over, and before it commits after a
 * stall asks which of its partitions another daemon took meanwhile (docs/ARCHITECTURE.md, "Fencing").
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Checkpoint } from '../../contract/checkpoint.ts';
import type { AwaitReleaseOptions, SharedOwnership } from '../sink.ts';
import { encodeObjects, type RowObject } from './rows.ts';
import type { TableWriter } from './table-writer.ts';

/** The commit-log rows that say where each partition stands: per (source) partition, its latest row. */
export function latestPerPartition(ds: string, columns: string, where: string, by = 'source_partition'): string {
  return `SELECT ${columns} FROM ${ds}.gamestream_commits
     WHERE committed_at >= TIMESTAMP '1970-01-01' AND source_partition IS NOT NULL${where ? ` AND ${where}` : ''}
     QUALIFY ROW_NUMBER() OVER (PARTITION BY ${by} ORDER BY next_offset DESC, committed_at DESC) = 1`;
}

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

  constructor(o: PartitionLeasesOptions) {
    this.o = o;
  }

  release(source: string, checkpoints: Checkpoint[]): Promise<void> {
    return this.mark(source, checkpoints, true);
  }

  claim(source: string, checkpoints: Checkpoint[]): Promise<void> {
    return this.mark(source, checkpoints, null);
  }

  /** Of these partitions, those whose latest commit row another daemon wrote. */
  async fencedPartitions(source: string, partitions: number[]): Promise<number[]> {
    if (partitions.length === 0) return [];
    const rows = await this.o.query(latestPerPartition(this.o.ds, 'source_partition, writer', 'source = @source AND source_partition IN UNNEST(@partitions)'), { source, partitions });
    return rows.filter((r) => r.writer !== this.o.writerId).map((r) => Number(r.source_partition));
  }

  /** Checkpoint rows without streams: a release (true) or a claim (null) of partitions. */
  private async mark(source: string, checkpoints: Checkpoint[], released: true | null): Promise<void> {
    const commits = this.o.commits();
    if (!commits || checkpoints.length === 0) return;
    const rows: RowObject[] = checkpoints.map((cp) => ({
      commit_id: randomUUID(), source, writer: this.o.writerId, member: this.o.member(), committed_at: Date.now() * 1000, streams: [], engine_watermark: null,
      end_of_input: false, source_partition: cp.partition, next_offset: cp.nextOffset, max_event_ms: cp.maxEventMs,
      watermark_ms: cp.watermarkMs, closed_through_ms: cp.closedThroughMs, events: cp.events, dead_letters: cp.deadLetters,
      duplicates: cp.duplicates, late_events: cp.lateEvents, window_rows: cp.windowRows, released,
      provisional_from_ms: cp.provisionalFromMs, provisional_to_ms: cp.provisionalToMs, window_updates: null,
    }));
    await commits.appendDefault(encodeObjects(rows, commits.codec));
  }

  /** Resolves once no other daemon may still write these partitions (Warehouse.awaitRelease). */
  async awaitRelease(source: string, partitions: number[], o: AwaitReleaseOptions): Promise<void> {
    if (partitions.length === 0) return;
    while (!this.o.closing()) {
      const rows = await this.o.query(
        latestPerPartition(this.o.ds, 'source_partition, writer, member, released, TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), committed_at, MILLISECOND) AS age_ms',
          'source = @source AND source_partition IN UNNEST(@partitions)'),
        { source, partitions },
      );
      const others = rows.filter((r) => r.released !== true && r.writer !== this.o.writerId);
      // A writer still in the group is alive and releases what it had once it has committed it, however long
      // that takes (a slow warehouse); one the group dropped is gone. Rows without a member: by their age.
      const live = others.some((r) => typeof r.member === 'string') && o.liveMembers ? await o.liveMembers() : null;
      const holders = others
        .filter((r) => (typeof r.member === 'string' && live ? live.has(r.member) : Number(r.age_ms) < o.graceMs))
        .map((r) => `partition ${r.source_partition} (last written by ${r.writer}${typeof r.member === 'string' ? ` as group member ${r.member}, still in the group` : ''} ${Math.round(Number(r.age_ms) / 1000)} s ago)`);
      if (holders.length === 0) return;
      o.onWait(holders);
      await sleep(1000);
    }
  }
}
