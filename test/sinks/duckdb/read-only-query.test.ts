/**
 * Read-only queries on the daemon's own DuckDB instance (POST /sql) and on a file opened read-only: what is
 * refused (every kind of write, file reads, side-effecting functions) changes nothing; the time limit interrupts
 * the query; the row limit cuts the result and says so; writes on the daemon's connection go on while a query runs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { duckDbReadOnlyRunner, forbiddenReads, lockHolder, openDuckDbReadOnly } from '../../../src/sinks/duckdb/read-only-query.ts';
import type { SqlRunner } from '../../../src/sql/result.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-ro-sql-'));
const path = join(dir, 'wh.duckdb');
let wh: DuckDbWarehouse;
let writer: DuckDBConnection;
let run: SqlRunner;
const LIMITS = { timeoutMs: 10_000, maxRows: 1000 };
/** A cross join of 10^10 rows: minutes of work, unless it is interrupted. */
const SLOW = 'SELECT sum(a.range * b.range) AS s FROM range(100000) a, range(100000) b';

let offset = 0;
const eventRows = (n: number): string => Array.from({ length: n }, () => {
  const i = offset++;
  return `('e${i}', 'u${i % 7}', NULL, ${1001 + (i % 3)}, 'level_start', epoch_ms(${Date.UTC(2026, 10, 20, 12) + i * 1000}), DATE '2026-11-20', 12, 5, '{"level_id": ${i % 5}}', 'ios', '1.0', 'DE', NULL, NULL, NULL, 'phone', NULL, 's', 0, ${i}, false, 3, NULL)`;
}).join(', ');

