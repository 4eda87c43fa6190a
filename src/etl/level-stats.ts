/**
 * The seed's cost optimisation `level_daily_stats` (level_id, event_date, events): events per level and day, so
 * that dashboards read a small table instead of scanning `events`. As the seed's view, it groups every event:
 * events without an integer `parameters.level_id` are the NULL level.
 *
 * BigQuery: a real materialized view, which BigQuery keeps current (incrementally) as rows land. DuckDB has no
 * materialized views: a table the daily DAG rebuilds for each day it runs (`refresh_level_daily_stats`), so it is
 * current up to the last completed day and, like the other daily tables, reruns with `etl run`.
 */
import { BIGQUERY } from './dialect.ts';
import type { TaskOutcome } from './outputs.ts';
import { dialectOf, execTransaction, sqlDate, type EtlWarehouse } from './warehouse.ts';

/**
 * The BigQuery view over `events` in the dataset `ds` (quoted), in the seed's plain form: the emulator the tests
 * run against drops, without an error, a view declared with IF NOT EXISTS, PARTITION BY, CLUSTER BY or OPTIONS
 * (so the caller checks that it is missing first).
 */
export function levelStatsMaterializedView(ds: string): string {
  return `CREATE MATERIALIZED VIEW ${ds}.level_daily_stats AS
    SELECT ${BIGQUERY.levelId} AS level_id, event_date, COUNT(*) AS events
    FROM ${ds}.events
    GROUP BY level_id, event_date`;
}

/** The task for day D: D's rows rebuilt in one transaction (DuckDB); BigQuery's view needs nothing. */
export async function refreshLevelDailyStats(wh: EtlWarehouse, day: string): Promise<TaskOutcome> {
  const d = dialectOf(wh);
  if (d.name === 'bigquery') return { status: 'skipped', reason: 'BigQuery keeps the materialized view level_daily_stats current itself' };
  const date = sqlDate(day);
  await execTransaction(wh, [
    `DELETE FROM level_daily_stats WHERE event_date = ${date}`,
    `INSERT INTO level_daily_stats (level_id, event_date, events)
      SELECT ${d.levelId} AS level_id, ${date}, count(*) FROM events WHERE event_date = ${date} GROUP BY 1`,
  ]);
  const [r] = await wh.query(`SELECT count(*) AS n FROM level_daily_stats WHERE event_date = ${date}`);
  return { status: 'success', rows: Number(r?.n ?? 0) };
}
