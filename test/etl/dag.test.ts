/** The whole DAG over a real DuckDB file: success path, idempotence, retries with alerts, quality, export. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/etl/clock.ts';
import { newCounters, runDag, type DagDeps } from '../../src/etl/dag.ts';
import { featurePath } from '../../src/etl/outputs.ts';
import { startScheduler } from '../../src/etl/scheduler.ts';
import { ensureEtlTables, weekday, type EtlWarehouse } from '../../src/etl/warehouse.ts';
import { testConfig, silentLog } from './support/config.ts';
import { compareRows, expectedLevelMetrics } from './support/expected.ts';
import { startHook, type Hook } from './support/fakes.ts';
import { generateDay, insertDeadLetters, insertEvents, openTestWarehouse, setWatermark, type GenEvent, type TestWarehouse } from './support/world.ts';

const D1 = '2026-11-21'; // a Saturday
const D2 = '2026-11-22'; // a Sunday
let t: TestWarehouse;
let all: GenEvent[];
let hook: Hook;

beforeAll(async () => {
  expect([weekday(D1), weekday(D2)]).toEqual([6, 0]);
  t = await openTestWarehouse();
  await ensureEtlTables(t.wh);
  all = [...generateDay(D1, 11), ...generateDay(D2, 12)];
  await insertEvents(t, all);
  await setWatermark(t, Date.parse('2026-11-23T00:05:00Z'), false);
  hook = await startHook();
});
afterAll(async () => {
  await hook.close();
  t.close();
});

function deps(wh: EtlWarehouse, env: Record<string, string> = {}): DagDeps {
  return { warehouse: wh, config: testConfig(join(t.dir, 'features'), env), log: silentLog, clock: systemClock, fetch, counters: newCounters(), alertRetryDelayMs: 1 };
}

const count = async (sql: string): Promise<number> => Number((await t.wh.query(sql))[0].n);

describe('a day run', () => {
  it('runs every task, records runs and checks, and exports Parquet that reads back', async () => {
    const r = await runDag(deps(t.wh), D1);
    expect(r.status).toBe('success');
    expect(r.tasks).toEqual({
      wait_for_data: 'success', compute_level_metrics: 'success', compute_user_metrics: 'success', compute_revenue_metrics: 'success',
      refresh_level_daily_stats: 'success', data_quality_check: 'success', trigger_ml_training: 'skipped', export_features: 'success', apply_retention: 'success',
    });
    const runs = await t.wh.query(`SELECT task, attempt, status, rows_written, error FROM etl_runs WHERE run_id = '${r.runId}' ORDER BY task`);
    expect(runs.map((x) => `${x.task}:${x.status}`)).toEqual([
      'apply_retention:success', 'compute_level_metrics:success', 'compute_revenue_metrics:success', 'compute_user_metrics:success', 'dag:success', 'data_quality_check:success',
      'export_features:success', 'refresh_level_daily_stats:success', 'trigger_ml_training:skipped', 'wait_for_data:success',
    ]);
    const checks = await t.wh.query(`SELECT check_name, status FROM etl_checks WHERE date = DATE '${D1}' ORDER BY check_name`);
    expect(checks.map((c) => `${c.check_name}:${c.status}`)).toEqual([
      'dlq_rate:passed', 'has_data:passed', 'no_null_level_id:passed', 'null_rate_country:passed',
      'null_rate_device_category:passed', 'pass_rate_in_range:passed', 'revenue_matches_user_metrics:passed', 'volume_drop:skipped: no history', 'volume_vs_7d_mean:skipped: no history',
    ]);

    const file = featurePath(join(t.dir, 'features'), D1);
    expect(existsSync(file)).toBe(true);
    const back = await t.wh.query(`SELECT * FROM read_parquet('${file}', hive_partitioning = false) ORDER BY level_id`);
    const expected = expectedLevelMetrics(all, D1).map((x) => ({
      level_id: x.level_id, pass_rate: x.pass_rate, avg_moves: x.avg_moves, p95_moves: x.p95_moves,
      retry_rate: x.retry_rate, booster_usage_rate: x.booster_usage_rate,
    }));
    expect(back.map((x) => Object.keys(x))[0]).toEqual(['level_id', 'pass_rate', 'avg_moves', 'p95_moves', 'retry_rate', 'booster_usage_rate']);
    expect(compareRows(back, expected, 'level_id')).toEqual([]);
  });

  it('on a Sunday POSTs the training request; the volume check uses the previous day', async () => {
    const r = await runDag(deps(t.wh, { GAMESTREAM_ETL_ML_WEBHOOK: hook.url }), D2);
    expect(r.status).toBe('success');
    expect(r.tasks.trigger_ml_training).toBe('success');
    expect(hook.bodies).toContainEqual({ pipeline_name: 'difficulty-prediction-training', training_date: D2, lookback_days: 30 });
    const [v] = await t.wh.query(`SELECT status, threshold FROM etl_checks WHERE date = DATE '${D2}' AND check_name = 'volume_vs_7d_mean'`);
    expect(v.status).toBe('passed');
    expect(v.threshold).toBe(all.filter((e) => new Date(e.ts_ms).toISOString().startsWith(D1)).length);
  });
});

describe('idempotence', () => {
  it('rerunning a day, twice, and backfilling over existing days never duplicates', async () => {
    const snapshot = async (): Promise<number[]> => [
      await count(`SELECT count(*) AS n FROM level_metrics`),
      await count(`SELECT count(*) AS n FROM user_daily_metrics`),
      await count(`SELECT count(*) AS n FROM revenue_daily`),
      await count(`SELECT count(*) AS n FROM etl_checks`),
    ];
    await runDag(deps(t.wh), D1);
    const before = await snapshot();
    await runDag(deps(t.wh), D1);
    await runDag(deps(t.wh), D1);
    expect(await snapshot()).toEqual(before);
    const s = startScheduler({ warehouse: t.wh, config: testConfig(join(t.dir, 'features'), { GAMESTREAM_ETL: 'off' }), log: silentLog });
    const results = await Promise.all([s.runDay(D1, { force: true }), s.runDay(D2, { force: true }), s.runDay(D1)]);
    await s.stop();
    expect(results.map((x) => x.status)).toEqual(['success', 'success', 'already_done']);
    expect(await snapshot()).toEqual(before);
    expect(await count(`SELECT count(*) AS n FROM (SELECT level_id, date FROM level_metrics GROUP BY ALL HAVING count(*) > 1)`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM (SELECT user_id, date FROM user_daily_metrics GROUP BY ALL HAVING count(*) > 1)`)).toBe(0);
  });
});

describe('failures', () => {
  it('retries a failing task, then marks it failed, counts it and POSTs the alert', async () => {
    // A warehouse whose level_metrics write always fails, as a full disk would.
    const broken: EtlWarehouse = {
      query: (sql) => t.wh.query(sql),
      exec: (sql) => (sql.includes('INSERT INTO level_metrics') ? Promise.reject(new Error('disk full')) : t.wh.exec(sql)),
    };
    const alerts = await startHook((i) => (i === 0 ? 500 : 200)); // the first alert POST fails and is retried
    try {
      const d = deps(broken, { GAMESTREAM_ETL_ALERT_WEBHOOK: alerts.url, GAMESTREAM_ETL_RETRIES: '2' });
      const r = await runDag(d, D1);
      expect(r.status).toBe('failed');
      expect(r.tasks.compute_level_metrics).toBe('failed');
      expect(r.tasks.compute_user_metrics).toBe('success');
      expect(r.tasks.data_quality_check).toBe('upstream_failed');
      expect(r.tasks.export_features).toBe('upstream_failed');
      const attempts = await t.wh.query(`SELECT attempt, status, error FROM etl_runs
        WHERE run_id = '${r.runId}' AND task = 'compute_level_metrics' ORDER BY attempt`);
      expect(attempts.map((a) => `${a.attempt}:${a.status}`)).toEqual(['1:failed', '2:failed', '3:failed']);
      expect(String(attempts[2].error)).toContain('disk full');
      expect(d.counters).toMatchObject({ tasksFailed: 1, runsFailed: 1, alertsSent: 1 });
      expect(alerts.bodies).toHaveLength(2);
      expect(alerts.bodies[1]).toMatchObject({ event: 'etl_task_failed', run_id: r.runId, date: D1, task: 'compute_level_metrics', attempts: 3 });
      // The failed write left the earlier rows in place: the transaction rolled back.
      expect(await count(`SELECT count(*) AS n FROM level_metrics WHERE date = DATE '${D1}'`)).toBe(expectedLevelMetrics(all, D1).length);
    } finally {
      await alerts.close();
    }
  });

  it('a run history that cannot be written: tried again, and when it stays unwritable the run fails loudly, never silently', async () => {
    // The run's final row is refused once (a concurrent update of etl_runs): tried again, the run is recorded.
    let refusals = 1;
    const once: EtlWarehouse = {
      query: (sql) => t.wh.query(sql),
      exec: (sql) => (/UPDATE etl_runs[\s\S]*task = 'dag'/.test(sql) && refusals-- > 0 ? Promise.reject(new Error('concurrent update')) : t.wh.exec(sql)),
    };
    const d1 = deps(once);
    const r1 = await runDag(d1, D1);
    expect(r1.status).toBe('success');
    expect(await t.wh.query(`SELECT status FROM etl_runs WHERE run_id = '${r1.runId}' AND task = 'dag'`)).toEqual([{ status: 'success' }]);
    expect(d1.counters).toMatchObject({ runsSucceeded: 1, runsFailed: 0 });
    // Refused for good at the end: the run fails with an alert and a count, its row stays 'running' (not done).
    const alerts = await startHook();
    try {
      const never: EtlWarehouse = {
        query: (sql) => t.wh.query(sql),
        exec: (sql) => (/UPDATE etl_runs[\s\S]*task = 'dag'/.test(sql) ? Promise.reject(new Error('etl_runs is read-only')) : t.wh.exec(sql)),
      };
      const d2 = deps(never, { GAMESTREAM_ETL_ALERT_WEBHOOK: alerts.url });
      const r2 = await runDag(d2, D1);
      expect(r2.status).toBe('failed');
      expect(d2.counters).toMatchObject({ runsSucceeded: 0, runsFailed: 1 });
      expect(alerts.bodies).toEqual([expect.objectContaining({ event: 'etl_run_failed', run_id: r2.runId, date: D1, error: expect.stringContaining('etl_runs is read-only') })]);
      expect(await t.wh.query(`SELECT status FROM etl_runs WHERE run_id = '${r2.runId}' AND task = 'dag'`)).toEqual([{ status: 'running' }]);
      // Its start cannot be written: nothing runs, and the failure is counted and alerted too.
      const noStart: EtlWarehouse = {
        query: (sql) => t.wh.query(sql),
        exec: (sql) => (/INSERT INTO etl_runs[\s\S]*'dag'/.test(sql) ? Promise.reject(new Error('no space left')) : t.wh.exec(sql)),
      };
      const d3 = deps(noStart, { GAMESTREAM_ETL_ALERT_WEBHOOK: alerts.url });
      await expect(runDag(d3, D1)).rejects.toThrow('no space left');
      expect(d3.counters).toMatchObject({ runsFailed: 1 });
      expect(alerts.bodies[1]).toMatchObject({ event: 'etl_run_failed', date: D1, error: expect.stringContaining('no space left') });
      // A task whose own history row cannot be written fails that attempt, and is tried again.
      let taskRefusals = 1;
      const taskOnce: EtlWarehouse = {
        query: (sql) => t.wh.query(sql),
        exec: (sql) => (/INSERT INTO etl_runs[\s\S]*'compute_level_metrics'/.test(sql) && taskRefusals-- > 0 ? Promise.reject(new Error('busy')) : t.wh.exec(sql)),
      };
      const r4 = await runDag(deps(taskOnce), D1);
      expect(r4.status).toBe('success');
    } finally {
      await alerts.close();
    }
  });

  it('fails data_quality_check when the dead-letter rate of the day reaches 1%', async () => {
    const day = '2026-11-25';
    const evs = generateDay(day, 99, 5);
    await insertEvents(t, evs);
    await setWatermark(t, Date.parse('2026-11-27T00:00:00Z'), false);
    await insertDeadLetters(t, Array.from({ length: Math.ceil(evs.length / 90) }, (_, i) => Date.parse(`${day}T10:00:00Z`) + i));
    const d = deps(t.wh, { GAMESTREAM_ETL_RETRIES: '0' });
    const r = await runDag(d, day);
    expect(r.tasks.data_quality_check).toBe('failed');
    const [c] = await t.wh.query(`SELECT passed, value, threshold FROM etl_checks WHERE date = DATE '${day}' AND check_name = 'dlq_rate'`);
    expect(c.passed).toBe(false);
    expect(c.value as number).toBeGreaterThanOrEqual(0.01);
    // The day before (D2, with the training) has one third of this volume: the volume check fails too.
    const [v] = await t.wh.query(`SELECT passed FROM etl_checks WHERE date = DATE '${day}' AND check_name = 'volume_vs_7d_mean'`);
    expect(v.passed).toBe(false);
  });
});
