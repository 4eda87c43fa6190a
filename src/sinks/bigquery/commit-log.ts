/**
 * Reading the BigQuery commit log (`gamestream_commits`) back: a row's checkpoint, the streams a record names by
 * table (to finish its step 3), and the window rows a record rewrites. The log's order and who may write a
 * partition are in partition-leases.ts; the commit itself in bigquery-warehouse.ts.
 */
import type { Checkpoint } from '../../contract/checkpoint.ts';
import { GamestreamError } from '../../errors.ts';
import { forEachLine } from './rows.ts';

/** A window row to rewrite: [window_start_ms, event_type, level_id, event_count]. */
export type WindowUpdate = [number, number, number | null, number];

/** The columns checkpointOf reads, and what finishing a record needs. */
export const CHECKPOINT_COLUMNS = `source_partition, next_offset, max_event_ms, watermark_ms, closed_through_ms, events,
  dead_letters, duplicates, late_events, window_rows, commit_id, streams, provisional_from_ms, provisional_to_ms, window_updates,
  last_record_hash, window_size_ms`;

/** A checkpoint as the commit log's position columns hold it (checkpointOf reads it back). */
export function checkpointColumns(cp: Checkpoint): Record<string, number | null> {
  return {
    source_partition: cp.partition, next_offset: cp.nextOffset, max_event_ms: cp.maxEventMs, watermark_ms: cp.watermarkMs,
    closed_through_ms: cp.closedThroughMs, events: cp.events, dead_letters: cp.deadLetters, duplicates: cp.duplicates,
    late_events: cp.lateEvents, window_rows: cp.windowRows, provisional_from_ms: cp.provisionalFromMs, provisional_to_ms: cp.provisionalToMs,
    last_record_hash: cp.lastRecordHash ?? null, window_size_ms: cp.windowSizeMs ?? null,
  };
}

/** The checkpoint a commit-log row with a position records. */
export function checkpointOf(r: Record<string, unknown>): Checkpoint {
  const num = (v: unknown): number => Number(v);
  const opt = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return {
    partition: num(r.source_partition),
    nextOffset: num(r.next_offset),
    maxEventMs: opt(r.max_event_ms),
    watermarkMs: opt(r.watermark_ms),
    closedThroughMs: opt(r.closed_through_ms),
    provisionalFromMs: opt(r.provisional_from_ms),
    provisionalToMs: opt(r.provisional_to_ms),
    events: num(r.events),
    deadLetters: num(r.dead_letters),
    duplicates: num(r.duplicates),
    lateEvents: num(r.late_events),
    windowRows: num(r.window_rows),
    lastRecordHash: opt(r.last_record_hash),
    windowSizeMs: opt(r.window_size_ms),
  };
}

/** A record to finish, as a row of it says. */
export interface RecordToFinish {
  commitId: string;
  streams: string[];
  partition: number;
  updates: WindowUpdate[];
}

export function recordOf(r: Record<string, unknown>): RecordToFinish {
  return {
    commitId: String(r.commit_id),
    streams: (r.streams as string[] | null) ?? [],
    partition: Number(r.source_partition),
    updates: typeof r.window_updates === 'string' ? (JSON.parse(r.window_updates) as WindowUpdate[]) : [],
  };
}

/** The streams of these records (each record once, though each of its partitions' rows names them), by table. */
export function streamsByTable(records: RecordToFinish[]): Map<string, string[]> {
  const seen = new Set<string>();
  const byTable = new Map<string, string[]>();
  for (const c of records) {
    if (seen.has(c.commitId)) continue;
    seen.add(c.commitId);
    for (const s of c.streams) {
      const table = /\/tables\/([^/]+)\/streams\//.exec(s)?.[1];
      if (!table) throw new GamestreamError('warehouse_commit_failed', `commit ${c.commitId} lists an unreadable stream name ${s}`);
      if (!byTable.has(table)) byTable.set(table, []);
      byTable.get(table)!.push(s);
    }
  }
  return byTable;
}

/** The rows of agg-update files (small: the provisional windows of a partition), by partition. */
export function readWindowUpdates(paths: string[]): Map<number, WindowUpdate[]> {
  const out = new Map<number, WindowUpdate[]>();
  forEachLine(paths, (_line, text) => {
    const r = JSON.parse(text) as { window_start_ms: number; event_type: number; level_id: number | null; event_count: number; source_partition: number };
    let list = out.get(r.source_partition);
    if (!list) out.set(r.source_partition, (list = []));
    list.push([r.window_start_ms, r.event_type, r.level_id, r.event_count]);
  });
  // One update per row (the latest), or BigQuery refuses the UPDATE (a target row matching two source rows).
  for (const [p, list] of out) {
    const last = new Map(list.map((u) => [`${u[0]}|${u[1]}|${u[2]}`, u]));
    out.set(p, [...last.values()]);
  }
  return out;
}

/** The one DML statement that rewrites window rows written early at an end of input with their final counts. */
export function windowUpdateSql(ds: string, updates: { p: number; u: WindowUpdate }[]): string {
  const int = (x: number | null): string => (x === null ? 'CAST(NULL AS INT64)' : String(Math.trunc(x)));
  const list = updates.map(({ p, u }) => `STRUCT(${int(p)} AS p, ${int(u[0])} AS ws, ${int(u[1])} AS et, ${int(u[2])} AS lv, ${int(u[3])} AS c)`);
  const lo = Math.min(...updates.map(({ u }) => u[0]));
  const hi = Math.max(...updates.map(({ u }) => u[0]));
  // The literal window range also serves as the partition filter (require_partition_filter).
  return `UPDATE ${ds}.events_agg_1min a SET event_count = u.c FROM UNNEST([${list.join(', ')}]) u
       WHERE a.source = @source AND a.window_start >= TIMESTAMP_MILLIS(${int(lo)}) AND a.window_start <= TIMESTAMP_MILLIS(${int(hi)})
         AND a.source_partition = u.p AND a.window_start = TIMESTAMP_MILLIS(u.ws) AND a.event_type = u.et
         AND ((a.level_id IS NULL AND u.lv IS NULL) OR a.level_id = u.lv)`;
}
