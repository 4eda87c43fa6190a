/**
 * The supervisor in the test's own process (its worker threads too), on a small in-memory source and an
 * embedded DuckDB warehouse: the run's totals match the warehouse, a second run over the same source skips what
 * the warehouse has, and a worker that crashes is restarted with nothing lost or doubled. The CLI tests
 * (supervisor.test.ts and the integration suites) run the same engine as a separate process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { Supervisor } from '../../src/actors/supervisor.ts';
import { spawnWorkerThread, type SpawnThread, type WorkerThread } from '../../src/actors/worker-slot.ts';
import { loadFaults } from '../../src/config/faults.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { GamestreamError } from '../../src/errors.ts';
import { IdIndex } from '../../src/dedupe/id-index.ts';
import { TableFiles } from '../../src/enrich/tables.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { DuckDbWarehouse } from '../../src/sinks/duckdb/duckdb-warehouse.ts';
import { MemorySource, traffic } from '../support/memory-source.ts';
import { sampleValue } from '../observability/prom-text.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-sup-inproc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });

async function runOnce(wh: string, env: Record<string, string> = {}, said: string[] = [], o: { source?: string; metrics?: Metrics; make?: (name: string) => MemorySource; spawnThread?: SpawnThread } = {}): Promise<{ events: number; duplicates: number; deadLetters: number; restarts: number }> {
  const config = loadConfig({
    GAMESTREAM_WAREHOUSE: `duckdb:${wh}`, GAMESTREAM_PARTITIONS: '4', GAMESTREAM_WORKERS: '2', GAMESTREAM_GEOIP_DB: 'off',
    GAMESTREAM_DEVICE_TABLE: 'off', GAMESTREAM_IDLE_TIMEOUT: '1h', GAMESTREAM_PROGRESS_INTERVAL: '0', GAMESTREAM_BATCH_RECORDS: '40', ...env,
  });
  const tables = await TableFiles.open({ geoipPath: null, devicePath: null });
  const source = o.source ?? 'memory:test';
  const warehouse = new DuckDbWarehouse({ path: wh, source, maxEventBytes: config.maxEventBytes });
  const index = new IdIndex({ dir: `${wh}.dedupe`, setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: config.dedupeHorizonMs, filterBytes: config.dedupeFilterBytes, log });
  const spoolDir = mkdtempSync(join(dir, 'spool-'));
  const faults = loadFaults(env, config.workers);
  const sup = new Supervisor({ config, faults, source: o.make?.(source) ?? new MemorySource(traffic(), { name: source }), warehouse, tables, spoolDir, log, say: (line) => said.push(line), index, metrics: o.metrics, spawnThread: o.spawnThread });
  const t = await sup.run();
  return { events: t.events, duplicates: t.duplicates, deadLetters: t.deadLetters, restarts: t.workerRestarts };
}

async function stored(wh: string): Promise<{ rows: number; ids: number }> {
  const inst = await DuckDBInstance.create(wh, { access_mode: 'READ_ONLY' });
  const conn = await inst.connect();
  try {
    const [row] = (await conn.runAndReadAll('SELECT count(*), count(DISTINCT event_id) FROM events')).getRows();
    return { rows: Number(row![0]), ids: Number(row![1]) };
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

describe('supervisor, in process', { timeout: 60_000 }, () => {
  const expected = { events: 600 - 6 - 12, duplicates: 12, deadLetters: 6 };

  it('runs a source to its end into the warehouse, and a second run over it adds nothing', async () => {
    const wh = join(dir, 'a.duckdb');
    expect(await runOnce(wh)).toEqual({ ...expected, restarts: 0 });
    expect(await stored(wh)).toEqual({ rows: expected.events, ids: expected.events });
    expect(await runOnce(wh)).toEqual({ ...expected, restarts: 0 });
    expect(await stored(wh)).toEqual({ rows: expected.events, ids: expected.events });
  });

  it('another source bringing the same ids: each is looked up on disk, and the dedupe metrics show the index and the lookups, the worker gauges each worker\'s memory', async () => {
    const wh = join(dir, 'd.duckdb');
    await runOnce(wh);
    const metrics = new Metrics({ defaultMetrics: false });
    const valid = expected.events + expected.duplicates;
    expect(await runOnce(wh, {}, [], { source: 'memory:again', metrics })).toEqual({ events: 0, duplicates: valid, deadLetters: expected.deadLetters, restarts: 0 });
    const text = await metrics.text();
    const v = (s: string) => sampleValue(text, s);
    // Every valid record's id is in the index (committed by the first run), so none is settled by the filter alone.
    expect(v('gamestream_dedupe_disk_lookups_total')).toBe(valid);
    expect(v('gamestream_dedupe_run_reads_total')).toBeGreaterThanOrEqual(valid);
    expect(v('gamestream_dedupe_index_ids')).toBe(expected.events);
    expect(v('gamestream_dedupe_index_runs')).toBeGreaterThan(0);
    expect(v('gamestream_dedupe_filter_bytes')).toBe(1 << 20);
    expect(v('gamestream_dedupe_filter_capacity_ids')).toBe((1 << 20) / 2);
    // Each worker reports its memory with its watermarks, the last time when the input ends.
    for (const w of ['0', '1']) {
      expect(v(`gamestream_worker_heap_bytes{worker="${w}"}`)).toBeGreaterThan(1e6);
      expect(v(`gamestream_worker_external_memory_bytes{worker="${w}"}`)).toBeGreaterThan(0);
    }
  });

  it('ends its progress lines with one that shows the final totals, however long the interval', async () => {
    const said: string[] = [];
    const t = await runOnce(join(dir, 'c.duckdb'), { GAMESTREAM_PROGRESS_INTERVAL: '1h' }, said);
    const last = said.filter((l) => /written [\d,]+/.test(l)).pop();
    expect(last, said.join('\n')).toBeDefined();
    expect(last).toMatch(new RegExp(`written ${t.events.toLocaleString('en-US')} +committed [\\d,]+/s +dead letters ${t.deadLetters}`));
  });

  it('stops with the source\'s error when the source fails, and the failure metric says so (StreamProcessorFailing)', async () => {
    class BreakingSource extends MemorySource {
      private chunks = 0;
      override async next() {
        if (++this.chunks > 3) throw new GamestreamError('source_unavailable', 'the test source broke');
        return super.next();
      }
    }
    const metrics = new Metrics({ defaultMetrics: false });
    const run = runOnce(join(dir, 'e.duckdb'), {}, [], { metrics, make: (name) => new BreakingSource(traffic(), { name }) });
    await expect(run).rejects.toMatchObject({ code: 'source_unavailable' });
    expect(sampleValue(await metrics.text(), 'gamestream_processor_failed')).toBe(1);
    expect(metrics.state().fatal?.code).toBe('source_unavailable');
  });

  it('restarts a worker that crashes, from the warehouse, and ends with the same warehouse', async () => {
    const wh = join(dir, 'b.duckdb');
    expect(await runOnce(wh, { GAMESTREAM_TEST_CRASH_WORKER: '1:2' })).toEqual({ ...expected, restarts: 1 });
    expect(await stored(wh)).toEqual({ rows: expected.events, ids: expected.events });
  });

  /** A thread that fails before it is ready, as one whose module cannot load or whose init throws. */
  function diesBeforeReady(): WorkerThread {
    const e = new EventEmitter();
    setImmediate(() => {
      e.emit('error', new Error('the worker could not start'));
      e.emit('exit', 1);
    });
    return Object.assign(e, { postMessage: () => undefined, terminate: async () => 1 }) as unknown as WorkerThread;
  }

  it('starts again a worker whose first thread dies before it is ready, instead of waiting for it for ever', async () => {
    const wh = join(dir, 'early.duckdb');
    let first = true;
    const spawnThread: SpawnThread = (index) => {
      if (index !== 1 || !first) return spawnWorkerThread(index);
      first = false;
      return diesBeforeReady();
    };
    const said: string[] = [];
    expect(await runOnce(wh, {}, said, { spawnThread })).toEqual({ ...expected, restarts: 1 });
    expect(await stored(wh)).toEqual({ rows: expected.events, ids: expected.events });
    expect(said.join('\n')).toContain('worker 1 crashed (the worker could not start); restarted it');
  });

  it('stops with crash_loop, naming the settings, when a worker never gets ready', async () => {
    const run = runOnce(join(dir, 'never.duckdb'), { GAMESTREAM_RESTART_LIMIT: '2' }, [], { spawnThread: (index) => (index === 0 ? diesBeforeReady() : spawnWorkerThread(index)) });
    await expect(run).rejects.toMatchObject({ code: 'crash_loop', message: expect.stringMatching(/worker 0 crashed 3 times .*GAMESTREAM_RESTART_LIMIT=2.*GAMESTREAM_RESTART_WINDOW.*the worker could not start/) });
  });
});
