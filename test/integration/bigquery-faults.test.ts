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
      // The truth's dedupe horizon (5 min), so that retries on both sides of it are exercised.
      GAMESTREAM_DEDUPE_HORIZON: `${ds.options.horizonMs}ms`,
      GAMESTREAM_DEDUPE_DIR: join(dir, 'dedupe'),
      // Small commits, many of them, so that every phase below meets several.
      GAMESTREAM_BATCH_RECORDS: '300',
      GAMESTREAM_FLUSH_INTERVAL: '200ms',
      GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
      GAMESTREAM_PROGRESS_INTERVAL: '200ms',
    };
    // Each phase lasts at least its time and until the daemon has met its faults: a busy machine may take many
    // seconds to start, REST carries the start-up (tables, checkpoints) and gRPC the writes after it, and a
    // reset rate only meets the connections opened while it is on (the outage resets the open ones).
    const seen = (): { grpcResets: number; grpcConnections: number } => ({ grpcResets: grpc.stats.resets, grpcConnections: grpc.stats.connections });
    const status = (n: number): number => rest.stats.errorsByStatus[n] ?? 0;
    const phases: { name: string; ms: number; rest: Faults; grpc: Faults; met: (since: ReturnType<typeof seen>) => boolean }[] = [
      { name: 'start-up: 503s, 429s and gRPC resets', ms: 1500, rest: { errorRate: 0.3, errorStatuses: [503, 429] }, grpc: { resetRate: 0.3 },
        met: (s0) => status(503) > 0 && status(429) > 0 && grpc.stats.connections > s0.grpcConnections },
      { name: 'gRPC latency', ms: 1000, rest: {}, grpc: { delayMs: 150 }, met: () => true },
      { name: 'gRPC outage', ms: 4000, rest: {}, grpc: { down: true }, met: (s0) => grpc.stats.resets > s0.grpcResets },
      { name: 'no faults', ms: 1000, rest: {}, grpc: {}, met: () => true },
      { name: 'hung servers', ms: 4000, rest: { stall: true }, grpc: { stall: true }, met: () => true },
      { name: 'errors and resets', ms: 1000, rest: { errorRate: 0.5 }, grpc: { resetRate: 0.5 }, met: () => true },
    ];
    let done = false;
    const running = runEngine(env, TIMEOUT - 30_000).finally(() => {
      done = true;
    });
    let writtenDuringOutage = '';
    const unmet: string[] = [];
    for (const p of phases) {
      if (done) break;
      rest.setFaults(p.rest);
      grpc.setFaults(p.grpc);
      const since = seen();
      const minEnd = Date.now() + p.ms;
      const maxEnd = Date.now() + 60_000;
      while (!done && (Date.now() < minEnd || !p.met(since))) {
        if (Date.now() > maxEnd) {
          unmet.push(p.name);
          break;
        }
        await sleep(100);
      }
      if (p.grpc.down && p.met(since)) writtenDuringOutage = 'checked';
    }
    rest.setFaults({});
    grpc.setFaults({});
    const r = await running;
    expect(r.code, describeRun(r)).toBe(0);
    expect(unmet, 'phases whose faults the daemon never met within a minute').toEqual([]);
    expect(writtenDuringOutage, 'the run ended before the outage phase: the faults never met it').toBe('checked');
    // The faults did happen, and the daemon retried through them.
    expect(status(503)).toBeGreaterThan(0);
    expect(status(429)).toBeGreaterThan(0);
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
