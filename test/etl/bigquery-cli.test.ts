/**
 * The ETL on BigQuery as an operator runs it, in child processes configured by env vars: `gamestream etl
 * run | backfill | status` against a dataset, and the daemon with GAMESTREAM_ETL=on, whose scheduler creates the
 * ETL tables and runs its catch-up day in BigQuery.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freshDataset, type FreshDataset } from '../support/bigquery/client.ts';
import { ENGINE_MAIN, nodeBinary, REPO_ROOT, runEngine } from '../support/truth/engine.ts';
import { openBigQueryTestWarehouse, type BigQueryTestWarehouse } from './support/bigquery-world.ts';
import { expectedLevelMetrics } from './support/expected.ts';
import { generateDay, type GenEvent } from './support/world.ts';

const ctx = inject('bigquery');
const D1 = '2026-11-18';
const D2 = '2026-11-19';
let b: BigQueryTestWarehouse;
let all: GenEvent[];
const extra: FreshDataset[] = [];

beforeAll(async () => {
  b = await openBigQueryTestWarehouse(ctx, 'etl_cli');
  all = [...generateDay(D1, 31), ...generateDay(D2, 32)];
  await b.insertEvents(all);
  await b.setWatermark(Date.parse('2026-11-20T06:00:00Z'), false);
}, 60_000);

afterAll(async () => {
  await b?.close();
  for (const d of extra) await d.cleanup().catch(() => undefined);
});

function settings(dataset: string): Record<string, string> {
  return {
    GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${dataset}`,
    GAMESTREAM_BIGQUERY_ENDPOINT: ctx.restEndpoint,
    GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: ctx.writeEndpoint,
    GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS: '0',
    GAMESTREAM_ETL_SENSOR_TIMEOUT: '0',
    GAMESTREAM_ETL_RETRY_DELAY: '1ms',
    GAMESTREAM_LOG_LEVEL: 'silent',
  };
}

/** `gamestream etl …` in its own process, with only the given GAMESTREAM_* settings. */
function etl(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(GAMESTREAM_|VITEST|NODE_|TINYPOOL)/.test(k)));
  const child = spawn(nodeBinary(), [ENGINE_MAIN, 'etl', ...args], { cwd: REPO_ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const count = async (sql: string): Promise<number> => Number((await b.wh.query(sql))[0]!.n);

describe('gamestream etl on BigQuery', { timeout: 90_000 }, () => {
  it('runs a day, backfills (done days skipped), and shows the runs', async () => {
    const run = await etl(['run', '--date', D1], settings(b.id));
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`${D1}: success`);
    expect(run.code).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM level_metrics WHERE date = DATE '${D1}'`)).toBe(expectedLevelMetrics(all, D1).length);

    const backfill = await etl(['backfill', '--from', D1, '--to', D2], settings(b.id));
    expect(backfill.code).toBe(0);
    expect(backfill.stderr).toMatch(new RegExp(`1/2 ${D1} already done[\\s\\S]*2/2 ${D2} success`));
    expect(await count(`SELECT count(*) AS n FROM etl_runs WHERE task = 'dag' AND status = 'success'`)).toBe(2);

    const status = await etl(['status', '--limit', '3'], settings(b.id));
    expect(status.code).toBe(0);
    const [daysPart, tasksPart] = status.stdout.trim().split('\n\n');
    const days = daysPart!.split('\n');
    expect(days[1]).toMatch(/^date\s+status\s+started_at\s+seconds\s+failed_tasks\s+failed_checks\s+warnings\s+run_id$/);
    expect(days[3]).toMatch(new RegExp(`^${D2}\\s+success\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+[\\d.]+\\s+0\\s+0\\s+\\d+\\s+etl-${D2}-`));
    expect(days.slice(3)).toHaveLength(2);
    const lines = tasksPart!.split('\n');
    expect(lines[1]).toMatch(/^date\s+task\s+attempt\s+status\s+started_at\s+seconds\s+rows\s+run_id$/);
    expect(lines[3]).toMatch(new RegExp(`^${D2}\\s+dag\\s+1\\s+success\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+[\\d.]+\\s+etl-${D2}-`));
    expect(lines.slice(3)).toHaveLength(3);
  });

  it('says so when the dataset has no gamestream tables (exit 1)', async () => {
    const empty = await freshDataset(b.bq, 'etl_cli_empty');
    extra.push(empty);
    const r = await etl(['status'], settings(empty.id));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no gamestream tables \(missing events, .*\): run the daemon on it first/);
  });
});

describe('the daemon with GAMESTREAM_ETL=on and a BigQuery warehouse', { timeout: 120_000 }, () => {
  it('starts the scheduler: the ETL tables are created and the catch-up day runs in BigQuery', async () => {
    const ds = await freshDataset(b.bq, 'etl_daemon');
    extra.push(ds);
    // Catch-up runs the latest due day at once (yesterday, with a midnight schedule). The generator writes
    // today's events, so the sensor (timeout 0) fails that day: a short, certain outcome to look for.
    let done = false;
    const poll = setInterval(() => {
      b.bq.query({ query: `SELECT count(*) AS n FROM \`${ctx.project}.${ds.id}.etl_runs\` WHERE task = 'dag' AND status != 'running'` })
        .then(([rows]) => { if (Number((rows[0] as { n: number } | undefined)?.n) > 0) done = true; }, () => undefined);
    }, 500);
    const dedupeDir = mkdtempSync(join(tmpdir(), 'gs-etl-dedupe-'));
    try {
      const r = await runEngine({
        ...settings(ds.id),
        GAMESTREAM_SOURCE: 'generator', GAMESTREAM_GENERATOR_RATE: '200', GAMESTREAM_GENERATOR_SEED: '7',
        GAMESTREAM_WORKERS: '1', GAMESTREAM_PARTITIONS: '2', GAMESTREAM_PROGRESS_INTERVAL: '200ms',
        GAMESTREAM_ETL: 'on', GAMESTREAM_ETL_SCHEDULE: '0 0 * * *', GAMESTREAM_ETL_CATCHUP: 'on', GAMESTREAM_LOG_LEVEL: 'warn',
        GAMESTREAM_DEDUPE_DIR: dedupeDir,
      }, 100_000, () => done, 'SIGTERM');
      expect(r.timedOut, r.stderr.slice(-2000)).toBe(false);
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      expect(r.stdout).toContain('export_features is skipped on BigQuery until GAMESTREAM_ETL_EXPORT_URI');
    } finally {
      clearInterval(poll);
      rmSync(dedupeDir, { recursive: true, force: true });
    }
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const [rows] = await b.bq.query({ query: `SELECT task, status, error FROM \`${ctx.project}.${ds.id}.etl_runs\`
      WHERE date = DATE '${yesterday}' ORDER BY task` });
    expect((rows as { task: string; status: string }[]).map((x) => `${x.task}:${x.status}`)).toEqual(['dag:failed', 'wait_for_data:failed']);
    expect(String((rows as { error: string }[])[1]!.error)).toMatch(/^etl_sensor_timeout/);
    const [md] = await b.bq.dataset(ds.id).table('level_metrics').getMetadata();
    expect(md.timePartitioning).toMatchObject({ type: 'DAY', field: 'date' });
  });
});
