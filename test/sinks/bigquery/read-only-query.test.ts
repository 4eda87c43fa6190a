/**
 * Read-only queries of a BigQuery dataset (`gamestream sql` on BigQuery), against the emulator: a dry run names
 * the statement's type and only a SELECT runs, so DML, DDL, scripts and EXPORT DATA change nothing; the row limit
 * cuts the result and says so; the time limit gives up on the query.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BigQuery } from '@google-cloud/bigquery';
import { bigQueryReadOnlyRunner } from '../../../src/sinks/bigquery/read-only-query.ts';
import type { BigQueryTarget } from '../../../src/sinks/bigquery/client.ts';
import type { SqlRunner } from '../../../src/sql/result.ts';
import { emulatorClients, freshDataset, type FreshDataset } from '../../support/bigquery/client.ts';

const ctx = inject('bigquery');
let bq: BigQuery;
let ds: FreshDataset;
let run: SqlRunner;
const LIMITS = { timeoutMs: 20_000, maxRows: 100 };

beforeAll(async () => {
  bq = emulatorClients(ctx).bq;
  ds = await freshDataset(bq, 'sql_ro');
  const target: BigQueryTarget = { project: ctx.project, dataset: ds.id, endpoint: ctx.restEndpoint, writeEndpoint: ctx.writeEndpoint, location: 'US' };
  const t = `\`${ctx.project}.${ds.id}.t\``;
  await bq.query(`CREATE TABLE ${t} (a INT64, ts TIMESTAMP, d DATE, price NUMERIC, tags ARRAY<STRING>)`);
  await bq.query(`INSERT INTO ${t} VALUES (1, TIMESTAMP '2026-11-20 12:00:00+00', DATE '2026-11-20', 15.97, ['x']),
    (9007199254740993, NULL, NULL, NULL, []), (3, NULL, NULL, 0.1, NULL)`);
  run = bigQueryReadOnlyRunner(bq, target);
});
afterAll(async () => {
  await ds?.cleanup();
});

async function state(): Promise<unknown> {
  const [tables] = await bq.dataset(ds.id).getTables();
  const [rows] = await bq.query(`SELECT a FROM \`${ctx.project}.${ds.id}.t\` ORDER BY a`);
  return { tables: tables.map((t) => t.id).filter((id) => id !== 'scratch').sort(), rows };
}

describe('read-only queries on BigQuery', () => {
  it('runs a SELECT in the default dataset, with its column types and exact numbers', async () => {
    const r = await run('SELECT a, ts, d, price, tags FROM t ORDER BY a', LIMITS);
    expect(r.columns).toEqual([
      { name: 'a', type: 'INTEGER' }, { name: 'ts', type: 'TIMESTAMP' }, { name: 'd', type: 'DATE' }, { name: 'price', type: 'NUMERIC' },
      { name: 'tags', type: 'ARRAY<STRING>' },
    ]);
    expect(r.rows[0]).toEqual([1, expect.stringMatching(/^2026-11-20T12:00:00/), '2026-11-20', 15.97, ['x']]);
    expect(r.rows[1]).toEqual([3, null, null, 0.1, []]);
    expect(r.rows[2]![0]).toBe('9007199254740993');
    expect(r.truncated).toBe(false);
  });

  it('refuses anything but a SELECT after a dry run, and nothing changes', async () => {
    const before = await state();
    const t = `\`${ctx.project}.${ds.id}.t\``;
    for (const q of [
      'INSERT INTO t (a) VALUES (4)', 'DELETE FROM t WHERE true', 'UPDATE t SET a = 0 WHERE true', 'CREATE TABLE u (a INT64)', 'DROP TABLE t',
      `CREATE OR REPLACE TABLE ${t} AS SELECT 1 AS a`, `TRUNCATE TABLE ${t}`,
    ]) {
      const err = await run(q, LIMITS).then(() => null, (e: { code?: string; message?: string }) => e);
      expect(err?.code, `${q}: ${err?.message}`).toBe('sql_refused');
      expect(err?.message).toContain('not a SELECT');
    }
    expect(await state()).toEqual(before);
    // A script (several statements) is refused too. Not on t: the emulator runs a script even when asked for a dry
    // run (BigQuery itself never runs a dry run's statements), so it goes to a table of its own.
    await bq.query(`CREATE TABLE \`${ctx.project}.${ds.id}.scratch\` (a INT64)`);
    await expect(run('SELECT 1; DELETE FROM scratch WHERE true', LIMITS)).rejects.toMatchObject({ code: 'sql_refused', message: expect.stringContaining('SCRIPT') });
    await expect(run('SELEC 1', LIMITS)).rejects.toMatchObject({ code: 'sql_failed', message: expect.stringContaining('Syntax error') });
  });

  it('returns at most the row limit and says the result was cut', async () => {
    const r = await run('SELECT x FROM UNNEST(GENERATE_ARRAY(1, 50)) AS x ORDER BY x', { timeoutMs: 20_000, maxRows: 7 });
    expect(r.rows).toEqual([[1], [2], [3], [4], [5], [6], [7]]);
    expect(r.truncated).toBe(true);
  });

  // The emulator runs a job inside the call that creates it (BigQuery returns at once and runs it after), so the
  // job is never there to be cancelled: this checks that the command gives up on time, not the cancellation.
  it('gives up at the time limit', async () => {
    const t0 = Date.now();
    const slow = 'SELECT SUM(a * b) AS s FROM UNNEST(GENERATE_ARRAY(1, 12000)) AS a CROSS JOIN UNNEST(GENERATE_ARRAY(1, 12000)) AS b';
    await expect(run(slow, { timeoutMs: 300, maxRows: 1 })).rejects.toMatchObject({ code: 'sql_timeout' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
