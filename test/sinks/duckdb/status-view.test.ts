import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { etlCommand } from '../../../src/cli/etl.ts';
import { Metrics } from '../../../src/observability/metrics.ts';
import { StatusTracker } from '../../../src/observability/status.ts';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { HourlyVolume, readStatusView } from '../../../src/sinks/duckdb/status-view.ts';
import { generateDay, insertEvents, openTestWarehouse, setWatermark } from '../../etl/support/world.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;

/** The values of one events row, each argument an SQL expression: its event_id, timestamp in ms and source_offset. */
function eventRow(id: string, tsMs: string, offset: string): string {
  return `${id}, 'u', NULL, 1001, NULL, epoch_ms(${tsMs}), DATE '2026-11-27', 0, 0, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 's', 0, ${offset}, NULL, NULL, NULL`;
}

describe('readStatusView', () => {
  it('counts events per hour of the last 24 h, zeros included, and reads the latest quality checks', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'wh.duckdb'), source: 's', maxEventBytes: 1 << 20 });
    await wh.open();
    const conn = await wh.connect();
    const now = Date.UTC(2026, 10, 27, 14, 30);
    const rows: string[] = [];
    // 3 events two hours ago, 5 in the current hour, 7 that are 30 h old (outside the window).
    const add = (ms: number, n: number) => {
      for (let i = 0; i < n; i++) {
        rows.push(`(${eventRow(`'e${rows.length}'`, String(ms), String(rows.length))})`);
      }
    };
    add(now - 2 * HOUR, 3);
    add(now - 60_000, 5);
    add(now - 30 * HOUR, 7);
    await conn.run(`INSERT INTO events VALUES ${rows.join(', ')}`);
    let view = await readStatusView(conn, now);
    expect(view.volume24h.t.length).toBe(25);
    expect(view.volume24h.events.reduce((a, b) => a + b, 0)).toBe(8);
    expect(view.volume24h.events.at(-1)).toBe(5);
    expect(view.volume24h.events.at(-3)).toBe(3);
    expect(view.checks).toBeNull();
    expect(view.etlRuns).toBeNull(); // no etl_runs table: the ETL never ran here
    await conn.run(`CREATE TABLE etl_checks (date DATE NOT NULL, check_name VARCHAR NOT NULL, passed BOOLEAN, status VARCHAR NOT NULL, value DOUBLE, threshold DOUBLE, run_id VARCHAR NOT NULL)`);
    await conn.run(`INSERT INTO etl_checks VALUES (DATE '2026-11-25', 'has_data', true, 'passed', 1, NULL, 'r1'),
      (DATE '2026-11-26', 'has_data', true, 'passed', 1, NULL, 'r2'), (DATE '2026-11-26', 'dlq_rate', false, 'failed', 0.02, 0.01, 'r2')`);
    view = await readStatusView(conn, now);
    expect(view.checks).toEqual({
      date: '2026-11-26',
      items: [
        { name: 'dlq_rate', status: 'failed', value: 0.02, threshold: 0.01 },
        { name: 'has_data', status: 'passed', value: 1, threshold: null },
      ],
    });
    conn.closeSync();
    await wh.close();
  });

  it('counts on from its last read, reading only the rows added since, with the same answer as a full count', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'volume.duckdb'), source: 's', maxEventBytes: 1 << 20 });
    await wh.open();
    const conn = await wh.connect();
    let offset = 0;
    const add = async (hoursAgo: number[], now: number): Promise<void> => {
      const rows = hoursAgo.map((h) => `(${eventRow(`'e${offset}'`, String(now - h * HOUR), String(offset++))})`);
      await conn.run(`INSERT INTO events VALUES ${rows.join(', ')}`);
    };
    const kept = new HourlyVolume();
    const same = async (now: number): Promise<number[]> => {
      const counted = (await readStatusView(conn, now, kept)).volume24h;
      const full = (await readStatusView(conn, now)).volume24h;
      expect(counted).toEqual(full);
      return counted.events;
    };
    let now = Date.UTC(2026, 10, 27, 14, 30);
    await add([0, 0, 2, 30, 23.6], now);
    expect((await same(now)).reduce((a, b) => a + b, 0)).toBe(4);
    // Late and out-of-order rows, one outside the window, one in the future: added to the hours counted so far.
    await add([5, 0.1, 26, 2, -3], now);
    expect((await same(now)).reduce((a, b) => a + b, 0)).toBe(7);
    // Time passes: hours that leave the window leave the counts.
    now += 2 * HOUR;
    await add([0], now);
    expect((await same(now)).reduce((a, b) => a + b, 0)).toBe(7);
    // Only new rows are read: a row changed in place (which the daemon never does) is not seen again.
    await conn.run(`UPDATE events SET "timestamp" = epoch_ms(${now}) WHERE event_id = 'e2'`);
    const after = (await readStatusView(conn, now, kept)).volume24h.events;
    expect(after.reduce((a, b) => a + b, 0)).toBe(7);
    expect((await readStatusView(conn, now)).volume24h.events.at(-1)).toBe(after.at(-1)! + 1);
    // A table with fewer rows than counted is not the one counted: it is counted again from the start.
    await conn.run('CREATE TABLE fresh AS SELECT * FROM events LIMIT 0; DROP TABLE events; ALTER TABLE fresh RENAME TO events');
    await add([1], now);
    expect((await same(now)).reduce((a, b) => a + b, 0)).toBe(1);
    conn.closeSync();
    await wh.close();
  });

  it('counts on correctly after deletes, which leave rowids unused, and after a checkpoint numbers the rows anew', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'deletes.duckdb'), source: 's', maxEventBytes: 1 << 20 });
    await wh.open();
    const conn = await wh.connect();
    let offset = 0;
    const add = async (hoursAgo: number[], now: number): Promise<void> => {
      for (const h of hoursAgo) {
        await conn.run(`INSERT INTO events VALUES (${eventRow(`'e${offset}'`, String(now - h * HOUR), String(offset))})`);
        offset++;
      }
    };
    const bulk = async (n: number, tsMs: number): Promise<void> => {
      await conn.run(`INSERT INTO events SELECT ${eventRow(`'b' || (${offset} + i)`, String(tsMs), `${offset} + i`)} FROM range(${n}) t(i)`);
      offset += n;
    };
    const kept = new HourlyVolume();
    const total = async (now: number): Promise<number> => {
      const counted = (await readStatusView(conn, now, kept)).volume24h;
      expect(counted).toEqual((await readStatusView(conn, now)).volume24h);
      return counted.events.reduce((a, b) => a + b, 0);
    };
    const now = Date.UTC(2026, 10, 27, 14, 30);
    // A whole row group (DuckDB's 122,880 rows) of a day long gone, as the ETL's retention finds it, then the window's rows.
    await bulk(122_880, now - 400 * 24 * HOUR);
    await conn.run('CHECKPOINT');
    await add([0, 1, 2], now);
    expect(await total(now)).toBe(3);
    // One old row deleted: its rowid stays unused, so the rows now run past their count.
    await conn.run(`DELETE FROM events WHERE event_id = 'b0'`);
    await add([0, 1], now);
    expect(await total(now)).toBe(5);
    // The old rows deleted and their row group dropped by a checkpoint, which numbers the rows after it anew;
    // more rows than it held came meanwhile.
    await conn.run(`DELETE FROM events WHERE "timestamp" < epoch_ms(${now - 300 * 24 * HOUR})`);
    await conn.run('CHECKPOINT');
    await bulk(130_000, now - HOUR / 2);
    expect(await total(now)).toBe(130_005);
    conn.closeSync();
    await wh.close();
  });

  it('reads the last ETL run from etl_runs, also one `gamestream etl run` made, and the page shows it', async () => {
    const t = await openTestWarehouse();
    try {
      await insertEvents(t, [...generateDay('2026-11-19', 3), ...generateDay('2026-11-20', 4)]);
      await setWatermark(t, Date.parse('2026-11-21T06:00:00Z'), false);
      t.release();
      const io = { stdout: { write: () => undefined }, stderr: { write: () => undefined, isTTY: false }, env: {
        GAMESTREAM_WAREHOUSE: `duckdb:${t.path}`, GAMESTREAM_ETL_EXPORT_DIR: join(t.dir, 'features'),
        GAMESTREAM_ETL_RETRY_DELAY: '1ms', GAMESTREAM_ETL_SENSOR_TIMEOUT: '0', GAMESTREAM_LOG_LEVEL: 'silent',
      } };
      const before = Date.now();
      expect(await etlCommand(['run', '--date', '2026-11-19'], io)).toBe(0);
      expect(await etlCommand(['run', '--date', '2026-11-21'], io)).toBe(1); // no events that day: wait_for_data fails
      const after = Date.now();

      const instance = await DuckDBInstance.create(t.path);
      const conn = await instance.connect();
      const view = await readStatusView(conn, after);
      conn.closeSync();
      instance.closeSync();
      const runs = view.etlRuns!;
      expect(runs.last).toMatchObject({ day: '2026-11-21', status: 'failed' });
      expect(runs.last!.startedAtMs).toBeGreaterThanOrEqual(before);
      expect(runs.last!.endedAtMs).toBeGreaterThanOrEqual(runs.last!.startedAtMs);
      expect(runs.lastSuccessAtMs).toBeGreaterThanOrEqual(before);
      expect(runs.lastSuccessAtMs).toBeLessThanOrEqual(runs.last!.startedAtMs);
      expect(view.checks?.date).toBe('2026-11-19');

      // A daemon whose scheduler is off (or has not run yet) shows that run, not "not run yet".
      const metrics = new Metrics({ defaultMetrics: false });
      const status = new StatusTracker({ metrics, warehouse: async () => view });
      await status.readWarehouse();
      const etl = status.snapshot().etl;
      expect(etl.enabled).toBe(false);
      expect(etl.lastRun).toEqual({
        status: 'failed', day: '2026-11-21', at: new Date(runs.last!.endedAtMs!).toISOString(),
        durationSeconds: Math.round((runs.last!.endedAtMs! - runs.last!.startedAtMs) / 10) / 100,
      });
      expect(etl.lastSuccessAt).toBe(new Date(runs.lastSuccessAtMs!).toISOString());
    } finally {
      t.close();
    }
  });
});
