// Faults between gamestream and BigQuery: proxies in front of the emulator's REST and gRPC ports answer 503
// and 429, reset connections, add latency, hang, and go down for seconds while a file is loaded. The daemon
// must retry, hold back the source instead of growing memory, and still end with exactly the truth.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { truthFixture } from '../support/truth/fixture.ts';
import { emulatorClients, freshDataset, type FreshDataset } from '../support/bigquery/client.ts';
import { snapshotToDuckDb } from '../support/bigquery/snapshot.ts';
import { startFaultProxy, type FaultProxy, type Faults } from '../support/fault-proxy.ts';
import { compareWarehouse } from '../support/truth/compare.ts';
import { describeRun, runEngine } from '../support/truth/engine.ts';
import type { Expected } from '../support/truth/expected.ts';
import type { Dataset } from '../support/truth/generate.ts';

const TIMEOUT = 240_000;
const ctx = inject('bigquery');

describe('BigQuery behind a faulty network', { timeout: TIMEOUT }, () => {
  let bq: BigQuery;
  let dir: string;
  let ds: Dataset;
  let ndjson: string;
  let devices: string;
  let cityDb: string;
  let truth: Expected;
  let rest: FaultProxy;
  let grpc: FaultProxy;
  let dataset: FreshDataset;

  beforeAll(async () => {
    bq = emulatorClients(ctx).bq;
    const fx = await truthFixture('gamestream-bq-faults-', { seed: 5151, events: 10_000 }, { ndjson: true });
    ({ dir, ds, truth, devices, cityDb } = fx);
    ndjson = fx.ndjson!;
    const restUrl = new URL(ctx.restEndpoint);
    const grpcUrl = new URL(ctx.writeEndpoint);
    rest = await startFaultProxy({ targetHost: restUrl.hostname, targetPort: Number(restUrl.port), mode: 'http', seed: 1 });
    grpc = await startFaultProxy({ targetHost: grpcUrl.hostname, targetPort: Number(grpcUrl.port), mode: 'tcp', seed: 2 });
    dataset = await freshDataset(bq, 'faults');
  }, TIMEOUT);

  afterAll(async () => {
    await dataset?.cleanup().catch(() => undefined);
    await rest?.close();
    await grpc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('503s, 429s, resets, latency, a hung server and an outage: retried, paused, nothing lost or doubled', async () => {
    const env = {
      GAMESTREAM_SOURCE: `file:${ndjson}`,
      GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${dataset.id}`,
      GAMESTREAM_BIGQUERY_ENDPOINT: rest.url,
      GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: grpc.url,
      // A hung call is abandoned and retried after this long.
      GAMESTREAM_BIGQUERY_TIMEOUT: '3s',
      GAMESTREAM_ETL: 'off',
      GAMESTREAM_DEVICE_TABLE: devices,
      GAMESTREAM_GEOIP_DB: cityDb,
      GAMESTREAM_PARTITIONS: String(ds.options.partitions),
      GAMESTREAM_WORKERS: '2',
      GAMESTREAM_LOG_LEVEL: 'warn',
      GAMESTREAM_IDLE_TIMEOUT: '1h',
      // Small commits, many of them, so that every phase below meets several.
      GAMESTREAM_BATCH_RECORDS: '300',
      GAMESTREAM_FLUSH_INTERVAL: '200ms',
      GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
      GAMESTREAM_PROGRESS_INTERVAL: '200ms',
    };
    const phases: { ms: number; rest: Faults; grpc: Faults }[] = [
      { ms: 1500, rest: { errorRate: 0.3, errorStatus: 503 }, grpc: { resetRate: 0.3 } },
      { ms: 1500, rest: { errorRate: 0.3, errorStatus: 429 }, grpc: { delayMs: 150 } },
      { ms: 4000, rest: {}, grpc: { down: true } },
      { ms: 1000, rest: {}, grpc: {} },
      { ms: 4000, rest: { stall: true }, grpc: { stall: true } },
      { ms: 1000, rest: { errorRate: 0.5 }, grpc: { resetRate: 0.5 } },
    ];
    let done = false;
    const running = runEngine(env, TIMEOUT - 30_000).finally(() => {
      done = true;
    });
    let writtenDuringOutage = '';
    for (const p of phases) {
      if (done) break;
      rest.setFaults(p.rest);
      grpc.setFaults(p.grpc);
      await sleep(p.ms);
      if (p.grpc.down) writtenDuringOutage = 'checked';
    }
    rest.setFaults({});
    grpc.setFaults({});
    const r = await running;
    expect(r.code, describeRun(r)).toBe(0);
    expect(writtenDuringOutage, 'the run ended before the outage phase: the faults never met it').toBe('checked');
    // The faults did happen, and the daemon retried through them.
    expect(rest.stats.errors).toBeGreaterThan(0);
    expect(grpc.stats.resets).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/BigQuery: retrying/);
    // Memory stayed bounded: the source waited instead of reading ahead through the outage.
    const rss = Number(/peak RSS (\d+) MB/.exec(r.stdout)?.[1]);
    expect(rss, describeRun(r)).toBeLessThan(800);

    const file = join(dir, 'faults.duckdb');
    await snapshotToDuckDb(bq, ctx.project, dataset.id, file);
    expect(await compareWarehouse(file, truth, { geoLayout: 'official' })).toEqual([]);
  });
});
