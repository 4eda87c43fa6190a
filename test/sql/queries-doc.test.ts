/**
 * Every query in docs/QUERIES.md runs and answers rows: the `sql duckdb` blocks on a DuckDB warehouse made by the
 * daemon's own code (generated days, the daily ETL run on them), the `sql bigquery` blocks on the emulator with
 * the same days, each through the read-only path `gamestream sql` takes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { etlCommand } from '../../src/cli/etl.ts';
import { addDays } from '../../src/etl/warehouse.ts';
import { bigQueryReadOnlyRunner } from '../../src/sinks/bigquery/read-only-query.ts';
import { DuckDbWarehouse } from '../../src/sinks/duckdb/duckdb-warehouse.ts';
import { openDuckDbReadOnly } from '../../src/sinks/duckdb/read-only-query.ts';
import { openBigQueryTestWarehouse, type BigQueryTestWarehouse } from '../etl/support/bigquery-world.ts';
import { generateDay, insertDeadLetters, insertEvents, SOURCE, setWatermark, type GenEvent, type TestWarehouse } from '../etl/support/world.ts';

const DOC = readFileSync(new URL('../../docs/QUERIES.md', import.meta.url), 'utf8');
const blocks = (dialect: string): string[] => [...DOC.matchAll(/^```sql ([a-z]+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === dialect).map((m) => m[2]!.trim());
const LIMITS = { timeoutMs: 60_000, maxRows: 10_000 };

const now = Date.now();
const today = new Date(now).toISOString().slice(0, 10);
/** The ETL runs on the days two and three before today (complete whatever the hour); the live queries see all four. */
const days = [addDays(today, -3), addDays(today, -2), addDays(today, -1), today];
const events: GenEvent[] = days.flatMap((d, i) => generateDay(d, 100 + i, 12));
const deadLetters = [now - 3_600_000, now - 2 * 86_400_000, now - 3 * 86_400_000];

const io = (env: Record<string, string>, out: string[]) => ({ stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) }, env });

describe('docs/QUERIES.md', () => {
  it('has queries for both warehouses, each in a block the test runs', () => {
    expect(blocks('duckdb').length).toBeGreaterThanOrEqual(14);
    expect(blocks('bigquery').length).toBeGreaterThanOrEqual(6);
    // No SQL block escapes the test under another tag.
    expect([...DOC.matchAll(/^```sql(.*)$/gm)].map((m) => m[1]).filter((t) => t !== ' duckdb' && t !== ' bigquery')).toEqual([]);
  });

  describe('on DuckDB', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-queries-doc-'));
    const path = join(dir, 'wh.duckdb');
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    beforeAll(async () => {
      const wh = new DuckDbWarehouse({ path, source: SOURCE, maxEventBytes: 1 << 20 });
      await wh.open();
      const conn = await wh.connect();
      const t = { dir, conn } as unknown as TestWarehouse;
      await insertEvents(t, events);
      await insertDeadLetters(t, deadLetters);
      await setWatermark(t, now, true);
      // The one-minute windows the engine would have written for these events.
      await conn.run(`INSERT INTO events_agg_1min SELECT time_bucket(INTERVAL 1 MINUTE, "timestamp") AS ws, ws + INTERVAL 1 MINUTE, event_type,
        NULL, count(*), source, source_partition FROM events GROUP BY ALL`);
      conn.closeSync();
      await wh.close();
      const out: string[] = [];
      const code = await etlCommand(['backfill', '--from', days[0]!, '--to', days[1]!], io({
        GAMESTREAM_WAREHOUSE: `duckdb:${path}`, GAMESTREAM_ETL_EXPORT_DIR: join(dir, 'features'), GAMESTREAM_ETL_SENSOR_TIMEOUT: '0',
        GAMESTREAM_ETL_RETRY_DELAY: '1ms', GAMESTREAM_LOG_LEVEL: 'silent', GAMESTREAM_ETL_MAX_NULL_RATE: '1',
      }, out));
      expect(code, out.join('')).toBe(0);
    }, 120_000);

    it('runs every DuckDB query read-only, each answering rows', async () => {
      const opened = await openDuckDbReadOnly(path);
      if (opened.locked) throw new Error(opened.locked.message);
      try {
        for (const sql of blocks('duckdb')) {
          const r = await opened.run(sql, LIMITS).catch((err: Error) => {
            throw new Error(`${err.message}\n--- in ---\n${sql}`);
          });
          expect(r.rows.length, sql).toBeGreaterThan(0);
          expect(r.truncated, sql).toBe(false);
        }
      } finally {
        opened.close();
      }
    });
  });

  describe('on BigQuery', () => {
    const ctx = inject('bigquery');
    let b: BigQueryTestWarehouse;

    beforeAll(async () => {
      b = await openBigQueryTestWarehouse(ctx, 'queries_doc');
      await b.insertEvents(events);
      await b.insertDeadLetters(deadLetters);
      await b.setWatermark(now, true);
      const out: string[] = [];
      const code = await etlCommand(['backfill', '--from', days[0]!, '--to', days[1]!], io({
        GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${b.id}`, GAMESTREAM_BIGQUERY_ENDPOINT: ctx.restEndpoint,
        GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: ctx.writeEndpoint, GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS: '0',
        GAMESTREAM_ETL_SENSOR_TIMEOUT: '0', GAMESTREAM_ETL_RETRY_DELAY: '1ms', GAMESTREAM_LOG_LEVEL: 'silent', GAMESTREAM_ETL_MAX_NULL_RATE: '1',
      }, out));
      expect(code, out.join('')).toBe(0);
    }, 180_000);
    afterAll(async () => {
      await b?.close();
    });

    it('runs every BigQuery query as a read-only job, each answering rows', async () => {
      const run = bigQueryReadOnlyRunner(b.bq, b.target);
      for (const sql of blocks('bigquery')) {
        const r = await run(sql, LIMITS).catch((err: Error) => {
          throw new Error(`${err.message}\n--- in ---\n${sql}`);
        });
        expect(r.rows.length, sql).toBeGreaterThan(0);
      }
    }, 60_000);
  });
});
