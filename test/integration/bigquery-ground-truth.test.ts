// Ground truth through BigQuery (the real emulator): the engine, run as a child process with
// GAMESTREAM_WAREHOUSE=bigquery:…, must build the same exact warehouse as with DuckDB. The BigQuery tables
// are copied into a DuckDB file and compared with the independent truth by the same code as DuckDB runs.
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { truthFixture } from '../support/truth/fixture.ts';
import { emulatorClients, freshDataset, type FreshDataset } from '../support/bigquery/client.ts';
import { snapshotToDuckDb } from '../support/bigquery/snapshot.ts';
import { compareWarehouse } from '../support/truth/compare.ts';
import { describeRun, runEngine, runWithKills, type EngineRun } from '../support/truth/engine.ts';
import type { Expected } from '../support/truth/expected.ts';
import type { Dataset } from '../support/truth/generate.ts';

const TIMEOUT = 150_000;
const ctx = inject('bigquery');

describe('ground truth through BigQuery', { timeout: TIMEOUT }, () => {
  let bq: BigQuery;
  let dir: string;
  let ds: Dataset;
  let ndjson: string;
  let devices: string;
  let cityDb: string;
  let truth: Expected;
  const datasets: FreshDataset[] = [];
  let snapshots = 0;

  beforeAll(async () => {
    bq = emulatorClients(ctx).bq;
    const fx = await truthFixture('gamestream-bq-truth-', { seed: 20261127, events: 12_000 }, { ndjson: true });
    ({ dir, ds, truth, devices, cityDb } = fx);
    ndjson = fx.ndjson!;
  }, TIMEOUT);

  afterAll(async () => {
    for (const d of datasets) await d.cleanup().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function dataset(name: string): Promise<string> {
    const d = await freshDataset(bq, name);
    datasets.push(d);
    // The engine creates the dataset itself; an empty one must be fine too, so half the tests keep it.
    return d.id;
  }

  function settings(datasetId: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      GAMESTREAM_SOURCE: `file:${ndjson}`,
      GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${datasetId}`,
      GAMESTREAM_BIGQUERY_ENDPOINT: ctx.restEndpoint,
      GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: ctx.writeEndpoint,
      GAMESTREAM_ETL: 'off',
      GAMESTREAM_DEVICE_TABLE: devices,
      GAMESTREAM_GEOIP_DB: cityDb,
      GAMESTREAM_PARTITIONS: String(ds.options.partitions),
      GAMESTREAM_WORKERS: '2',
      GAMESTREAM_LOG_LEVEL: 'warn',
      GAMESTREAM_IDLE_TIMEOUT: '1h',
      // The truth's dedupe horizon (5 min), so that retries on both sides of it are exercised.
      GAMESTREAM_DEDUPE_HORIZON: `${ds.options.horizonMs}ms`,
      // One dedupe index per dataset, as one daemon per warehouse would keep.
      GAMESTREAM_DEDUPE_DIR: join(dir, `dedupe-${datasetId}`),
      ...extra,
    };
  }

  async function run(env: Record<string, string>): Promise<EngineRun> {
    const r = await runEngine(env, TIMEOUT - 20_000);
    expect(r.code, describeRun(r)).toBe(0);
    return r;
  }

  async function differences(datasetId: string): Promise<string[]> {
    const file = join(dir, `snapshot-${++snapshots}.duckdb`);
    await snapshotToDuckDb(bq, ctx.project, datasetId, file);
    return compareWarehouse(file, truth, { geoLayout: 'official' });
  }

  async function count(datasetId: string, sql: string): Promise<number> {
    const [rows] = await bq.query(sql.replaceAll('{ds}', `\`${ctx.project}.${datasetId}\``));
    return Number(Object.values(rows[0] as object)[0]);
  }

  it('(a) NDJSON input: the BigQuery tables equal the truth; a second run of the same input changes nothing', async () => {
    const id = await dataset('truth_a');
    await run(settings(id));
    expect(await differences(id)).toEqual([]);
    const r = await run(settings(id));
    expect(r.stdout).toMatch(/already in the warehouse were skipped/);
    expect(await differences(id)).toEqual([]);
  }, 2 * TIMEOUT);

  it('(a2) no commit records an engine watermark ahead of the rows committed with it and before it', async () => {
    // The ETL sensor takes a day as complete from the recorded watermark, so the watermark must never cover
    // rows that are still in a worker or in the commit queue. Paced: many small flushes and commits.
    const id = await dataset('truth_wm');
    // Four partitions, so that every one has a watermark early (this test needs no truth, only the log).
    const partitions = 4;
    await run(settings(id, {
      GAMESTREAM_PARTITIONS: String(partitions), GAMESTREAM_BATCH_RECORDS: '200', GAMESTREAM_FLUSH_ROWS: '700', GAMESTREAM_FLUSH_INTERVAL: '200ms',
      GAMESTREAM_TEST_COMMIT_DELAY: '300ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '1MiB', GAMESTREAM_MAX_EVENT_BYTES: '64KiB',
    }));
    const [rows] = await bq.query(
      `SELECT commit_id, committed_at, engine_watermark, end_of_input, source_partition, watermark_ms
       FROM \`${ctx.project}.${id}.gamestream_commits\` WHERE committed_at >= '1970-01-01' ORDER BY committed_at, commit_id`,
    );
    const ms = (t: { value: string } | null): number | null => (t === null ? null : Date.parse(t.value));
    type Row = { commit_id: string; engine_watermark: { value: string } | null; end_of_input: boolean; source_partition: number | null; watermark_ms: number | null };
    const commits = new Map<string, { wm: number | null; end: boolean; parts: [number, number | null][] }>();
    for (const r of rows as Row[]) {
      const c = commits.get(r.commit_id) ?? { wm: ms(r.engine_watermark), end: r.end_of_input, parts: [] };
      if (r.source_partition !== null) c.parts.push([Number(r.source_partition), r.watermark_ms === null ? null : Number(r.watermark_ms)]);
      commits.set(r.commit_id, c);
    }
    const durable = new Array<number>(partitions).fill(-Infinity);
    const ahead: string[] = [];
    let checked = 0;
    for (const [commitId, c] of commits) {
      for (const [p, wm] of c.parts) durable[p] = wm ?? -Infinity;
      if (c.wm === null || c.end) continue;
      checked++;
      const floor = Math.min(...durable);
      if (c.wm > floor) ahead.push(`${commitId}: watermark ${new Date(c.wm).toISOString()} > ${Number.isFinite(floor) ? new Date(floor).toISOString() : floor} (partition ${durable.indexOf(floor)})`);
    }
    expect(checked, 'commits with a watermark before the end of input').toBeGreaterThan(3);
    expect(ahead).toEqual([]);
  }, 2 * TIMEOUT);

  it('(b) killed right after a commit record, before its streams are committed: the restart rolls it forward', async () => {
    const id = await dataset('truth_b');
    const env = settings(id, { GAMESTREAM_BATCH_RECORDS: '500', GAMESTREAM_FLUSH_INTERVAL: '300ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB' });
    const killed = await runEngine({ ...env, GAMESTREAM_TEST_KILL_AFTER_COMMIT_RECORD: '3' }, TIMEOUT - 20_000);
    expect(killed.signal, describeRun(killed)).toBe('SIGKILL');
    // The checkpoints already count the third commit's events; its streams are not committed, so the table
    // has fewer rows than the checkpoints claim.
    const claimed = await count(id, 'SELECT SUM(events) FROM {ds}.gamestream_checkpoints');
    const present = await count(id, "SELECT COUNT(*) FROM {ds}.events WHERE event_date >= '1970-01-01'");
    expect(claimed).toBeGreaterThan(0);
    expect(present).toBeLessThan(claimed);
    await run(env);
    expect(await differences(id)).toEqual([]);
  }, 2 * TIMEOUT);

  it('(c) kill -9 at commit records and at random progress points, again and again, then restart: exact', async () => {
    const id = await dataset('truth_c');
    const env = settings(id, {
      GAMESTREAM_BATCH_RECORDS: '300', GAMESTREAM_FLUSH_INTERVAL: '300ms', GAMESTREAM_PROGRESS_INTERVAL: '100ms',
      GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
    });
    // Two runs die right after their second commit record, then progress-driven kills land mid-flight.
    for (let i = 0; i < 2; i++) {
      const r = await runEngine({ ...env, GAMESTREAM_TEST_KILL_AFTER_COMMIT_RECORD: '2' }, TIMEOUT - 20_000);
      expect(r.signal, describeRun(r)).toBe('SIGKILL');
    }
    const { kills, last } = await runWithKills(env, TIMEOUT - 20_000);
    expect(last.code, describeRun(last)).toBe(0);
    expect(kills, 'the daemon was never killed mid-run').toBeGreaterThanOrEqual(2);
    expect(await differences(id)).toEqual([]);
  }, 4 * TIMEOUT);

  it('(d) a file that grows, read again killed at commit records: windows written early are rewritten exactly once', async () => {
    const id = await dataset('truth_d');
    const grown = join(dir, 'growing.ndjson');
    const lines = (from: number, to: number): Buffer => Buffer.concat(ds.records.slice(from, to).flatMap((r) => [r.line, Buffer.from('\n')]));
    const cut = Math.floor(ds.records.length * 0.5);
    writeFileSync(grown, lines(0, cut));
    const env = settings(id, { GAMESTREAM_SOURCE: `file:${grown}`, GAMESTREAM_BATCH_RECORDS: '300', GAMESTREAM_FLUSH_INTERVAL: '300ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB' });
    await run(env);
    appendFileSync(grown, lines(cut, ds.records.length));
    // The rewrites come with the first commits after the cut; dying right after those commit records leaves
    // them to the restart's roll-forward.
    for (const n of ['1', '2']) {
      const r = await runEngine({ ...env, GAMESTREAM_TEST_KILL_AFTER_COMMIT_RECORD: n }, TIMEOUT - 20_000);
      expect(r.signal, describeRun(r)).toBe('SIGKILL');
    }
    await run(env);
    const rewrote = await count(id, "SELECT COUNT(*) FROM {ds}.gamestream_commits WHERE committed_at >= '1970-01-01' AND window_updates IS NOT NULL");
    expect(rewrote, 'commits that rewrote window rows').toBeGreaterThan(0);
    expect(await differences(id)).toEqual([]);
  }, 4 * TIMEOUT);
});
