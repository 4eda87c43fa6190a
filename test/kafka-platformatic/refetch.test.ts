/**
 * Fetching a batch's Kafka records again for a replay to a restarted worker: every record's bytes come back to
 * their place in the batch, over several fetches and partitions and past control records; a record that changed
 * or that the log no longer has stops the daemon with input_changed, and a fetch that fails is source_unavailable.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import type { FetchedOnce } from '../../src/kafka-platformatic/fetcher.ts';
import { refetchRecords, type Refetcher } from '../../src/kafka-platformatic/refetch.ts';
import type { RecordChunk } from '../../src/sources/source.ts';
import { kafkaConn, produce } from '../support/kafka/client.ts';
import { createTopics } from '../support/kafka/dataset.ts';
import { sourceOn } from './support.ts';

/** A log per partition: offset → value (a gap is a control record or a compacted one). Each fetch returns at most `per` records. */
function fakeLog(logs: Map<number, Map<number, string>>, per: number, outOfRangeBelow = 0): Refetcher & { calls: [number, number][] } {
  const calls: [number, number][] = [];
  return {
    calls,
    async fetchOnce(partition: number, offset: number): Promise<FetchedOnce> {
      calls.push([partition, offset]);
      const log = logs.get(partition)!;
      const end = Math.max(...log.keys()) + 1;
      if (offset < outOfRangeBelow || offset >= end) return { offsets: [], values: [], next: offset, outOfRange: true };
      const found: FetchedOnce = { offsets: [], values: [], next: offset, outOfRange: false };
      for (let o = offset; o < end && found.offsets.length < per; o++) {
        found.next = o + 1;
        const v = log.get(o);
        if (v === undefined) continue;
        found.offsets.push(o);
        found.values.push(Buffer.from(v));
      }
      return found;
    },
  };
}

/** A batch of the given records, in the given order: its index, offsets and the bytes the router would have built. */
function batchOf(records: [partition: number, offset: number, value: string][]): { index: Int32Array; offsets: Float64Array; bytes: Buffer } {
  const index = new Int32Array(3 * records.length);
  const offsets = new Float64Array(records.length);
  let at = 0;
  records.forEach(([p, o, v], i) => {
    index.set([p, at, at + Buffer.byteLength(v)], 3 * i);
    offsets[i] = o;
    at += Buffer.byteLength(v);
  });
  return { index, offsets, bytes: Buffer.concat(records.map(([, , v]) => Buffer.from(v))) };
}

describe('refetchRecords', () => {
  const logs = new Map<number, Map<number, string>>();
  for (const p of [0, 3]) {
    const log = new Map<number, string>();
    // Every 10th offset is a control record (a transaction marker): not in the log's records.
    for (let o = 0; o < 500; o++) if (o % 10 !== 9) log.set(o, `{"p":${p},"o":${o},"pad":"${'x'.repeat(o % 37)}"}`);
    logs.set(p, log);
  }

  it('puts every record back in its place, over several fetches per partition', async () => {
    const records: [number, number, string][] = [];
    for (let o = 120; o < 400; o++) for (const p of [0, 3]) if (logs.get(p)!.has(o) && o % 3 !== 0) records.push([p, o, logs.get(p)!.get(o)!]);
    const { index, offsets, bytes } = batchOf(records);
    const fetcher = fakeLog(logs, 50);
    const into = new Uint8Array(bytes.length);
    await refetchRecords('t', fetcher, index, offsets, into);
    expect(Buffer.from(into).equals(bytes)).toBe(true);
    // Each partition from its lowest offset on, and no further than its highest.
    expect(fetcher.calls.filter(([p]) => p === 0)[0]).toEqual([0, 121]);
    expect(fetcher.calls.length).toBeGreaterThan(2);
    expect(Math.max(...fetcher.calls.map(([, o]) => o))).toBeLessThan(400);
  });

  it('an empty value (a tombstone) is an empty record', async () => {
    const log = new Map([[0, 'a'], [1, ''], [2, 'c']]);
    const { index, offsets, bytes } = batchOf([[5, 0, 'a'], [5, 1, ''], [5, 2, 'c']]);
    const into = new Uint8Array(bytes.length);
    await refetchRecords('t', fakeLog(new Map([[5, log]]), 10), index, offsets, into);
    expect(Buffer.from(into).toString()).toBe('ac');
  });

  it('a record whose value changed, one compacted away, or one deleted by retention is input_changed, naming the offset', async () => {
    const changed = new Map([[0, new Map([[7, '{"changed":true}']])]]);
    const one = batchOf([[0, 7, '{"a":1}']]);
    await expect(refetchRecords('topic-x', fakeLog(changed, 10), one.index, one.offsets, new Uint8Array(one.bytes.length)))
      .rejects.toMatchObject({ code: 'input_changed', message: expect.stringMatching(/topic-x partition 0 offset 7 .*not the 7 first read.*Start the daemon again: it resumes from the warehouse/) });

    const compacted = new Map([[0, new Map([[6, 'a'], [8, 'c']])]]);
    const two = batchOf([[0, 6, 'a'], [0, 7, 'b'], [0, 8, 'c']]);
    await expect(refetchRecords('topic-x', fakeLog(compacted, 1), two.index, two.offsets, new Uint8Array(3)))
      .rejects.toMatchObject({ code: 'input_changed', message: expect.stringMatching(/partition 0 offset 7 .*no longer has it/) });

    const three = batchOf([[3, 20, logs.get(3)!.get(20)!]]);
    await expect(refetchRecords('topic-x', fakeLog(logs, 10, 100), three.index, three.offsets, new Uint8Array(three.bytes.length)))
      .rejects.toMatchObject({ code: 'input_changed', message: expect.stringMatching(/partition 3 offset 20 .*deleted by retention/) });
  });

  it('broker trouble (a failed fetch, an empty answer) is tried again; past the time allowed it is source_unavailable, retryable, with its cause', async () => {
    const b = batchOf([[1, 4, 'x']]);
    // Failing, then empty (a throttled broker answers with nothing), then the record.
    const answers: (() => Promise<FetchedOnce>)[] = [
      () => Promise.reject(new Error('leader moved')),
      () => Promise.resolve({ offsets: [], values: [], next: 4, outOfRange: false }),
      () => Promise.resolve({ offsets: [4], values: [Buffer.from('x')], next: 5, outOfRange: false }),
    ];
    let calls = 0;
    const flaky: Refetcher = { fetchOnce: () => answers[calls++]!() };
    const into = new Uint8Array(1);
    await refetchRecords('t', flaky, b.index, b.offsets, into, 10_000);
    expect([calls, Buffer.from(into).toString()]).toEqual([3, 'x']);

    let tries = 0;
    const failing: Refetcher = { fetchOnce: () => (tries++, Promise.reject(new Error('broker gone'))) };
    await expect(refetchRecords('t', failing, b.index, b.offsets, new Uint8Array(1), 250))
      .rejects.toMatchObject({ code: 'source_unavailable', retryable: true, message: expect.stringMatching(/partition 1 again from offset 4 .*tried \d+ times.*broker gone/) });
    expect(tries).toBeGreaterThan(1);
  });
});

