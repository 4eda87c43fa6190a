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

/** Transactions on partition 0 from one producer, in order, each of `values` (one batch each), aborted or committed. */
async function transactions(conn: KafkaConn, topic: string, txns: { values: Buffer[]; end: 'abort' | 'commit' }[]): Promise<void> {
  const producer = new Producer({
    ...baseOptions({ brokers: conn.brokers, clientId: 'gamestream-test-txn' }),
    idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false, transactionalId: `${topic}-txn`,
  });
  try {
    for (const { values, end } of txns) {
      const tx = await producer.beginTransaction();
      for (const value of values) await tx.send({ messages: [{ topic, partition: 0, value }] });
      await (end === 'abort' ? tx.abort() : tx.commit());
    }
  } finally {
    await producer.close();
  }
}

/** The coordinator writes a transaction's marker after the abort or commit returns: wait until the log has it. */
async function untilLogEnd(conn: KafkaConn, topic: string, end: number): Promise<void> {
  while ((await endOffsets(conn, topic)).get(0)! < end) await sleep(20);
}

const unexpected = (): Promise<number> => Promise.reject(new Error('the log has every offset the test reads'));

describe('Kafka source: aborted transactions', { timeout: 120_000 }, () => {
  const conn = kafkaConn(inject('kafkaBrokers'));

  it('reads none of an aborted transaction whose marker is in a later answer than its records', async () => {
    const topic = `aborted-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 1 }]);
    try {
      await produce(conn, topic, [0, 1, 2].map((i) => ({ value: `before${i}`, partition: 0 })));
      await transactions(conn, topic, [{ values: Array.from({ length: TXN_BATCHES }, () => randomBytes(256 << 10)), end: 'abort' }]);
      // Offsets: 0–2 plain, 3–14 the aborted transaction, 15 its marker, then 3 plain (after the marker).
      const after = 3 + TXN_BATCHES + 1;
      await untilLogEnd(conn, topic, after);
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
        // The transaction and its marker are neither records in nor lag.
        expect(source.unreadable.within(0, 0, last + 1)).toBe(TXN_BATCHES + 1);
      } finally {
        await source.close();
      }
    } finally {
      await withAdmin(conn, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });

  it('finishes a caught-up run on a log that ends in a transaction marker', async () => {
    const topic = `committed-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 1 }]);
    try {
      await produce(conn, topic, [{ value: 'plain', partition: 0 }]);
      await transactions(conn, topic, [{ values: [Buffer.from('a'), Buffer.from('b')], end: 'commit' }, { values: [Buffer.from('c')], end: 'abort' }]);
      // Offsets: 0 plain, 1–2 committed, 3 its marker, 4 aborted, 5 its marker: the log ends at 6, its last record 2.
      await untilLogEnd(conn, topic, 6);
      const source = sourceOn(conn, topic, 'caught-up');
      try {
        await source.open();
        const read: string[] = [];
        for (let c = await source.next(); c; c = await source.next()) {
          for (let i = 0; i < c.count; i++) read.push(Buffer.from(c.data.subarray(c.starts[i], c.ends[i])).toString());
        }
        expect(read).toEqual(['plain', 'a', 'b']);
        expect(source.unreadable.within(0, 0, 6)).toBe(3);
      } finally {
        await source.close();
      }
    } finally {
      await withAdmin(conn, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });
});
