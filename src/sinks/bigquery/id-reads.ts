/**
 * What the dedupe index reads of a BigQuery warehouse (src/dedupe/): its identity, where each source partition
 * stands, and the ids of committed events, read back when the index lacks them. Reads only.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { CommittedId, CommittedPosition, IdRange } from '../sink.ts';
import { withRetries, type BigQueryTarget, type RetryPolicy } from './client.ts';
import { EVENTS_TABLE, latestPerPartition } from './tables.ts';
import type { StoredUserState } from '../../users/state.ts';

export interface IdReads {
  bq: BigQuery;
  target: BigQueryTarget;
  /** The dataset, quoted for SQL. */
  ds: string;
  retry: RetryPolicy;
  query: (sql: string) => Promise<Record<string, unknown>[]>;
}

/** The events table's creation time: a dataset deleted and made anew has another. */
export async function warehouseIdentity(r: IdReads): Promise<string> {
  const [meta] = await withRetries('reading the events table', r.retry, () => r.bq.dataset(r.target.dataset).table(EVENTS_TABLE.name).getMetadata());
  return `${r.target.project}.${r.target.dataset}@${(meta as { creationTime?: string }).creationTime ?? 'unknown'}`;
}

/**
 * Where each source partition stands. Read only: rolling other daemons' commits forward here would race their
 * own DML. A latest row that is a commit record another daemon may leave invisible for good (`unsure` returns
 * those, see PartitionLeases.contested) counts only up to the row below it, which is finished: a daemon appends a
 * record only once its previous commit is done, and rows without streams (claims, releases) make nothing visible.
 * Any other record counts as landed: a commit under way right now is made visible by its writer or its next owner.
 */
export async function committedPositions(
  r: IdReads, unsure: (records: { commitId: string; writer: string }[]) => Promise<Set<string>>,
): Promise<CommittedPosition[]> {
  const rows = await r.query(latestPerPartition(r.ds, 'source, source_partition, next_offset, max_event_ms, commit_id, writer, ARRAY_LENGTH(streams) AS streams',
    { by: 'source, source_partition', keep: 2 }));
  const byPartition = new Map<string, Record<string, unknown>[]>();
  for (const row of rows) {
    const key = `${String(row.source)}\u0000${Number(row.source_partition)}`;
    if (!byPartition.has(key)) byPartition.set(key, []);
    byPartition.get(key)![Number(row.row_rank) - 1] = row;
  }
  const records = [...byPartition.values()].map(([top]) => top!).filter((t) => Number(t.streams ?? 0) > 0);
  const doubtful = await unsure([...new Map(records.map((t) => [String(t.commit_id), String(t.writer)]))].map(([commitId, writer]) => ({ commitId, writer })));
  const out: CommittedPosition[] = [];
  for (const [top, below] of byPartition.values()) {
    const row = doubtful.has(String(top!.commit_id)) ? below : top;
    if (!row) continue;
    out.push({
      source: String(row.source), partition: Number(row.source_partition), nextOffset: Number(row.next_offset),
      maxEventMs: row.max_event_ms === null || row.max_event_ms === undefined ? null : Number(row.max_event_ms),
    });
  }
  return out;
}

/**
 * Only the days each range wants are read (reading whole ranges would scan every day), so an event whose own
 * time is older than its range's minSeenMs is left out. For the events read, "seen" is exact: older ones cannot
 * raise the running max past it.
 */
export async function readCommittedIds(r: IdReads, ranges: IdRange[], onRows: (rows: CommittedId[]) => void): Promise<void> {
  if (ranges.length === 0) return;
  const minSeen = (g: IdRange): number => Math.max(0, Math.floor(g.minSeenMs));
  const list = ranges.map((g) => `STRUCT(${JSON.stringify(g.source)} AS s, ${g.partition} AS p, ${g.fromOffset} AS lo, ${g.toOffset} AS hi, ${g.anchorMs ?? -9e15} AS anchor, ${minSeen(g)} AS min_seen)`).join(', ');
  const from = Math.min(...ranges.map(minSeen));
  const sql = `SELECT * FROM (
     SELECT event_id, GREATEST(anchor, MAX(ms) OVER (PARTITION BY source, p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS seen,
            source, p, o, min_seen
     FROM (SELECT e.event_id, UNIX_MILLIS(e.timestamp) AS ms, e.source, e.source_partition AS p, e.source_offset AS o, r.anchor, r.min_seen
           FROM ${r.ds}.events e JOIN UNNEST([${list}]) r ON e.source = r.s AND e.source_partition = r.p
           WHERE e.event_date >= DATE(TIMESTAMP_MILLIS(${from})) AND UNIX_MILLIS(e.timestamp) >= r.min_seen
             AND e.source_offset >= r.lo AND e.source_offset < r.hi))
     WHERE seen >= min_seen`;
  await pagedQuery(r, 'reading committed event ids', sql, 50_000, (rows) => onRows(rows.map((row) => ({
    id: String(row.event_id), seenMs: Number(row.seen), source: String(row.source), partition: Number(row.p), offset: Number(row.o),
  }))));
}

