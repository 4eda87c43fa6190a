/**
 * The daily DAG on BigQuery (the emulator): the same generated days as the DuckDB tests, checked against the
 * same definitions (support/expected.ts) and against DuckDB running the same DAG on the same events. Also:
 * idempotent reruns, a failing statement rolled back inside BigQuery's transaction, the sensor over the commit
 * log, and EXPORT DATA to the emulator's Cloud Storage folder.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { systemClock } from '../../src/etl/clock.ts';
import { loadEtlConfig } from '../../src/etl/config.ts';
import { newCounters, runDag, type DagDeps } from '../../src/etl/dag.ts';
import { computeLevelMetrics, computeUserMetrics } from '../../src/etl/metrics.ts';
import { computeRevenueMetrics } from '../../src/etl/revenue.ts';
import { startScheduler } from '../../src/etl/scheduler.ts';
import { dayReadiness } from '../../src/etl/sensor.ts';
import { ensureEtlTables, type EtlWarehouse } from '../../src/etl/warehouse.ts';
import { ensureSchema } from '../../src/sinks/bigquery/ddl.ts';
import { readBigQueryStatusView } from '../../src/sinks/bigquery/status-view.ts';
import { ETL_TABLES } from '../../src/sinks/bigquery/tables.ts';
import { openBigQueryTestWarehouse, TABLE_OPTIONS, type BigQueryTestWarehouse } from './support/bigquery-world.ts';
import { silentLog, testConfig } from './support/config.ts';
import { compareRows, expectedLevelDailyStats, expectedLevelMetrics, expectedRevenueDaily, expectedUserMetrics, withKey } from './support/expected.ts';
import { startHook, type Hook } from './support/fakes.ts';
import { generateDay, insertEvents, openTestWarehouse, setWatermark, type GenEvent, type TestWarehouse } from './support/world.ts';

const ctx = inject('bigquery');
const D0 = '2026-11-20';
const D1 = '2026-11-21'; // a Saturday
const D2 = '2026-11-22'; // a Sunday
const WATERMARK = Date.parse('2026-11-23T00:05:00Z');
// The emulator maps gs://<bucket>/<path> onto a local folder; without one (an external emulator) the export
// cannot be looked at, and the DAG runs with the export skipped.
const BUCKET = 'gamestream-etl-test';
const PREFIX = `features-${randomBytes(4).toString('hex')}`;
const exportUri = ctx.gcsRoot === null ? '' : `gs://${BUCKET}/${PREFIX}`;

let b: BigQueryTestWarehouse;
let duck: TestWarehouse;
let all: GenEvent[];
let hook: Hook;

beforeAll(async () => {
  [b, duck] = await Promise.all([openBigQueryTestWarehouse(ctx, 'etl_bq'), openTestWarehouse()]);
  await Promise.all([ensureEtlTables(b.wh), ensureEtlTables(duck.wh)]);
  all = [...generateDay(D0, 1), ...generateDay(D1, 2), ...generateDay(D2, 3, 40)];
  await Promise.all([b.insertEvents(all), insertEvents(duck, all)]);
  await Promise.all([b.setWatermark(WATERMARK, false), setWatermark(duck, WATERMARK, false)]);
  hook = await startHook();
}, 120_000);

afterAll(async () => {
  await hook?.close();
  duck?.close();
  await b?.close();
});

function deps(wh: EtlWarehouse, env: Record<string, string> = {}): DagDeps {
  const config = testConfig(join(duck.dir, 'features'), { GAMESTREAM_ETL_EXPORT_URI: exportUri, GAMESTREAM_ETL_ML_WEBHOOK: hook.url, ...env });
  return { warehouse: wh, config, log: silentLog, clock: systemClock, fetch, counters: newCounters(), alertRetryDelayMs: 1 };
}

const bqRows = (sql: string): Promise<Record<string, unknown>[]> => b.wh.query(sql);
const bqCount = async (sql: string): Promise<number> => Number((await bqRows(sql))[0]!.n);
/** Every partition: the tables require a partition filter, as in production. */
const ALL_DAYS = `date >= DATE '2000-01-01'`;

/** Rows of both engines keyed alike: DATE as text, the key columns joined, run ids dropped. */
function keyed(rows: Record<string, unknown>[], cols: string[]): Record<string, unknown>[] {
  return withKey(rows, cols).map(({ run_id: _, ...r }) => r);
}

