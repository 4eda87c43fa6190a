/**
 * The Kafka source's receive times, for the freshness metric: each fetched record's timestamp, set by the
 * producing client when it sent the record's batch (CreateTime; the tracking server sets none of its own), is
 * reported once, when a commit reaches its offset.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { ReceiveLog } from '../../src/kafka-platformatic/fetcher.ts';
import { kafkaConn, produce, withAdmin } from '../support/kafka/client.ts';
import { createTopics } from '../support/kafka/dataset.ts';
import { fetcherOn, sourceOn } from './support.ts';

function taken(log: ReceiveLog, next: number): [number, number][] {
  const out: [number, number][] = [];
  log.take(next, (ts, n) => out.push([ts, n]));
  return out;
}

describe('ReceiveLog', () => {
  it('reports the records below an offset once, splitting a record batch a commit reaches into', () => {
    const log = new ReceiveLog();
    log.add(0, 4, 1000);
    log.add(4, 6, 1000); // the same send: one entry
    log.add(8, 10, 1200); // offsets 6 and 7 were not delivered (a control batch, say)
    expect(log.entries).toBe(2);
    expect(taken(log, 3)).toEqual([[1000, 3]]);
    expect(taken(log, 3)).toEqual([]);
    expect(taken(log, 9)).toEqual([[1000, 3], [1200, 1]]);
    expect(taken(log, 100)).toEqual([[1200, 1]]);
    expect(log.entries).toBe(0);
  });

  it('keeps any number of entries in order as it grows and compacts', () => {
    const log = new ReceiveLog();
    let reported = 0;
    let last = -1;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 97; i++) {
        const o = round * 97 + i;
        log.add(o, o + 1, o); // a timestamp per offset: no merging
      }
      log.take(round * 97 + 50, (ts, n) => {
        expect(ts).toBeGreaterThan(last);
        last = ts;
        reported += n;
      });
    }
    log.take(Infinity, (_ts, n) => (reported += n));
    expect(reported).toBe(50 * 97);
  });
});

describe('Kafka source: receive times', { timeout: 120_000 }, () => {
  const conn = kafkaConn(inject('kafkaBrokers'));

  it('reports each record\'s producer timestamp once, when a commit reaches it', async () => {
    const topic = `received-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 2 }]);
    const t0 = Date.now();
    await produce(conn, topic, Array.from({ length: 30 }, (_, i) => ({ value: `a${i}`, partition: i % 2 })));
    const t1 = Date.now();
    await sleep(400);
    const t2 = Date.now();
    await produce(conn, topic, Array.from({ length: 10 }, (_, i) => ({ value: `b${i}`, partition: i % 2 })));
    const t3 = Date.now();

    const source = sourceOn(conn, topic, 'caught-up');
    try {
      await source.open();
      let read = 0;
      for (let c = await source.next(); c; c = await source.next()) read += c.count;
      expect(read).toBe(40);
      const got: [number, number][] = [];
      const add = (ts: number, n: number) => got.push([ts, n]);
      // A commit up to offset 10 of partition 0 (the first send's records 0–9 there), then everything.
      source.receivedTimes([{ partition: 0, nextOffset: 10 }], add);
      expect(got.reduce((n, [, k]) => n + k, 0)).toBe(10);
      for (const [ts] of got) expect(ts >= t0 && ts <= t1, `${ts} in [${t0}, ${t1}]`).toBe(true);
      got.length = 0;
      source.receivedTimes([{ partition: 0, nextOffset: 20 }, { partition: 1, nextOffset: 20 }], add);
      expect(got.reduce((n, [, k]) => n + k, 0)).toBe(30);
      const early = got.filter(([ts]) => ts >= t0 && ts <= t1).reduce((n, [, k]) => n + k, 0);
      const late = got.filter(([ts]) => ts >= t2 && ts <= t3).reduce((n, [, k]) => n + k, 0);
      expect([early, late]).toEqual([20, 10]);
      got.length = 0;
      source.receivedTimes([{ partition: 0, nextOffset: 20 }, { partition: 1, nextOffset: 20 }], add);
      expect(got).toEqual([]);
    } finally {
      await source.close();
      await withAdmin(conn, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });

  it('reports the times of a partition a rebalance took away too: the records read of it are still committed here', async () => {
    const topic = `received-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 2 }]);
    await produce(conn, topic, Array.from({ length: 20 }, (_, i) => ({ value: `a${i}`, partition: i % 2 })));
    let got = 0;
    const { fetcher, close } = fetcherOn(conn, topic, { deliver: (b) => (got += b.values.length), outOfRange: async () => null });
    try {
      fetcher.seek(0, 0);
      fetcher.seek(1, 0);
      while (got < 20) await sleep(20);
      fetcher.remove(1);
      let reported = 0;
      fetcher.receivedTimes([{ partition: 1, nextOffset: 10 }, { partition: 0, nextOffset: 10 }], (_ts, n) => (reported += n));
      expect(reported).toBe(20);
    } finally {
      await close();
      await withAdmin(conn, (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
    }
  });
});
