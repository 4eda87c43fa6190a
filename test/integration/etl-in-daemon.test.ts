// The scheduler actor inside a running daemon: a Kafka topic carries yesterday's game day and one event of
// today that moves the watermark past it. The daemon (real broker, DuckDB) consumes it and, with catch-up on,
// its own scheduler runs the daily DAG for yesterday while the stream keeps running. The metrics it reports
// say so, and after a SIGTERM the warehouse holds yesterday's level and user metrics exactly as computed
// independently, the run history and the Parquet export.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { kafkaConn, produce } from '../support/kafka/client.ts';
import { createTopics } from '../support/kafka/dataset.ts';
import { ENGINE_MAIN, nodeBinary, REPO_ROOT } from '../support/truth/engine.ts';
import { compareRows, expectedLevelMetrics, expectedUserMetrics, micros } from '../etl/support/expected.ts';
import { generateDay, type GenEvent } from '../etl/support/world.ts';

const TIMEOUT = 120_000;

function rawEvent(e: GenEvent): string {
  return JSON.stringify({
    id: e.event_id, user_id: e.user_id, session_id: e.session_id, timestamp: new Date(e.ts_ms).toISOString(), type: e.event_type,
    parameters: e.parameters, platform: 'ios', app_version: '3.1.0', ip_address: '8.8.8.8', device_model: 'iPhone 12',
  });
}

describe('the scheduler actor in a running daemon', { timeout: TIMEOUT }, () => {
  const brokers = inject('kafkaBrokers');
  const kafka = kafkaConn(brokers);
  const dir = mkdtempSync(join(tmpdir(), 'gamestream-etl-daemon-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs yesterday\'s DAG while it streams, with the numbers the independent computation gives', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const day = new Date(Date.parse(`${today}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    // In event-time order, as a live stream carries them (the generator writes one user's day after another).
    // The engine stamps the user state itself: on one day, a player is a payer once it bought something with a
    // positive price, and every event is on its install day.
    const generated = generateDay(day, 77, 12);
    const payers = new Set(generated.filter((e) => e.event_type === 2001 && (micros(e.parameters.price_usd) ?? 0) > 0).map((e) => e.user_id));
    const events = generated.map((e) => ({ ...e, is_paying_user: payers.has(e.user_id), days_since_install: 0 })).sort((a, b) => a.ts_ms - b.ts_ms);
    const topic = `etl-daemon-${Date.now()}`;
    await createTopics(kafka, [{ name: topic, partitions: 1 }]);
    // Today's first minutes: the watermark passes the end of yesterday plus the allowed lateness.
    const closer: GenEvent = { ...events[0]!, event_id: `${today}-closer`, event_type: 3001, ts_ms: Date.parse(`${today}T00:05:00Z`), parameters: {} };
    await produce(kafka, topic, [...events, closer].map((e) => ({ key: e.user_id, value: rawEvent(e) })));

    const warehouse = join(dir, 'wh.duckdb');
    const exportDir = join(dir, 'features');
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GAMESTREAM_')) env[k] = v;
    Object.assign(env, {
      GAMESTREAM_SOURCE: 'kafka', GAMESTREAM_KAFKA_BROKERS: brokers, GAMESTREAM_KAFKA_TOPIC: topic, GAMESTREAM_KAFKA_GROUP: `g-${topic}`,
      GAMESTREAM_KAFKA_RAW_PARTITIONS: '1', GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
      GAMESTREAM_WAREHOUSE: `duckdb:${warehouse}`, GAMESTREAM_WORKERS: '1', GAMESTREAM_METRICS_PORT: '0', GAMESTREAM_LOG_LEVEL: process.env.ETL_TEST_LOG_LEVEL ?? 'warn',
      GAMESTREAM_FLUSH_INTERVAL: '200ms',
      GAMESTREAM_ETL: 'on', GAMESTREAM_ETL_SCHEDULE: '* * * * *', GAMESTREAM_ETL_CATCHUP: 'on', GAMESTREAM_ETL_POKE_INTERVAL: '200ms',
      GAMESTREAM_ETL_EXPORT_DIR: exportDir,
    });
    const child = spawn(nodeBinary(), [ENGINE_MAIN, 'run'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const describeRun = (): string => `--- stdout ---\n${stdout.slice(-2000)}\n--- stderr ---\n${stderr.slice(-2000)}`;
    try {
      // The daemon's own metrics say when its scheduler finished the run.
      let metrics = '';
      const deadline = Date.now() + 60_000;
      for (;;) {
        const url = /status page on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
        if (url) metrics = await fetch(`${url}/metrics`).then((r) => r.text()).catch(() => '');
        if (/gamestream_etl_task_runs_total\{task="dag",status="success"\} [1-9]/.test(metrics)) break;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no successful ETL run\n${metrics.split('\n').filter((l) => l.includes('etl')).join('\n')}\n${describeRun()}`);
        await sleep(250);
      }
      // The stream kept running meanwhile: the daemon is still up, and everything it read is in.
      expect(child.exitCode, describeRun()).toBeNull();
      expect(metrics).toMatch(/gamestream_etl_enabled 1/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, describeRun()).toBe(0);

    const db = await DuckDBInstance.create(warehouse, { access_mode: 'READ_ONLY' });
    const conn = await db.connect();
    try {
      const rows = async (sql: string): Promise<Record<string, unknown>[]> =>
        (await conn.runAndReadAll(sql)).getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
      const level = await rows(`SELECT * REPLACE (strftime(date, '%Y-%m-%d') AS date) FROM level_metrics WHERE date = DATE '${day}'`);
      expect(compareRows(level, expectedLevelMetrics(events, day), 'level_id')).toEqual([]);
      const users = await rows(`SELECT * REPLACE (strftime(date, '%Y-%m-%d') AS date) FROM user_daily_metrics WHERE date = DATE '${day}'`);
      expect(compareRows(users, expectedUserMetrics(events, day), 'user_id')).toEqual([]);
      const runs = await rows(`SELECT task, status FROM etl_runs WHERE date = DATE '${day}' AND status = 'success'`);
      expect(runs.map((r) => r.task).sort()).toEqual(expect.arrayContaining(['compute_level_metrics', 'compute_user_metrics', 'data_quality_check', 'export_features', 'wait_for_data']));
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    const out = join(exportDir, 'level_features', `date=${day}`);
    expect(existsSync(out) && readdirSync(out).some((f) => f.endsWith('.parquet'))).toBe(true);
  });
});