async function both(table: string, key: string[]): Promise<{ bigquery: Record<string, unknown>[]; duckdb: Record<string, unknown>[] }> {
  const bigquery = keyed(await bqRows(`SELECT * FROM ${table} WHERE ${ALL_DAYS}`), key);
  const duckdb = keyed(await duck.wh.query(`SELECT * REPLACE (strftime(date, '%Y-%m-%d') AS date) FROM ${table}`), key);
  return { bigquery, duckdb };
}

describe('metrics on BigQuery', () => {
  it.each([D1, D2])('level_metrics and user_daily_metrics match the definitions on %s, every row and column', async (day) => {
    const level = expectedLevelMetrics(all, day);
    // The data must tell exact quantiles from approximate ones: levels with several distinct move counts.
    expect(level.filter((r) => r.p50_moves !== null && r.p95_moves !== null && r.p95_moves > r.p50_moves).length).toBeGreaterThan(2);
    expect(level.some((r) => r.completions > r.attempts && r.attempts > 0)).toBe(true);
    expect(await computeLevelMetrics(b.wh, day)).toBe(level.length);
    // p50/p95 exactly too: BigQuery's APPROX_QUANTILES is approximate only on large inputs, and the emulator
    // computes it exactly (nearest rank), so the definition's exact values are expected here.
    expect(compareRows(await bqRows(`SELECT * FROM level_metrics WHERE date = DATE '${day}'`), level, 'level_id')).toEqual([]);

    const users = expectedUserMetrics(all, day);
    expect(await computeUserMetrics(b.wh, day)).toBe(users.length);
    expect(compareRows(await bqRows(`SELECT * FROM user_daily_metrics WHERE date = DATE '${day}'`), users, 'user_id')).toEqual([]);

    const revenue = expectedRevenueDaily(all, day);
    expect(await computeRevenueMetrics(b.wh, day)).toBe(revenue.length);
    const key = ['platform', 'country'];
    expect(compareRows(withKey(await bqRows(`SELECT * FROM revenue_daily WHERE date = DATE '${day}'`), key), withKey(revenue, key), 'key')).toEqual([]);
    // Exact on BigQuery too: NUMERIC, whose text is the decimal itself.
    const [sum] = await bqRows(`SELECT CAST(SUM(revenue_usd) AS STRING) AS s FROM revenue_daily WHERE date = DATE '${day}'`);
    const micros = Math.round(revenue.reduce((s, r) => s + r.revenue_usd, 0) * 1e6);
    expect(Number(sum!.s) * 1e6).toBe(micros);
  });
});

