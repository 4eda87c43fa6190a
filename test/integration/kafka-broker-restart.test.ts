// A broker restarted three times under a running daemon, on a broker of this file's own (the suite's shared
// broker must not go away under other files). The daemon must ride out every outage, consumer and copies alike,
// never exit, and finish with a warehouse equal to the ground truth of one uninterrupted run (every 1-minute
// window included) and copy topics that hold every expected record (at least once) and nothing else. And a
// rebalance inside one daemon (partitions handed off to another member and taken back) keeps the windows exact.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseOptions } from '../../src/kafka-platformatic/client.ts';
import { truthFixture } from '../support/truth/fixture.ts';
import { compareWarehouse } from '../support/truth/compare.ts';
import { writtenSoFar } from '../support/truth/engine.ts';
import type { Expected } from '../support/truth/expected.ts';
import type { Dataset } from '../support/truth/generate.ts';
import { createTopics, produceDataset } from '../support/kafka/dataset.ts';
import { kafkaConn, readTopic, type KafkaConn } from '../support/kafka/client.ts';
import { Daemon } from '../support/daemon.ts';
import { haltLocalBroker, restartLocalBroker, startLocalBroker, stopLocalBroker, type LocalBroker } from '../setup/kafka-broker.ts';

const TIMEOUT = 480_000;
const PARTITIONS = 16;
/** How long each outage lasts once the broker is down (plus the time the broker takes to stop and start). */
const OUTAGES_MS = [4_000, 10_000, 18_000];