beforeAll(async () => {
  wh = new DuckDbWarehouse({ path, source: 's', maxEventBytes: 1 << 20 });
  await wh.open();
  writer = await wh.connect();
  await writer.run(`INSERT INTO events VALUES ${eventRows(50)}`);
  await writer.run('CREATE SEQUENCE seq START 1');
  run = duckDbReadOnlyRunner(await wh.connect());
});
afterAll(async () => {
  writer?.closeSync();
  await wh?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every table's and view's rows (count and a hash of all of them), the sequences, databases and a setting. */
async function fingerprint(): Promise<unknown> {
  const q = async (sql: string) => (await writer.runAndReadAll(sql)).getRowsJS();
  const names = (await q(`SELECT table_name FROM duckdb_tables() WHERE NOT internal UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1`)).map((r) => String(r[0]));
  const tables: Record<string, unknown> = {};
  for (const n of names) tables[n] = (await q(`SELECT count(*)::VARCHAR, coalesce(sum(hash(t)), 0)::VARCHAR FROM "${n}" t`))[0];
  return {
    tables,
    sequences: await q(`SELECT sequence_name, last_value FROM duckdb_sequences()`),
    databases: await q(`SELECT database_name FROM duckdb_databases() ORDER BY 1`),
    settings: await q(`SELECT current_setting('threads'), current_setting('enable_logging')`),
  };
}

describe('read-only queries on the daemon\'s DuckDB instance', () => {
  it('answers SELECTs, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN and the catalog functions, with exact numbers', async () => {
    const r = await run('SELECT event_type, count(*) AS n, sum(source_offset)::DECIMAL(18,2) AS s FROM events GROUP BY 1 ORDER BY 1', LIMITS);
    expect(r.columns).toEqual([{ name: 'event_type', type: 'BIGINT' }, { name: 'n', type: 'BIGINT' }, { name: 's', type: 'DECIMAL(18,2)' }]);
    expect(r.rows).toEqual([[1001, 17, 408], [1002, 17, 425], [1003, 16, 392]]);
    expect(r.truncated).toBe(false);
    expect((await run('SELECT 9007199254740993::BIGINT AS big, 0.1::DECIMAL(38,20) + 0.2 AS d', LIMITS)).rows).toEqual([['9007199254740993', 0.3]]);
    for (const q of ['DESCRIBE events', 'SHOW TABLES', 'SUMMARIZE events', 'EXPLAIN SELECT * FROM events', 'EXPLAIN ANALYZE SELECT count(*) FROM events',
      'FROM events LIMIT 1', 'WITH x AS (SELECT 1 AS a) SELECT * FROM x', "SELECT * FROM pragma_table_info('events')", 'SELECT * FROM duckdb_tables()',
      'SELECT * FROM range(3)', 'VALUES (1)', "SELECT * FROM events_agg_1min_total"]) {
      await expect(run(q, LIMITS), q).resolves.toMatchObject({ truncated: false });
    }
  });

  it('refuses every write, file read and side effect, before it runs, and nothing changes', async () => {
    const before = await fingerprint();
    const out = join(dir, 'out');
    const writes = [
      `INSERT INTO events VALUES ${eventRows(1)}`, 'DELETE FROM events', "UPDATE events SET user_id = 'x'", 'CREATE TABLE x (a INT)',
      'CREATE TEMP TABLE x AS SELECT 1', 'CREATE VIEW v AS SELECT 1', 'CREATE OR REPLACE MACRO m(a) AS a', 'DROP TABLE events', 'ALTER TABLE events ADD COLUMN z INT',
      'TRUNCATE events', `ATTACH '${out}.duckdb' AS other`, 'DETACH wh', 'USE memory', `COPY events TO '${out}.csv'`, `COPY events FROM '${out}.csv'`,
      `COPY (SELECT 1) TO '${out}.parquet'`, `EXPORT DATABASE '${out}'`, 'INSTALL httpfs', 'LOAD httpfs', 'SET threads = 3', 'RESET threads',
      'PRAGMA threads = 3', 'PRAGMA enable_profiling', 'CHECKPOINT', 'FORCE CHECKPOINT', 'CALL checkpoint()', 'VACUUM', 'BEGIN TRANSACTION', 'COMMIT',
      'PREPARE p AS SELECT 1', 'SET VARIABLE v = 1', "SELECT nextval('seq')", 'EXPLAIN ANALYZE DELETE FROM events', 'SELECT 1; DELETE FROM events',
      'SELECT * FROM checkpoint()', 'SELECT (SELECT count(*) FROM force_checkpoint())', 'WITH c AS (SELECT * FROM enable_logging()) SELECT * FROM c',
      "SELECT * FROM query('SELECT 1')", "SELECT * FROM read_csv('/etc/hostname')", "SELECT * FROM read_text('/etc/hostname')",
      "SELECT * FROM '/etc/hostname'", `SELECT * FROM '${out}.csv'`, "SELECT * FROM glob('/*')", "SELECT * FROM duckdb_secrets()",
    ];
    for (const q of writes) {
      const err = await run(q, LIMITS).then(() => null, (e: { code?: string; message?: string }) => e);
      expect(err?.code, `${q}: ${err?.message}`).toBe('sql_refused');
    }
    expect(await fingerprint()).toEqual(before);
    for (const f of [`${out}.duckdb`, `${out}.csv`, `${out}.parquet`, out]) expect(existsSync(f), f).toBe(false);
  });

  it('says why a query failed, in DuckDB\'s words', async () => {
    await expect(run('SELECT * FROM no_such_table', LIMITS)).rejects.toMatchObject({ code: 'sql_failed', message: expect.stringContaining('no_such_table') });
    await expect(run('SELEC 1', LIMITS)).rejects.toMatchObject({ code: 'sql_failed', message: expect.stringContaining('syntax error') });
    await expect(run('  ', LIMITS)).rejects.toMatchObject({ code: 'sql_refused' });
  });

  it('interrupts a query at the time limit, and the connection answers the next one', async () => {
    const t0 = Date.now();
    await expect(run(SLOW, { timeoutMs: 500, maxRows: 10 })).rejects.toMatchObject({ code: 'sql_timeout', message: expect.stringContaining('GAMESTREAM_SQL_TIMEOUT') });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(500);
    // Uninterrupted, the cross join takes minutes; a busy machine may add a little to the interrupt.
    expect(took).toBeLessThan(5000);
    expect((await run('SELECT count(*) FROM events', LIMITS)).rows).toEqual([[50]]);
    // A limit that passes before the query has even started (DuckDB drops an interrupt between statements).
    for (const timeoutMs of [1, 5, 20]) {
      const t1 = Date.now();
      await expect(run(SLOW, { timeoutMs, maxRows: 10 })).rejects.toMatchObject({ code: 'sql_timeout' });
      expect(Date.now() - t1).toBeLessThan(5000);
    }
  });

  it('returns at most the row limit and says the result was cut', async () => {
    const cut = await run('SELECT * FROM range(100000000)', { timeoutMs: 10_000, maxRows: 10 });
    expect(cut.rows).toEqual(Array.from({ length: 10 }, (_, i) => [i]));
    expect(cut.truncated).toBe(true);
    const whole = await run('SELECT * FROM range(10)', { timeoutMs: 10_000, maxRows: 10 });
    expect([whole.rows.length, whole.truncated]).toEqual([10, false]);
  });

  it('runs one query at a time, and the daemon\'s writes go on while one runs', async () => {
    const slow = run(SLOW, { timeoutMs: 3000, maxRows: 10 }).then(() => 'done', (e: { code: string }) => e.code);
    await expect(run('SELECT 1', LIMITS)).rejects.toMatchObject({ code: 'sql_busy' });
    // Commits on the writer's connection, as the daemon's: each done while the query still runs.
    let settled = false;
    void slow.then(() => (settled = true));
    const took: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = Date.now();
      await writer.run('BEGIN TRANSACTION');
      await writer.run(`INSERT INTO events VALUES ${eventRows(100)}`);
      await writer.run('COMMIT');
      took.push(Date.now() - t);
    }
    expect(settled).toBe(false);
    expect(Math.max(...took)).toBeLessThan(1000);
    expect(await slow).toBe('sql_timeout');
    expect((await run('SELECT count(*) FROM events', LIMITS)).rows).toEqual([[1050]]);
  });
});

describe('a DuckDB file opened read-only', () => {
  it('answers with the same checks, and names the process that holds the file\'s lock', async () => {
    const copy = join(dir, 'closed.duckdb');
    await writer.run(`ATTACH '${copy}' AS closed; CREATE TABLE closed.t AS SELECT * FROM range(5) r(a); DETACH closed`);
    const opened = await openDuckDbReadOnly(copy);
    if (opened.locked) throw new Error(opened.locked.message);
    try {
      expect((await opened.run('SELECT sum(a) FROM t', LIMITS)).rows).toEqual([[10]]);
      await expect(opened.run('DELETE FROM t', LIMITS)).rejects.toMatchObject({ code: 'sql_refused' });
    } finally {
      opened.close();
    }
    expect(lockHolder('IO Error: Could not set lock on file "/x/w.duckdb": Conflicting lock is held in /usr/bin/node (PID 4242). See also …')).toBe(4242);
    expect(lockHolder('something else')).toBeNull();
  });

  it('finds files and side-effecting table functions anywhere in the parse tree', () => {
    const tree = [{ node: { from_table: { type: 'JOIN', left: { type: 'BASE_TABLE', table_name: 'events' }, right: { type: 'SUBQUERY', subquery: { node: { from_table: { type: 'TABLE_FUNCTION', function: { function_name: 'read_parquet' } } } } } } } },
      { cte: { type: 'BASE_TABLE', table_name: 'data/x.csv' } }, { type: 'TABLE_FUNCTION', function: { function_name: 'duckdb_tables' } }];
    expect(forbiddenReads(tree)).toEqual(['the table function read_parquet()', 'the file "data/x.csv"']);
  });
});
