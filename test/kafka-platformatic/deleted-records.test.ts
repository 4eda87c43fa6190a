/**
 * A topic whose oldest records the retention deleted before the daemon read them: the source goes on from the
 * oldest record kept and reports the offsets it could not read, which records in and the lag then leave out
 * (CheckpointDeltas, EngineTelemetry).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { kafkaConn, produce, withAdmin } from '../support/kafka/client.ts';
import { createTopics } from '../support/kafka/dataset.ts';
import { fetcherOn, sourceOn } from './support.ts';

describe('Kafka source: records deleted before they were read', { timeout: 120_000 }, () => {
  const conn = kafkaConn(inject('kafkaBrokers'));

  it('goes on from the oldest record kept and reports the offsets it could not read', async () => {
    const topic = `deleted-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 2 }]);
    await produce(conn, topic, Array.from({ length: 40 }, (_, i) => ({ value: `r${i}`, partition: i % 2 })));
    await withAdmin(conn, (admin) => admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 15n }] }] }));

    const source = sourceOn(conn, topic, 'caught-up');
    try {
      await source.open();
      const read = new Map<number, number[]>([[0, []], [1, []]]);
      for (let c = await source.next(); c; c = await source.next()) {
        for (let i = 0; i < c.count; i++) read.get(c.partitions![i]!)!.push(c.offsets![i]!);
      }
      expect(read.get(0)).toEqual(Array.from({ length: 5 }, (_, i) => 15 + i));
      expect(read.get(1)).toHaveLength(20);
      expect(source.unreadable.within(0, 0, 20)).toBe(15);
      expect(source.unreadable.within(1, 0, 20)).toBe(0);
    } finally {
      await source.close();
      await withAdmin(conn, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });

  it('tries again when the log\'s range cannot be read (a leader being elected), without an unhandled failure', async () => {
    const topic = `deleted-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 1 }]);
    await produce(conn, topic, Array.from({ length: 20 }, (_, i) => ({ value: `r${i}`, partition: 0 })));
    await withAdmin(conn, (admin) => admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 15n }] }] }));
    const offsets: number[] = [];
    let asked = 0;
    const { fetcher, close } = fetcherOn(conn, topic, {
      deliver: (b) => offsets.push(...b.offsets),
      outOfRange: async () => {
        if (++asked === 1) throw new Error('NOT_LEADER_OR_FOLLOWER');
        return 15;
      },
    });
    try {
      fetcher.seek(0, 0);
      while (offsets.length < 5) await sleep(20);
      expect(asked).toBe(2);
      expect(offsets).toEqual([15, 16, 17, 18, 19]);
    } finally {
      await close();
      await withAdmin(conn, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });
});