describe('the DAG on BigQuery and on DuckDB', () => {
  it('runs every task on both and stores the same level_metrics, user_daily_metrics and etl_checks', async () => {
    for (const day of [D1, D2]) {
      const rb = await runDag(deps(b.wh), day);
      const rd = await runDag(deps(duck.wh), day);
      expect(rb.status).toBe('success');
      expect(rd.status).toBe('success');
      expect(rb.tasks).toEqual({ ...rd.tasks, export_features: exportUri === '' ? 'skipped' : 'success', apply_retention: 'skipped', refresh_level_daily_stats: 'skipped' });
      const runs = await bqRows(`SELECT task, attempt, status, rows_written, error FROM etl_runs WHERE run_id = '${rb.runId}' ORDER BY task`);
      expect(runs.map((x) => `${x.task}:${x.status}`)).toEqual([
        'apply_retention:skipped', 'compute_level_metrics:success', 'compute_revenue_metrics:success', 'compute_user_metrics:success', 'dag:success', 'data_quality_check:success',
        `export_features:${exportUri === '' ? 'skipped' : 'success'}`, 'refresh_level_daily_stats:skipped', `trigger_ml_training:${day === D2 ? 'success' : 'skipped'}`,
        'wait_for_data:success',
      ]);
      expect(runs.find((x) => x.task === 'compute_level_metrics')!.rows_written).toBe(expectedLevelMetrics(all, day).length);
    }
    expect(hook.bodies.filter((x) => (x as { training_date?: string }).training_date === D2)).toHaveLength(2); // one per engine
    // The status page's view of etl_runs: the latest run (D2's) and the latest success, whoever ran them.
    const runs = (await readBigQueryStatusView(b.bq, `\`${ctx.project}.${b.id}\``)).etlRuns;
    expect(runs?.last).toMatchObject({ day: D2, status: 'success' });
    expect(runs?.last?.endedAtMs).toBeGreaterThan(runs!.last!.startedAtMs);
    expect(runs?.lastSuccessAtMs).toBe(runs?.last?.endedAtMs);

    const level = await both('level_metrics', ['date', 'level_id']);
    expect(level.bigquery.length).toBe(expectedLevelMetrics(all, D1).length + expectedLevelMetrics(all, D2).length);
    expect(compareRows(level.bigquery, level.duckdb, 'key')).toEqual([]);
    const users = await both('user_daily_metrics', ['date', 'user_id']);
    expect(compareRows(users.bigquery, users.duckdb, 'key')).toEqual([]);
    const revenue = await both('revenue_daily', ['date', 'platform', 'country']);
    expect(revenue.bigquery.length).toBe(expectedRevenueDaily(all, D1).length + expectedRevenueDaily(all, D2).length);
    expect(compareRows(revenue.bigquery, revenue.duckdb, 'key')).toEqual([]);
    // The seed's level_daily_stats: BigQuery's materialized view and DuckDB's table the DAG keeps, both as counted here.
    const stats = (rows: object[]) => withKey(rows.map((r) => ({ ...r, events: Number((r as { events: unknown }).events) })), ['event_date', 'level_id']);
    const expectedStats = [...expectedLevelDailyStats(all, D1), ...expectedLevelDailyStats(all, D2)];
    expect(expectedStats.some((r) => r.level_id === null) && expectedStats.filter((r) => r.level_id !== null).length).toBeGreaterThan(3);
    const want = stats(expectedStats);
    const [view] = await b.bq.dataset(b.id).table('level_daily_stats').getMetadata();
    expect(view.type).toBe('MATERIALIZED_VIEW');
    const days = `event_date IN (DATE '${D1}', DATE '${D2}')`;
    expect(compareRows(stats(await bqRows(`SELECT * FROM level_daily_stats WHERE ${days}`)), want, 'key')).toEqual([]);
    expect(compareRows(stats(await duck.wh.query(`SELECT * REPLACE (strftime(event_date, '%Y-%m-%d') AS event_date) FROM level_daily_stats WHERE ${days}`)), want, 'key')).toEqual([]);
    const checks = await both('etl_checks', ['date', 'check_name']);
    expect(checks.bigquery).toHaveLength(18);
    expect(compareRows(checks.bigquery, checks.duckdb, 'key')).toEqual([]);
    // D2's volume check compares with D1, the day before: history on BigQuery too.
    expect(checks.bigquery.find((c) => c.key === `${D2}|volume_vs_7d_mean`)).toMatchObject({ status: 'passed', passed: true });
  });

  it.skipIf(ctx.gcsRoot === null)('exports the features with EXPORT DATA; a rerun overwrites the same object', async () => {
    const folder = join(ctx.gcsRoot!, BUCKET, PREFIX, 'level_features', `date=${D1}`);
    expect(readdirSync(folder)).toEqual(['000000000000.parquet']);
    const read = async (): Promise<Record<string, unknown>[]> =>
      duck.wh.query(`SELECT * FROM read_parquet('${join(folder, '000000000000.parquet')}', hive_partitioning = false) ORDER BY level_id`);
    const expected = expectedLevelMetrics(all, D1).map((x) => ({
      level_id: x.level_id, pass_rate: x.pass_rate, avg_moves: x.avg_moves, p95_moves: x.p95_moves,
      retry_rate: x.retry_rate, booster_usage_rate: x.booster_usage_rate,
    }));
    const first = await read();
    expect(Object.keys(first[0]!)).toEqual(['level_id', 'pass_rate', 'avg_moves', 'p95_moves', 'retry_rate', 'booster_usage_rate']);
    expect(compareRows(first, expected, 'level_id')).toEqual([]);
    const r = await runDag(deps(b.wh), D1);
    expect(r.tasks.export_features).toBe('success');
    expect(readdirSync(folder)).toEqual(['000000000000.parquet']);
    expect(compareRows(await read(), expected, 'level_id')).toEqual([]);
  });

  it('skips export_features on BigQuery without GAMESTREAM_ETL_EXPORT_URI, saying why', async () => {
    const r = await runDag(deps(b.wh, { GAMESTREAM_ETL_EXPORT_URI: '' }), D1);
    expect(r.status).toBe('success');
    expect(r.tasks.export_features).toBe('skipped');
    const [row] = await bqRows(`SELECT error FROM etl_runs WHERE run_id = '${r.runId}' AND task = 'export_features'`);
    expect(row!.error).toMatch(/no GAMESTREAM_ETL_EXPORT_URI/);
  });
});

