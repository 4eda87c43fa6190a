/**
 * The status page's warehouse panel on BigQuery: events per hour over the last 24 h of event time, the
 * latest ETL day's data-quality checks and the ETL's latest run (etl_runs). The partition filters keep the
 * events read to the last two days.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import { hourlyVolume, volumeWindowStart, type WarehouseView } from '../../observability/status.ts';
import { runQuery } from './client.ts';

const HOUR = 3_600_000;

export async function readBigQueryStatusView(bq: BigQuery, dataset: string, nowMs = Date.now()): Promise<WarehouseView> {
  const from = volumeWindowStart(nowMs);
  const fromDay = new Date(from).toISOString().slice(0, 10);
  const rows = await runQuery(bq, `SELECT UNIX_MILLIS(TIMESTAMP_TRUNC(timestamp, HOUR)) AS h, COUNT(*) AS n FROM ${dataset}.events
      WHERE event_date >= DATE '${fromDay}' AND timestamp >= TIMESTAMP_MILLIS(${from}) AND timestamp < TIMESTAMP_MILLIS(${nowMs + HOUR})
      GROUP BY h`);
  const byHour = new Map((rows as { h: unknown; n: unknown }[]).map((r) => [Number(r.h), Number(r.n)]));
  let checks: WarehouseView['checks'] = null;
  try {
    const c = await runQuery(bq, `SELECT FORMAT_DATE('%Y-%m-%d', date) AS d, check_name, status, value, threshold FROM ${dataset}.etl_checks
        WHERE date >= DATE_SUB(CURRENT_DATE(), INTERVAL 30 DAY)
        QUALIFY run_id = FIRST_VALUE(run_id) OVER (ORDER BY date DESC, run_id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        ORDER BY check_name`);
    const list = c as { d: string; check_name: string; status: string; value: number | null; threshold: number | null }[];
    if (list.length > 0) {
      checks = {
        date: list[0]!.d,
        items: list.map((r) => ({ name: r.check_name, status: r.status, value: r.value === null ? null : Number(r.value), threshold: r.threshold === null ? null : Number(r.threshold) })),
      };
    }
  } catch {
    // No ETL tables yet: no checks to show.
  }
  return { volume24h: hourlyVolume(from, nowMs, byHour), checks, etlRuns: await readEtlRuns(bq, dataset), readAt: new Date(nowMs).toISOString() };
}

/** The DAG's latest run and latest success in etl_runs, whichever process ran them (the daemon or `gamestream etl`). */
async function readEtlRuns(bq: BigQuery, dataset: string): Promise<WarehouseView['etlRuns']> {
  try {
    // The table is small (a row per task attempt); the date filter is there for a table that requires one.
    const rows = (await runQuery(bq, `SELECT FORMAT_DATE('%Y-%m-%d', date) AS d, status, UNIX_MILLIS(started_at) AS s, UNIX_MILLIS(ended_at) AS e,
        (SELECT UNIX_MILLIS(MAX(ended_at)) FROM ${dataset}.etl_runs WHERE date >= DATE '1970-01-01' AND task = 'dag' AND status = 'success') AS ok
        FROM ${dataset}.etl_runs WHERE date >= DATE '1970-01-01' AND task = 'dag' ORDER BY started_at DESC, run_id DESC LIMIT 1`)) as
      { d: string; status: string; s: unknown; e: unknown; ok: unknown }[];
    const r = rows[0];
    if (!r) return { last: null, lastSuccessAtMs: null };
    return {
      last: { day: r.d, status: r.status, startedAtMs: Number(r.s), endedAtMs: r.e === null ? null : Number(r.e) },
      lastSuccessAtMs: r.ok === null ? null : Number(r.ok),
    };
  } catch {
    // No etl_runs yet: the ETL never ran on this dataset.
    return null;
  }
}