describe('a broker restarted under a running daemon', { timeout: TIMEOUT }, () => {
  let broker: LocalBroker | undefined;
  let kafka: KafkaConn;
  let dir: string;
  let ds: Dataset;
  let truth: Expected;
  let devices: string;
  let cityDb: string;

  beforeAll(async () => {
    broker = await startLocalBroker();
    kafka = kafkaConn(broker.bootstrap);
    ({ dir, ds, truth, devices, cityDb } = await truthFixture('gamestream-kafka-restart-', { seed: 4242, events: 40_000, partitions: PARTITIONS }));
  }, 180_000);

  afterAll(() => {
    if (broker) stopLocalBroker(broker);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function settings(topic: string, wh: string): Record<string, string> {
    const b = broker!;
    return {
      GAMESTREAM_SOURCE: 'kafka',
      GAMESTREAM_KAFKA_BROKERS: b.bootstrap,
      GAMESTREAM_KAFKA_TOPIC: topic,
      GAMESTREAM_KAFKA_GROUP: `g-${topic}`,
      GAMESTREAM_KAFKA_STOP: 'caught-up',
      GAMESTREAM_KAFKA_RAW_PARTITIONS: String(PARTITIONS),
      GAMESTREAM_KAFKA_ENRICHED_TOPIC: `${topic}-enriched`,
      GAMESTREAM_KAFKA_DLQ_TOPIC: `${topic}-dlq`,
      GAMESTREAM_KAFKA_ENRICHED_PARTITIONS: '4',
      GAMESTREAM_KAFKA_DLQ_PARTITIONS: '2',
      GAMESTREAM_KAFKA_SESSION_TIMEOUT: '6s',
      GAMESTREAM_WAREHOUSE: `duckdb:${wh}`,
      GAMESTREAM_DEVICE_TABLE: devices,
      GAMESTREAM_GEOIP_DB: cityDb,
      GAMESTREAM_WORKERS: '2',
      GAMESTREAM_LOG_LEVEL: 'info',
      GAMESTREAM_IDLE_TIMEOUT: '1h',
      GAMESTREAM_DEDUPE_HORIZON: `${ds.options.horizonMs}ms`,
      // Slow and small commits, so the run outlasts three broker restarts and each outage meets commits,
      // copies and fetches in flight.
      GAMESTREAM_TEST_COMMIT_DELAY: '1000ms',
      GAMESTREAM_FLUSH_INTERVAL: '200ms',
      GAMESTREAM_PROGRESS_INTERVAL: '200ms',
      GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
      GAMESTREAM_BATCH_RECORDS: '100',
    };
  }

  /** A fresh topic holding the dataset, its copy topics, and a daemon reading it into a new warehouse. */
  async function startDaemon(name: string): Promise<{ topic: string; wh: string; daemon: Daemon }> {
    const topic = `${name}-${Date.now()}`;
    await produceDataset(kafka, topic, ds, PARTITIONS);
    await createTopics(kafka, [{ name: `${topic}-enriched`, partitions: 4 }, { name: `${topic}-dlq`, partitions: 2 }]);
    const wh = join(dir, `${name}.duckdb`);
    return { topic, wh, daemon: new Daemon(settings(topic, wh), `${name} daemon`) };
  }

  /** The daemon's exit code, or 'timeout' if it is still running when the test's time is nearly up. */
  function exitOf(daemon: Daemon): Promise<unknown> {
    return Promise.race([daemon.exited, sleep(TIMEOUT - 60_000).then(() => 'timeout')]);
  }

  it('three broker restarts: the daemon stays up; warehouse (windows included) and copies are exact', async () => {
    const b = broker!;
    const { topic, wh, daemon } = await startDaemon('restart');
    try {
      let seen = 0;
      for (const [i, outage] of OUTAGES_MS.entries()) {
        // Progress since the last restart: the daemon is consuming, committing and copying again.
        await daemon.until(`progress before restart ${i + 1}`, () => writtenSoFar(daemon.stdout) > seen, 120_000);
        seen = writtenSoFar(daemon.stdout);
        expect(seen, 'the daemon finished before all three restarts: make it slower').toBeLessThan(truth.events.length);
        await haltLocalBroker(b);
        await sleep(outage);
        await restartLocalBroker(b);
        seen = writtenSoFar(daemon.stdout);
      }
      expect(await exitOf(daemon), daemon.report()).toBe(0);
    } catch (err) {
      daemon.saveLog();
      throw err;
    } finally {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    }
    daemon.saveLog();
    // The log says what was retried: the copies, never a warehouse commit (the DuckDB file stayed up).
    expect(daemon.stderr).toMatch(/publishing copies of the rows to Kafka failed \(the warehouse has them\); retrying/);
    expect(daemon.stderr).toMatch(/copies to Kafka published again after a failure/);
    expect(daemon.stderr).not.toMatch(/warehouse commit failed/);
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);

    // The copies: at least once, so duplicates are allowed; every expected record is there, nothing else.
    const enriched = await readTopic(kafka, `${topic}-enriched`, { timeoutMs: 60_000 });
    const ids = new Set(enriched.map((m) => String((JSON.parse(m.value.toString()) as { event_id: string }).event_id)));
    const want = new Set(truth.events.map((e) => String(e.event_id)));
    expect([...want].filter((id) => !ids.has(id)).length, 'events missing from the enriched topic').toBe(0);
    expect([...ids].filter((id) => !want.has(id)).length, 'unexpected events in the enriched topic').toBe(0);
    const dlq = await readTopic(kafka, `${topic}-dlq`, { timeoutMs: 60_000 });
    const dl = new Set(dlq.map((m) => `${m.headers.source_partition}/${m.headers.source_offset}/${m.headers.error_code}`));
    const wantDl = new Set(truth.dlqRows.map((d) => `${d.source_partition}/${d.source_offset}/${d.code}`));
    expect([...wantDl].filter((k) => !dl.has(k)), 'dead letters missing from the DLQ topic').toEqual([]);
    expect([...dl].filter((k) => !wantDl.has(k)), 'unexpected records in the DLQ topic').toEqual([]);
  });

  it('a rebalance inside the daemon (another member comes and goes): partitions handed off and taken back, windows exact', async () => {
    const b = broker!;
    const { topic, wh, daemon } = await startDaemon('rebalance');
    // A member that takes part of the assignment and reads nothing; it leaves again after a while.
    const other = new Consumer({ ...baseOptions({ brokers: [b.bootstrap], clientId: 'test-other-member' }), groupId: `g-${topic}`, autocommit: false, sessionTimeout: 6000, rebalanceTimeout: 6000, heartbeatInterval: 600 });
    try {
      await daemon.until('progress', () => writtenSoFar(daemon.stdout) > 0, 120_000);
      other.topics.trackAll(topic);
      await other.joinGroup({ sessionTimeout: 6000, rebalanceTimeout: 6000, heartbeatInterval: 600 });
      await daemon.until('a hand-off', () => /partitions handed off/.test(daemon.stderr), 60_000);
      const before = writtenSoFar(daemon.stdout);
      await daemon.until('progress on the partitions kept', () => writtenSoFar(daemon.stdout) > before, 60_000);
      await other.close();
      await daemon.until('the partitions taken back', () => (daemon.stderr.match(/partitions started from the warehouse checkpoints/g) ?? []).length >= 2, 60_000);
      expect(writtenSoFar(daemon.stdout), 'the daemon finished before the rebalance: make it slower').toBeLessThan(truth.events.length);
      expect(await exitOf(daemon), daemon.report()).toBe(0);
    } catch (err) {
      daemon.saveLog();
      throw err;
    } finally {
      await other.close().catch(() => undefined);
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    }
    daemon.saveLog();
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
  });
});
