/**
 * apply_retention for day D: the seed's `partition_expiration_days = 365`. BigQuery expires partitions itself
 * (GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS); a DuckDB warehouse has no such thing and grows without end
 * (a running demo adds gigabytes an hour), so the daily run deletes the rows dated more than
 * GAMESTREAM_RETENTION_DAYS before D from the same tables BigQuery would expire, in one transaction, and says how
 * many went. The DuckDB file does not shrink; the space freed is reused for new rows.
 */
import type { TaskOutcome } from './outputs.ts';
import { addDays, dialectOf, execTransaction, sqlDate, sqlTimestamp, dayStartMs, type EtlWarehouse } from './warehouse.ts';

/** Each table BigQuery partitions with an expiration, and the column its rows are dated by. */
export const RETAINED_TABLES: readonly { table: string; column: string; timestamp: boolean }[] = [
  { table: 'events', column: 'event_date', timestamp: false },
  { table: 'events_dlq', column: 'received_at', timestamp: true },
  { table: 'events_agg_1min', column: 'window_start', timestamp: true },
  { table: 'level_metrics', column: 'date', timestamp: false },
  { table: 'user_daily_metrics', column: 'date', timestamp: false },
  { table: 'revenue_daily', column: 'date', timestamp: false },
  { table: 'level_daily_stats', column: 'event_date', timestamp: false },
];

export interface RetentionResult {
  /** The first day kept. */
  keepFrom: string;
  removed: Record<string, number>;
}

/** Deletes the rows dated before D − `days` (so D and the `days` days before it stay). */
export async function deleteExpired(wh: EtlWarehouse, day: string, days: number): Promise<RetentionResult> {
  const keepFrom = addDays(day, -days);
  const older = (t: (typeof RETAINED_TABLES)[number]): string =>
    `${t.column} < ${t.timestamp ? sqlTimestamp(dayStartMs(keepFrom)) : sqlDate(keepFrom)}`;
  const removed: Record<string, number> = {};
  for (const t of RETAINED_TABLES) {
    const [r] = await wh.query(`SELECT count(*) AS n FROM ${t.table} WHERE ${older(t)}`);
    removed[t.table] = Number(r?.n ?? 0);
  }
  const doomed = RETAINED_TABLES.filter((t) => removed[t.table]! > 0);
  if (doomed.length > 0) await execTransaction(wh, doomed.map((t) => `DELETE FROM ${t.table} WHERE ${older(t)}`));
  return { keepFrom, removed };
}

/** The task: skipped on BigQuery (it expires partitions itself) and when retention is off. */
export async function applyRetention(
  wh: EtlWarehouse, day: string, days: number | null, say: (r: RetentionResult) => void,
): Promise<TaskOutcome> {
  if (dialectOf(wh).name === 'bigquery') {
    return { status: 'skipped', reason: 'BigQuery expires old partitions itself (GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS)' };
  }
  if (days === null) return { status: 'skipped', reason: 'GAMESTREAM_RETENTION_DAYS=0 keeps every day' };
  const r = await deleteExpired(wh, day, days);
  say(r);
  return { status: 'success', rows: Object.values(r.removed).reduce((a, b) => a + b, 0) };
}
