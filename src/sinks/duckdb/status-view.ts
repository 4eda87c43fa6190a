/**
 * The warehouse's side of the status page: events per hour over the last 24 h of event time, the
 * data-quality checks of the latest ETL day and the ETL's latest run (etl_runs). Read on a connection of its own, so it never waits on commits.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { serialQueue } from '../../etl/warehouse.ts';
import { hourlyVolume, volumeWindowStart, type WarehouseView } from '../../observability/status.ts';

/**
 * Events per hour of event time, kept from one read to the next: a read counts only the rows `events` gained
 * since the one before, by rowid (the daemon appends to it; only the ETL's retention deletes, and only days long
 * out of the window), so its cost follows the event rate rather than the last 24 h's volume. Counting the whole
 * window each minute took 1.0-1.4 s of CPU at 30.6M rows (the last 3M of them: 0.1 s), and a day at 50k events/s
 * holds 4.3 billion.
 */
export class HourlyVolume {
  private readonly hours = new Map<number, number>();
  /** Rows below this rowid are counted. */
  private next = 0;
  /** The event_id of the row at rowid next - 1 when it was counted (null: none there). */
  private lastId: string | null = null;

  /** Reads one after another: two at once would count the same rows twice. */
  private readonly serial = serialQueue();

  /** Counts by hour start (epoch ms) of the rows at or after `from`. */
  read(conn: DuckDBConnection, from: number): Promise<Map<number, number>> {
    return this.serial(() => this.readNew(conn, from));
  }

  private async readNew(conn: DuckDBConnection, from: number): Promise<Map<number, number>> {
    // A delete leaves its rowids unused, so the rows run to the highest rowid rather than to the count; a
    // checkpoint that drops or merges row groups after it numbers the rows anew. Then another row (or none) sits
    // just below the cursor, and everything is counted again. Each query took 10-26 ms at 30M rows.
    const top = (await conn.runAndReadAll('SELECT max(rowid) FROM events')).getRows()[0]![0];
    const end = top === null ? 0 : Number(top) + 1;
    if (this.next > 0 && (end < this.next || (await idAt(conn, this.next - 1)) !== this.lastId)) {
      this.hours.clear();
      this.next = 0;
    }
    if (end > this.next) {
      const r = await conn.runAndReadAll(
        `SELECT epoch_ms(date_trunc('hour', "timestamp")) AS h, count(*) AS n FROM events
         WHERE rowid >= ${this.next} AND rowid < ${end} AND "timestamp" >= epoch_ms(${from}) GROUP BY 1`,
      );
      for (const [h, n] of r.getRows()) this.hours.set(Number(h), (this.hours.get(Number(h)) ?? 0) + Number(n));
      this.next = end;
      this.lastId = await idAt(conn, end - 1);
    }
    for (const h of this.hours.keys()) if (h < from) this.hours.delete(h);
    return this.hours;
  }
}

async function idAt(conn: DuckDBConnection, rowid: number): Promise<string | null> {
  const [row] = (await conn.runAndReadAll(`SELECT event_id FROM events WHERE rowid = ${rowid}`)).getRows();
  return row ? String(row[0]) : null;
}

export async function readStatusView(conn: DuckDBConnection, nowMs = Date.now(), volume = new HourlyVolume()): Promise<WarehouseView> {
  const from = volumeWindowStart(nowMs);
  const byHour = await volume.read(conn, from);
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
