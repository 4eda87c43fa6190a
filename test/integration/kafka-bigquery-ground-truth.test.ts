// Kafka in, BigQuery out, both real (the test broker and the emulator): the warehouse equals the truth after
// a clean run and after repeated kill -9 during BigQuery writes, and the group's offsets never run ahead of
// what BigQuery holds.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { truthFixture } from '../support/truth/fixture.ts';
import { emulatorClients, freshDataset, type FreshDataset } from '../support/bigquery/client.ts';
import { snapshotToDuckDb } from '../support/bigquery/snapshot.ts';
import { kafkaConn } from '../support/kafka/client.ts';
import { committedOffsets, endOffsets, produceDataset } from '../support/kafka/dataset.ts';
import { compareWarehouse } from '../support/truth/compare.ts';
import { describeRun, runEngine, runWithKills } from '../support/truth/engine.ts';
import type { Expected } from '../support/truth/expected.ts';
import type { Dataset } from '../support/truth/generate.ts';

const TIMEOUT = 180_000;
const PARTITIONS = 8;

describe('ground truth from Kafka into BigQuery', { timeout: TIMEOUT }, () => {
  const brokers = inject('kafkaBrokers');
  const bqCtx = inject('bigquery');
  const kafka = kafkaConn(brokers);
  let bq: BigQuery;
  let dir: string;
  let ds: Dataset;
  let truth: Expected;
  let devices: string;
  let cityDb: string;
  const datasets: FreshDataset[] = [];

  beforeAll(async () => {
    bq = emulatorClients(bqCtx).bq;
    ({ dir, ds, truth, devices, cityDb } = await truthFixture('gamestream-kafka-bq-truth-', { seed: 777, events: 12_000, partitions: PARTITIONS }));
  }, TIMEOUT);

  afterAll(async () => {
    for (const d of datasets) await d.cleanup().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function settings(topic: string, dataset: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      GAMESTREAM_SOURCE: 'kafka',
      GAMESTREAM_KAFKA_BROKERS: brokers,
      GAMESTREAM_KAFKA_TOPIC: topic,
      GAMESTREAM_KAFKA_GROUP: `g-${topic}`,
      GAMESTREAM_KAFKA_STOP: 'caught-up',
      GAMESTREAM_KAFKA_RAW_PARTITIONS: String(PARTITIONS),
      GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off',
      GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
      // A killed member is only noticed when its session times out; keep that short so restarts are quick.
      GAMESTREAM_KAFKA_SESSION_TIMEOUT: '6s',
      GAMESTREAM_WAREHOUSE: `bigquery:${bqCtx.project}.${dataset}`,
      GAMESTREAM_BIGQUERY_ENDPOINT: bqCtx.restEndpoint,
      GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: bqCtx.writeEndpoint,
      GAMESTREAM_ETL: 'off',
      GAMESTREAM_DEVICE_TABLE: devices,
      GAMESTREAM_GEOIP_DB: cityDb,
      GAMESTREAM_WORKERS: '2',
      GAMESTREAM_LOG_LEVEL: 'warn',
      GAMESTREAM_IDLE_TIMEOUT: '1h',
      // The truth's dedupe horizon (5 min), so that retries on both sides of it are exercised.
      GAMESTREAM_DEDUPE_HORIZON: `${ds.options.horizonMs}ms`,
      GAMESTREAM_DEDUPE_DIR: join(dir, `dedupe-${dataset}`),
      ...extra,
    };
  }

  async function differences(dataset: string, name: string): Promise<string[]> {
    const file = join(dir, `${name}.duckdb`);
    await snapshotToDuckDb(bq, bqCtx.project, dataset, file);
    return compareWarehouse(file, truth, { geoLayout: 'official' });
  }

  /** The next offset per partition in BigQuery's checkpoint view. */
  async function warehouseOffsets(dataset: string): Promise<Map<number, number>> {
    const [rows] = await bq.query(`SELECT source_partition, next_offset FROM \`${bqCtx.project}.${dataset}.gamestream_checkpoints\``);
    return new Map((rows as { source_partition: number; next_offset: number }[]).map((r) => [Number(r.source_partition), Number(r.next_offset)]));
  }

  it('a clean run equals the truth, and the group commits exactly what BigQuery holds', async () => {
    const topic = `bq-clean-${Date.now()}`;
    await produceDataset(kafka, topic, ds, PARTITIONS);
    const d = await freshDataset(bq, 'kafka_clean');
    datasets.push(d);
    const r = await runEngine(settings(topic, d.id), TIMEOUT - 10_000);
    expect(r.code, describeRun(r)).toBe(0);
    expect(await differences(d.id, 'clean')).toEqual([]);
    const group = await committedOffsets(kafka, `g-${topic}`, topic);
    expect(group).toEqual(await endOffsets(kafka, topic));
    expect(await warehouseOffsets(d.id)).toEqual(group);
  });

  it('kill -9 during BigQuery writes, again and again, then restart: still exact', async () => {
    const topic = `bq-crash-${Date.now()}`;
    await produceDataset(kafka, topic, ds, PARTITIONS);
    const d = await freshDataset(bq, 'kafka_crash');
    datasets.push(d);
    const env = settings(topic, d.id, {
      GAMESTREAM_FLUSH_INTERVAL: '200ms', GAMESTREAM_PROGRESS_INTERVAL: '100ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
      GAMESTREAM_BATCH_RECORDS: '300',
      // Paced, so that the input takes many commits and each run is killed with work still ahead of it.
      GAMESTREAM_TEST_COMMIT_DELAY: '300ms',
    });
    // Two runs die between a commit record and the stream commits it names; the rest die at progress points.
    for (let i = 0; i < 2; i++) {
      const r = await runEngine({ ...env, GAMESTREAM_TEST_KILL_AFTER_COMMIT_RECORD: '2' }, TIMEOUT - 10_000);
      expect(r.signal, describeRun(r)).toBe('SIGKILL');
      // The group never runs ahead of the warehouse: every committed group offset is covered by BigQuery.
      const wh = await warehouseOffsets(d.id);
      for (const [p, off] of await committedOffsets(kafka, `g-${topic}`, topic)) {
        if (off >= 0) expect(off, `partition ${p}`).toBeLessThanOrEqual(wh.get(p) ?? 0);
      }
    }
    // Killed each time a tenth of the events more is written (see kafka-ground-truth.test.ts: each restart waits
    // out the killed member's session, and first flushes come early and small).
    const { kills, last } = await runWithKills(env, TIMEOUT - 10_000, 20, Math.ceil(truth.events.length / 10));
    expect(last.code, describeRun(last)).toBe(0);
    expect(kills, 'no run was killed at a progress point').toBeGreaterThanOrEqual(1);
    expect(await differences(d.id, 'crash')).toEqual([]);
  }, 3 * TIMEOUT);
});
