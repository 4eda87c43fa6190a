/**
 * The warehouse's side of the status page: events per hour over the last 24 h of event time, the
 * data-quality checks of the latest ETL day and the ETL's latest run (etl_runs). Read on a connection of its own, so it never waits on commits.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { hourlyVolume, volumeWindowStart, type WarehouseView } from '../../observability/status.ts';

const HOUR = 3_600_000;

export async function readStatusView(conn: DuckDBConnection, nowMs = Date.now()): Promise<WarehouseView> {
  const from = volumeWindowStart(nowMs);
  const rows = (
    await conn.runAndReadAll(
      `SELECT epoch_ms(date_trunc('hour', "timestamp")) AS h, count(*) AS n FROM events
       WHERE "timestamp" >= epoch_ms(${from}) AND "timestamp" < epoch_ms(${nowMs + HOUR}) GROUP BY 1`,
    )
  ).getRows();
  const byHour = new Map(rows.map((r) => [Number(r[0]), Number(r[1])]));
  let checks: WarehouseView['checks'] = null;
  try {
    const c = (
      await conn.runAndReadAll(
        `SELECT strftime(date, '%Y-%m-%d'), check_name, status, value, threshold FROM etl_checks
         WHERE run_id = (SELECT run_id FROM etl_checks ORDER BY date DESC, run_id DESC LIMIT 1) ORDER BY check_name`,
      )
    ).getRows();
    if (c.length > 0) {
      checks = {
        date: String(c[0][0]),
        items: c.map((r) => ({ name: String(r[1]), status: String(r[2]), value: r[3] === null ? null : Number(r[3]), threshold: r[4] === null ? null : Number(r[4]) })),
      };
    }
  } catch {
    // No ETL tables yet (the ETL is off or has not run): no checks to show.
  }
  return { volume24h: hourlyVolume(from, nowMs, byHour), checks, etlRuns: await readEtlRuns(conn), readAt: new Date(nowMs).toISOString() };
}

/** The DAG's latest run and latest success in etl_runs, whichever process ran them (the daemon or `gamestream etl`). */
async function readEtlRuns(conn: DuckDBConnection): Promise<WarehouseView['etlRuns']> {
  try {
    const [last] = (
      await conn.runAndReadAll(
        `SELECT strftime(date, '%Y-%m-%d'), status, epoch_ms(started_at), epoch_ms(ended_at) FROM etl_runs
         WHERE task = 'dag' ORDER BY started_at DESC, run_id DESC LIMIT 1`,
      )
    ).getRows();
    const [ok] = (await conn.runAndReadAll(`SELECT epoch_ms(max(ended_at)) FROM etl_runs WHERE task = 'dag' AND status = 'success'`)).getRows();
    return {
      last: last ? { day: String(last[0]), status: String(last[1]), startedAtMs: Number(last[2]), endedAtMs: last[3] === null ? null : Number(last[3]) } : null,
      lastSuccessAtMs: ok?.[0] === null || ok?.[0] === undefined ? null : Number(ok[0]),
    };
  } catch {
    // No etl_runs yet: the ETL never ran on this warehouse.
    return null;
  }
}