describe('idempotence and failures on BigQuery', () => {
  it('reruns and a backfill over done days replace the day: no duplicates, one history row per run', async () => {
    const snapshot = async (): Promise<number[]> => [
      await bqCount(`SELECT count(*) AS n FROM level_metrics WHERE ${ALL_DAYS}`),
      await bqCount(`SELECT count(*) AS n FROM user_daily_metrics WHERE ${ALL_DAYS}`),
      await bqCount(`SELECT count(*) AS n FROM etl_checks WHERE ${ALL_DAYS}`),
    ];
    await runDag(deps(b.wh), D1);
    const before = await snapshot();
    const dagRuns = await bqCount(`SELECT count(*) AS n FROM etl_runs WHERE task = 'dag' AND date = DATE '${D1}'`);
    await runDag(deps(b.wh), D1);
    const s = startScheduler({ warehouse: b.wh, config: deps(b.wh, { GAMESTREAM_ETL: 'off' }).config, log: silentLog });
    const results = await Promise.all([s.runDay(D1, { force: true }), s.runDay(D2, { force: true }), s.runDay(D1)]);
    await s.stop();
    expect(results.map((x) => x.status)).toEqual(['success', 'success', 'already_done']);
    expect(await snapshot()).toEqual(before);
    for (const [table, key] of [['level_metrics', 'level_id'], ['user_daily_metrics', 'user_id'], ['etl_checks', 'check_name']]) {
      expect(await bqCount(`SELECT count(*) AS n FROM (SELECT ${key}, date FROM ${table} WHERE ${ALL_DAYS}
        GROUP BY ${key}, date HAVING count(*) > 1)`), table).toBe(0);
    }
    expect(await bqCount(`SELECT count(*) AS n FROM etl_runs WHERE task = 'dag' AND date = DATE '${D1}'`)).toBe(dagRuns + 2);
    expect(await bqCount(`SELECT count(*) AS n FROM etl_runs WHERE status = 'running'`)).toBe(0);
  });

  it('a statement failing inside the replace transaction leaves the day as it was (BigQuery rolls back)', async () => {
    // The failure lands between the DELETE and the INSERT, inside the same multi-statement job.
    const failing: EtlWarehouse = {
      dialect: b.wh.dialect,
      query: (sql) => b.wh.query(sql),
      exec: (sql) => b.wh.exec(sql.replace('INSERT INTO level_metrics', "SELECT ERROR('injected failure');\nINSERT INTO level_metrics")),
    };
    const before = await bqRows(`SELECT * FROM level_metrics WHERE date = DATE '${D1}'`);
    expect(before.length).toBeGreaterThan(0);
    const r = await runDag(deps(failing, { GAMESTREAM_ETL_RETRIES: '1' }), D1);
    expect(r.status).toBe('failed');
    expect(r.tasks.compute_level_metrics).toBe('failed');
    expect(r.tasks.data_quality_check).toBe('upstream_failed');
    const attempts = await bqRows(`SELECT attempt, status, error FROM etl_runs WHERE run_id = '${r.runId}' AND task = 'compute_level_metrics' ORDER BY attempt`);
    expect(attempts.map((a) => `${a.attempt}:${a.status}`)).toEqual(['1:failed', '2:failed']);
    expect(String(attempts[1]!.error)).toContain('injected failure');
    expect(compareRows(await bqRows(`SELECT * FROM level_metrics WHERE date = DATE '${D1}'`), before, 'level_id')).toEqual([]);
  });
});