/** A query job's result a page at a time (each call retried on its own), for results too large to hold at once. */
async function pagedQuery(r: IdReads, what: string, sql: string, pageRows: number, onPage: (rows: Record<string, unknown>[]) => void): Promise<void> {
  const [job] = await withRetries(what, r.retry, () => r.bq.createQueryJob({ query: sql, location: r.target.location }));
  let pageToken: string | undefined;
  do {
    const [rows, next] = await withRetries(what, r.retry, () => job.getQueryResults({ maxResults: pageRows, autoPaginate: false, pageToken }));
    onPage(rows as Record<string, unknown>[]);
    pageToken = (next as { pageToken?: string } | null)?.pageToken;
  } while (pageToken);
}

/**
 * Per partition of `source`, up to `perPartition` of the players it wrote last, most recently changed first,
 * each merged over all its rows (other sources' included).
 */
export async function readRecentUsers(r: IdReads, source: string, partitions: number[], perPartition: number): Promise<{ partition: number; state: StoredUserState }[]> {
  if (partitions.length === 0 || perPartition < 1) return [];
  const rows = await r.query(`WITH mine AS (
      SELECT user_id, ANY_VALUE(source_partition) AS p, MAX(updated_at) AS u FROM ${r.ds}.user_states
      WHERE updated_at >= TIMESTAMP '1970-01-01' AND source = ${JSON.stringify(source)} AND source_partition IN (${partitions.join(', ')})
      GROUP BY user_id
    ), top AS (SELECT * FROM mine QUALIFY ROW_NUMBER() OVER (PARTITION BY p ORDER BY u DESC) <= ${Math.floor(perPartition)})
    SELECT top.p AS p, s.user_id, UNIX_MILLIS(MIN(s.install_at)) AS install_ms, UNIX_MILLIS(MIN(s.first_seen_at)) AS first_seen_ms,
      UNIX_MILLIS(MIN(s.first_paid_at)) AS first_paid_ms
    FROM ${r.ds}.user_states s JOIN top ON s.user_id = top.user_id
    WHERE s.updated_at >= TIMESTAMP '1970-01-01' GROUP BY top.p, s.user_id`);
  return rows.map((row) => ({ partition: Number(row.p), state: userState(row) }));
}

const opt = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function userState(row: Record<string, unknown>): StoredUserState {
  return { userId: String(row.user_id), installMs: opt(row.install_ms), firstSeenMs: Number(row.first_seen_ms), firstPaidMs: opt(row.first_paid_ms) };
}

/**
 * Ids a query of readUserStates lists at most: a worker's read covers its whole batch (up to 4,096 players), and
 * 2,048 ids of the longest allowed (256 characters) keep a query near 0.5 MB, within BigQuery's 1 MB of query text.
 */
const USER_READ_IDS = 2048;

/** The merged states of these users (the `users` view's rows for them, read from its log table). */
export async function readUserStates(r: IdReads, userIds: string[]): Promise<StoredUserState[]> {
  const out: StoredUserState[] = [];
  for (let from = 0; from < userIds.length; from += USER_READ_IDS) {
    const ids = userIds.slice(from, from + USER_READ_IDS);
    const rows = await r.query(`SELECT user_id, UNIX_MILLIS(MIN(install_at)) AS install_ms, UNIX_MILLIS(MIN(first_seen_at)) AS first_seen_ms,
        UNIX_MILLIS(MIN(first_paid_at)) AS first_paid_ms
      FROM ${r.ds}.user_states WHERE user_id IN (${ids.map((id) => JSON.stringify(id)).join(', ')}) GROUP BY user_id`);
    for (const row of rows) out.push(userState(row));
  }
  return out;
}

export async function countUsers(r: IdReads): Promise<number> {
  const rows = await r.query(`SELECT COUNT(DISTINCT user_id) AS n FROM ${r.ds}.user_states WHERE updated_at >= TIMESTAMP '1970-01-01'`);
  return Number(rows[0]?.n ?? 0);
}

/** User ids of the log, all or those written by some partitions of a source, a page at a time. */
export async function readUserIds(r: IdReads, only: { source: string; partitions: number[] } | null, onIds: (ids: string[]) => void): Promise<void> {
  if (only && only.partitions.length === 0) return;
  const where = only ? ` AND source = ${JSON.stringify(only.source)} AND source_partition IN (${only.partitions.join(', ')})` : '';
  const sql = `SELECT DISTINCT user_id FROM ${r.ds}.user_states WHERE updated_at >= TIMESTAMP '1970-01-01'${where}`;
  await pagedQuery(r, 'reading user ids', sql, 100_000, (rows) => onIds(rows.map((row) => String(row.user_id))));
}
