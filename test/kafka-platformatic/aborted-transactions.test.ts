/**
 * A transactional producer's aborted transaction, larger than one fetch answer, so that its abort marker comes in a
 * later answer than its first records: none of its records is read, from the start, from a restart in its middle,
 * or when a restarted worker's batch is fetched again.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { describe, expect, inject, it } from 'vitest';
import { baseOptions } from '../../src/kafka-platformatic/client.ts';
import { endOffsets, kafkaConn, produce, withAdmin, type KafkaConn } from '../support/kafka/client.ts';
import { createTopics } from '../support/kafka/dataset.ts';
import { fetcherOn, sourceOn } from './support.ts';

/** 12 batches of 256 KiB that do not compress: 3 MiB, more than one answer's 1 MiB a partition (and fetchOnce's 2 MiB). */
const TXN_BATCHES = 12;

async function abortTransaction(conn: KafkaConn, topic: string): Promise<void> {
  const producer = new Producer({
    ...baseOptions({ brokers: conn.brokers, clientId: 'gamestream-test-txn' }),
    idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false, transactionalId: `${topic}-txn`,
  });
  try {
    const tx = await producer.beginTransaction();
    for (let i = 0; i < TXN_BATCHES; i++) await tx.send({ messages: [{ topic, partition: 0, value: randomBytes(256 << 10) }] });
    await tx.abort();
  } finally {
    await producer.close();
  }
}

const unexpected = (): Promise<number> => Promise.reject(new Error('the log has every offset the test reads'));

describe('Kafka source: aborted transactions', { timeout: 120_000 }, () => {
  const conn = kafkaConn(inject('kafkaBrokers'));

  it('reads none of an aborted transaction whose marker is in a later answer than its records', async () => {
    const topic = `aborted-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 1 }]);
    try {
      await produce(conn, topic, [0, 1, 2].map((i) => ({ value: `before${i}`, partition: 0 })));
      await abortTransaction(conn, topic);
      // Offsets: 0–2 plain, 3–14 the aborted transaction, 15 its marker, then 3 plain. The coordinator writes the
      // marker after the abort returns: wait for it, so the plain records come after it.
      const after = 3 + TXN_BATCHES + 1;
      while ((await endOffsets(conn, topic)).get(0)! < after) await sleep(20);
      await produce(conn, topic, [0, 1, 2].map((i) => ({ value: `after${i}`, partition: 0 })));
      const committed = [0, 1, 2, after, after + 1, after + 2];
      const last = after + 2;

      const offsets: number[] = [];
      const values: string[] = [];
      const { fetcher, close } = fetcherOn(conn, topic, {
        deliver: (b) => {
          offsets.push(...b.offsets);
          values.push(...b.values.map((v) => v?.toString() ?? ''));
        },
        outOfRange: unexpected,
      });
      try {
        fetcher.seek(0, 0);
        while (!offsets.includes(last)) await sleep(20);
        expect(offsets).toEqual(committed);
        expect(values).toEqual(['before0', 'before1', 'before2', 'after0', 'after1', 'after2']);

        // A restarted worker's batch fetched again from inside the transaction: nothing of it comes back.
        const again = await fetcher.fetchOnce(0, 5);
        expect(again.offsets.filter((o) => o < after)).toEqual([]);
        expect(again.next).toBeGreaterThan(5);
      } finally {
        await close();
      }

      // A restart from a checkpoint inside the transaction.
      const resumed: number[] = [];
      const second = fetcherOn(conn, topic, { deliver: (b) => resumed.push(...b.offsets), outOfRange: unexpected });
      try {
        second.fetcher.seek(0, 5);
        while (!resumed.includes(last)) await sleep(20);
        expect(resumed).toEqual([after, after + 1, after + 2]);
      } finally {
        await second.close();
      }

      // The whole source, as the daemon reads the topic.
      const source = sourceOn(conn, topic, 'caught-up');
      try {
        await source.open();
        const read: number[] = [];
        for (let c = await source.next(); c; c = await source.next()) read.push(...c.offsets!.slice(0, c.count));
        expect(read).toEqual(committed);
      } finally {
        await source.close();
      }
    } finally {
      await withAdmin(conn, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });
});
