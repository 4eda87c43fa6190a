// A daemon that stalls (SIGSTOP) right after it sent its JoinGroup stays a member of the group for as long as the
// rebalance waits for the other members, which is the longest rebalance timeout any member asked for (kafkajs
// asks for 60 s unless told otherwise), and only then does its session run out. Its partitions wait all that
// time. The daemon asks for GAMESTREAM_KAFKA_REBALANCE_TIMEOUT (default: the session timeout), so they move
// within that plus the session timeout. The real broker decides; nothing is mocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Daemon } from '../support/daemon.ts';
import { createTopics } from '../support/kafka/dataset.ts';

const SESSION_MS = 6000;

describe('Kafka source: group timeouts', { timeout: 180_000 }, () => {
  const brokers = inject('kafkaBrokers');
  const kafka = new Kafka({ clientId: 'gamestream-test', brokers: [brokers], logLevel: logLevel.NOTHING });
  const dir = mkdtempSync(join(tmpdir(), 'gamestream-kafka-group-'));
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterAll(async () => {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  async function members(group: string): Promise<{ state: string; clients: string[] }> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups([group]);
      return { state: groups[0]?.state ?? 'Dead', clients: (groups[0]?.members ?? []).map((m) => m.clientId) };
    } finally {
      await admin.disconnect();
    }
  }

  async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    while (!(await cond())) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(200);
    }
    return Date.now() - t0;
  }

  it('a daemon frozen while the group waits on a rejoin leaves it within the rebalance timeout plus its session', async () => {
    const topic = `group-timeouts-${Date.now()}`;
    const group = `g-${topic}`;
    await createTopics(kafka, [{ name: topic, partitions: 4 }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [0, 1, 2, 3].map((partition) => ({ partition, value: `{"n":${partition}}` })) });
    await producer.disconnect();

    // A member that keeps its session alive but does not rejoin while held, as a member busy elsewhere would
    // not: the rebalance below then has to wait for it. It asks for a short rebalance timeout itself, so any
    // longer wait comes from the daemon's.
    let held = true;
    const slow: Consumer = kafka.consumer({ groupId: group, sessionTimeout: SESSION_MS, rebalanceTimeout: SESSION_MS, heartbeatInterval: 1000 });
    cleanup.push(() => slow.disconnect());
    await slow.connect();
    await slow.subscribe({ topics: [topic], fromBeginning: true });
    let joined = false;
    slow.on(slow.events.GROUP_JOIN, () => (joined = true));
    await slow.run({
      eachBatch: async ({ heartbeat }) => {
        while (held) {
          await heartbeat().catch(() => undefined);
          await sleep(500);
        }
      },
    });
    await until('the slow member to join', async () => joined, 30_000);

    // The daemon joins: the group starts a rebalance and waits for the slow member. The daemon is listed (its
    // JoinGroup is in) while the group prepares the rebalance; it freezes right then.
    const daemon = new Daemon({
      GAMESTREAM_SOURCE: 'kafka',
      GAMESTREAM_KAFKA_BROKERS: brokers,
      GAMESTREAM_KAFKA_TOPIC: topic,
      GAMESTREAM_KAFKA_GROUP: group,
      GAMESTREAM_KAFKA_CLIENT_ID: 'frozen-daemon',
      GAMESTREAM_KAFKA_RAW_PARTITIONS: '4',
      GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off',
      GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
      GAMESTREAM_KAFKA_SESSION_TIMEOUT: `${SESSION_MS}ms`,
      GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'w.duckdb')}`,
      GAMESTREAM_ETL: 'off',
      GAMESTREAM_WORKERS: '1',
      GAMESTREAM_PARTITIONS: '4',
    }, 'daemon');
    cleanup.push(() => {
      daemon.child.kill('SIGKILL');
    });
    await until('the daemon to join while the group prepares a rebalance', async () => {
      const g = await members(group);
      return g.state === 'PreparingRebalance' && g.clients.includes('frozen-daemon');
    }, 60_000);
    daemon.child.kill('SIGSTOP');

    // kafkajs's own 60 s would keep it listed for over a minute; the daemon's rebalance timeout is its session
    // timeout here, so it goes after about two sessions. The bound leaves room for a slow machine and stays
    // well below a minute.
    const goneAfterMs = await until('the group to drop the frozen daemon', async () => !(await members(group)).clients.includes('frozen-daemon'), 90_000);
    held = false;
    expect(goneAfterMs, daemon.report()).toBeLessThan(40_000);
  });
});
