import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { readStatusView } from '../../../src/sinks/duckdb/status-view.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;

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
        rows.push(`('e${rows.length}', 'u', NULL, 1001, NULL, epoch_ms(${ms}), DATE '2026-11-27', 0, 0, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 's', 0, ${rows.length}, NULL, NULL, NULL)`);
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
});