describe('wait_for_data on BigQuery', () => {
  it('reads the watermark from the commit log view, with the lateness and end-of-input rules', async () => {
    const s = await openBigQueryTestWarehouse(ctx, 'etl_bq_sensor');
    try {
      const day = '2026-11-10';
      const end = Date.parse('2026-11-11T00:00:00Z');
      // Nothing has written to the dataset: no source can bring events of the day.
      expect(await dayReadiness(s.wh, day, { allowedLatenessMs: 60_000, nowMs: Date.now() })).toMatchObject({ complete: false, noData: true, eventRows: 0 });
      await s.insertEvents(generateDay(day, 7, 3));
      const rows = (await dayReadiness(s.wh, day, { allowedLatenessMs: 60_000, nowMs: Date.now() })).eventRows;
      expect(rows).toBeGreaterThan(0);
      await s.setWatermark(end + 30_000, false); // past midnight, within the allowed lateness
      expect(await dayReadiness(s.wh, day, { allowedLatenessMs: 60_000, nowMs: Date.now() })).toMatchObject({ complete: false, noData: false, watermarkReady: false, eventRows: rows });
      await s.setWatermark(end + 60_000, false);
      expect(await dayReadiness(s.wh, day, { allowedLatenessMs: 60_000, nowMs: Date.now() })).toMatchObject({ complete: true, noData: false, watermarkReady: true, eventRows: rows, waitingFor: [] });
      // A file that ended before midnight: its watermark is behind, but it ended and wrote events of the day.
      await s.setWatermark(end - 3_600_000, true);
      expect((await dayReadiness(s.wh, day, { allowedLatenessMs: 60_000, nowMs: Date.now() })).complete).toBe(true);
      expect((await dayReadiness(s.wh, '2026-11-12', { allowedLatenessMs: 60_000, nowMs: Date.now() })).complete).toBe(false);
    } finally {
      await s.close();
    }
  });
});

it('string literals survive quotes, backslashes and newlines (error texts in etl_runs)', async () => {
  const text = "it's a \\ back\nslash\ttab \"quoted\" ü";
  const { str } = b.wh.dialect!;
  const [row] = await bqRows(`SELECT ${str(text)} AS s`);
  expect(row!.s).toBe(text);
});

describe('GAMESTREAM_ETL_EXPORT_URI', () => {
  it('takes gs://bucket[/prefix] or empty, and says what is allowed otherwise', () => {
    expect(loadEtlConfig({}).exportUri).toBeNull();
    expect(loadEtlConfig({ GAMESTREAM_ETL_EXPORT_URI: 'gs://my-bucket/ml/features/' }).exportUri).toBe('gs://my-bucket/ml/features');
    for (const bad of ['s3://b/x', 'gs://', 'gs://B/x', 'gs://b/x/*', "gs://bucket/it's", 'gs://bucket//x', '/local/dir']) {
      expect(() => loadEtlConfig({ GAMESTREAM_ETL_EXPORT_URI: bad }), bad).toThrow(/GAMESTREAM_ETL_EXPORT_URI=.* is not valid: expected gs:\/\/<bucket>/);
    }
  });
});

it('user_daily_metrics made by an older gamestream (revenue_usd FLOAT64) is rewritten with NUMERIC, every row kept', async () => {
  const old = await openBigQueryTestWarehouse(ctx, 'etl_bq_old');
  try {
    const spec = ETL_TABLES.find((t) => t.name === 'user_daily_metrics')!;
    const fields = spec.fields.map((f) => (f.name === 'revenue_usd' ? { ...f, type: 'FLOAT64' as const } : f));
    await ensureSchema(old.bq, old.target, [{ ...spec, fields }], TABLE_OPTIONS, false);
    await old.wh.exec(`INSERT INTO user_daily_metrics (user_id, date, sessions, events, revenue_usd)
      VALUES ('u1', DATE '2026-11-20', 1, 5, 74.85000000000001), ('u2', DATE '2026-11-21', 2, 9, 0.1)`);
    await ensureEtlTables(old.wh);
    const [md] = await old.bq.dataset(old.id).table('user_daily_metrics').getMetadata();
    expect(md.schema.fields.find((f: { name: string }) => f.name === 'revenue_usd').type).toBe('NUMERIC');
    expect(md.timePartitioning).toMatchObject({ type: 'DAY', field: 'date' });
    const rows = await old.wh.query(`SELECT user_id, events, CAST(revenue_usd AS STRING) AS r FROM user_daily_metrics WHERE ${ALL_DAYS} ORDER BY user_id`);
    // As text, parsed: BigQuery writes 74.85, the emulator (DECIMAL(18,3) underneath) 74.850.
    expect(rows.map((x) => ({ ...x, r: Number(x.r) }))).toEqual([{ user_id: 'u1', events: 5, r: 74.85 }, { user_id: 'u2', events: 9, r: 0.1 }]);
    await ensureEtlTables(old.wh); // a second start finds nothing to do
  } finally {
    await old.close();
  }
});

it('the BigQuery ETL tables are created with the DDL the engine uses (partitioned, clustered)', async () => {
  const [md] = await b.bq.dataset(b.id).table('level_metrics').getMetadata();
  expect(md.timePartitioning).toMatchObject({ type: 'DAY', field: 'date' });
  expect(md.clustering).toEqual({ fields: ['level_id'] });
});
