// A daemon that stalls (SIGSTOP) right after it sent its JoinGroup stays a member of the group for as long as the
// rebalance waits for the other members, which is the longest rebalance timeout any member asked for (Kafka
// clients ask for a minute or more unless told otherwise), and only then does its session run out. Its partitions wait all that
// time. The daemon asks for GAMESTREAM_KAFKA_REBALANCE_TIMEOUT (default: the session timeout), so they move
// within that plus the session timeout. The real broker decides; nothing is mocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Connection, encodeConsumerProtocolAssignment, FindCoordinatorKeyTypes, findErrorBy, encodeConsumerProtocolSubscription, heartbeatV4, joinGroupV9, syncGroupV5,
} from '@platformatic/kafka';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Daemon } from '../support/daemon.ts';
import { kafkaConn, produce, withAdmin } from '../support/kafka/client.ts';
import { createTopics } from '../support/kafka/dataset.ts';

const SESSION_MS = 6000;

describe('Kafka source: group timeouts', { timeout: 180_000 }, () => {
  const brokers = inject('kafkaBrokers');
  const conn = kafkaConn(brokers);
  const dir = mkdtempSync(join(tmpdir(), 'gamestream-kafka-group-'));
  const cleanup: (() => Promise<unknown> | void)[] = [];

  afterAll(async () => {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  async function members(group: string): Promise<{ state: string; clients: string[] }> {
    return withAdmin(conn, async (admin) => {
      const g = (await admin.describeGroups({ groups: [group] })).get(group);
      return { state: g?.state ?? 'Dead', clients: [...(g?.members.values() ?? [])].map((m) => m.clientId) };
    });
  }

  /**
   * A member driven by hand through the group protocol: it joins, takes every partition, and then only sends
   * heartbeats, never rejoining, as a member busy elsewhere would. A rebalance then has to wait for it.
   */
  async function heldMember(group: string, topic: string): Promise<{ release(): void }> {
    const [host, port] = conn.brokers[0]!.split(':');
    const c = new Connection('held-member');
    await c.connect(host!, Number(port));
    const protocols = [{ name: 'roundrobin', metadata: encodeConsumerProtocolSubscription({ version: 1, topics: [topic] }) }];
    const joinOnce = (memberId: string) => joinGroupV9.api.async(c, group, SESSION_MS, SESSION_MS, memberId, null, 'consumer', protocols, null);
    // On a broker that has not hosted a group yet, the group coordinator is still being set up (its internal
    // topic created and loaded): the join is answered "not the coordinator" or "loading" until it is ready.
    const join = async (memberId: string): Promise<Awaited<ReturnType<typeof joinOnce>>> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          return await joinOnce(memberId);
        } catch (err) {
          const coordinatorNotReady = ['NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE'].some((id) => findErrorBy(err as Error, 'apiId', id));
          if (!coordinatorNotReady || Date.now() > deadline) throw err;
          await sleep(200);
        }
      }
    };
    await withAdmin(conn, (admin) => admin.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: [group] }).catch(() => undefined));
    let joined;
    try {
      joined = await join('');
    } catch (err) {
      // The broker hands out the member id on a first join and asks for a second one with it.
      const memberId = (err as { response?: { memberId?: string } }).response?.memberId;
      if (!memberId) throw err;
      joined = await join(memberId);
    }
    const assignment = encodeConsumerProtocolAssignment({ version: 1, assignedPartitions: [{ topic, partitions: [0, 1, 2, 3] }] });
    await syncGroupV5.api.async(c, group, joined.generationId, joined.memberId, null, 'consumer', 'roundrobin', [{ memberId: joined.memberId, assignment }]);
    let held = true;
    void (async () => {
      while (held) {
        // Answered "rebalance in progress" once the daemon joins; the heartbeat still keeps the session alive.
        await heartbeatV4.api.async(c, group, joined.generationId, joined.memberId, null).catch(() => undefined);
        await sleep(1000);
      }
      await c.close().catch(() => undefined);
    })();
    return { release: () => (held = false) };
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
    await createTopics(conn, [{ name: topic, partitions: 4 }]);
    await produce(conn, topic, [0, 1, 2, 3].map((partition) => ({ partition, value: `{"n":${partition}}` })));

    // A member that keeps its session alive but does not rejoin while held: the rebalance below then has to
    // wait for it. It asks for a short rebalance timeout itself, so any longer wait comes from the daemon's.
    const slow = await heldMember(group, topic);
    cleanup.push(() => slow.release());
    await until('the slow member to join', async () => (await members(group)).clients.includes('held-member'), 30_000);

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

    // A client's default of a minute or more would keep it listed that long; the daemon's rebalance timeout is its session
    // timeout here, so it goes after about two sessions. The bound leaves room for a slow machine and stays
    // well below a minute.
    const goneAfterMs = await until('the group to drop the frozen daemon', async () => !(await members(group)).clients.includes('frozen-daemon'), 90_000);
    slow.release();
    expect(goneAfterMs, daemon.report()).toBeLessThan(40_000);
  });
});