describe('KafkaSource.refetch against the broker', { timeout: 120_000 }, () => {
  const conn = kafkaConn(inject('kafkaBrokers'));

  it('fetches a batch\'s records again while the fetch loop goes on: the bytes are the same, and the loop delivers every record once, in order', async () => {
    const topic = `refetch-${randomBytes(4).toString('hex')}`;
    await createTopics(conn, [{ name: topic, partitions: 2 }]);
    // About 2 KB each, 2.4 MB per partition: more than one fetch returns, so both the loop and the batch fetched
    // again take several.
    const value = (p: number, i: number) => `{"p":${p},"i":${i},"pad":"${'y'.repeat((i * 131) % 4000)}"}`;
    // In several sends, so the log has many record batches.
    for (let s = 0; s < 6; s++) await produce(conn, topic, Array.from({ length: 400 }, (_, k) => ({ value: value(k % 2, s * 200 + (k >> 1)), partition: k % 2 })));

    const source = sourceOn(conn, topic, 'never');
    try {
      await source.open();
      const seen = new Map<number, number[]>([[0, []], [1, []]]);
      const first: RecordChunk[] = [];
      const take = (c: RecordChunk) => {
        expect(c.refetchable).toBe(true);
        for (let i = 0; i < c.count; i++) {
          seen.get(c.partitions![i])!.push(c.offsets![i]);
          expect(Buffer.from(c.data.subarray(c.starts[i], c.ends[i])).toString()).toBe(value(c.partitions![i], c.offsets![i]));
        }
      };
      // Copies of the first chunks (a chunk's bytes may be reused by the next call).
      while (first.length < 3) {
        const c = (await source.next())!;
        take(c);
        first.push({ ...c, data: Buffer.from(c.data), starts: c.starts.slice(), ends: c.ends.slice(), partitions: c.partitions!.slice(), offsets: c.offsets!.slice() });
      }
      // A batch as the router builds it: the records of those chunks, partitions mixed, every other one.
      const records: [number, number, Uint8Array][] = [];
      for (const c of first) for (let i = 0; i < c.count; i += 2) records.push([c.partitions![i], c.offsets![i], c.data.subarray(c.starts[i], c.ends[i])]);
      const index = new Int32Array(3 * records.length);
      let at = 0;
      records.forEach(([p, , v], i) => {
        index.set([p, at, at + v.length], 3 * i);
        at += v.length;
      });
      const into = new Uint8Array(at);
      // The loop keeps reading (and more is produced) while the batch is fetched again.
      const more = produce(conn, topic, Array.from({ length: 200 }, (_, k) => ({ value: value(k % 2, 1200 + (k >> 1)), partition: k % 2 })));
      const refetched = source.refetch(index, Float64Array.from(records.map(([, o]) => o)), into);
      while (seen.get(0)!.length + seen.get(1)!.length < 2600) take((await source.next())!);
      await Promise.all([refetched, more]);
      expect(Buffer.from(into).equals(Buffer.concat(records.map(([, , v]) => v)))).toBe(true);
      for (const p of [0, 1]) expect(seen.get(p)).toEqual(Array.from({ length: 1300 }, (_, i) => i));
    } finally {
      await source.close();
    }
  });
});
