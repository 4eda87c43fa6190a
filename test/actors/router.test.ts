/**
 * The router, in process: records land in the partition Kafka's default partitioner gives their user_id (or
 * the given one, for Kafka), numbered per partition, packed into one batch per worker thread; records below a
 * partition's resume offset are skipped, and a partition handed to another daemon (resume at Infinity) is dropped.
 */
import { describe, expect, it } from 'vitest';
import { BATCH_BYTES, Router, type SealedBatch } from '../../src/actors/router.ts';
import { recordHash } from '../../src/contract/record-hash.ts';
import { engineWatermark } from '../../src/windows/watermark.ts';
import type { RecordChunk } from '../../src/sources/source.ts';
import { chunkOf } from '../support/memory-source.ts';

function chunk(lines: string[], firstIndex = 0, given?: { partitions: number[]; offsets: number[] }): RecordChunk {
  return {
    ...chunkOf(lines, firstIndex),
    ...(given ? { partitions: Int32Array.from(given.partitions), offsets: Float64Array.from(given.offsets) } : {}),
  };
}

/** Every record of these batches as [worker, partition, offset, text]. */
function records(batches: SealedBatch[]): [number, number, number, string][] {
  const out: [number, number, number, string][] = [];
  for (const b of batches) {
    for (let i = 0, r = 0; i < b.index.length; i += 3, r++) {
      out.push([b.worker, b.index[i]!, b.offsets[r]!, Buffer.from(b.data!.subarray(b.index[i + 1]!, b.index[i + 2]!)).toString()]);
    }
  }
  return out;
}

const ev = (user: string, n: number): string => JSON.stringify({ user_id: user, id: `e${n}` });

describe('router', () => {
  it('puts each user in one partition, numbers records per partition, and packs a batch per worker', () => {
    const r = new Router(8, 3, 1000, new Map());
    const lines = Array.from({ length: 40 }, (_, i) => ev(`u${i % 5}`, i));
    const got = records([...r.route(chunk(lines), 1), ...r.sealAll()]);
    expect(got.length).toBe(40);
    const partitionOf = new Map<string, number>();
    const nextOffset = new Map<number, number>();
    for (const [worker, p, offset, text] of got.sort((a, b) => a[1] - b[1] || a[2] - b[2])) {
      const user = (JSON.parse(text) as { user_id: string }).user_id;
      expect(partitionOf.get(user) ?? p).toBe(p);
      partitionOf.set(user, p);
      expect(worker).toBe(p % 3);
      expect(offset).toBe(nextOffset.get(p) ?? 0);
      nextOffset.set(p, offset + 1);
    }
    // murmur2 over the key bytes, as the Java client places them (test/sources/partitioner.test.ts).
    expect(r.partitionOf(chunk([ev('u0', 0)]), 0)).toBe(partitionOf.get('u0'));
    expect(r.routed).toBe(40);
  });

  it('records without a user_id go round by their record number', () => {
    const r = new Router(4, 1, 1000, new Map());
    const got = records([...r.route(chunk(['{"id":"a"}', 'not json', '{"id":"b"}'], 10), 1), ...r.sealAll()]);
    expect(got.map(([, p]) => p)).toEqual([10 % 4, 11 % 4, 12 % 4]);
  });

  it('seals a worker\'s batch when it holds batchRecords records', () => {
    const r = new Router(1, 1, 3, new Map());
    const full = r.route(chunk(Array.from({ length: 7 }, (_, i) => ev('u', i))), 1);
    expect(full.map((b) => b.offsets.length)).toEqual([3, 3]);
    expect(r.sealAll().map((b) => b.offsets.length)).toEqual([1]);
    expect(r.sealAll()).toEqual([]);
  });

  it('skips what the warehouse already has, and drops a partition another daemon owns', () => {
    const lines = Array.from({ length: 6 }, (_, i) => ev('u', i));
    const r = new Router(2, 1, 1000, new Map([[0, 2]]));
    const p = r.partitionOf(chunk([lines[0]!]), 0);
    r.setResume(p, p === 0 ? 2 : 4);
    const got = records([...r.route(chunk(lines), 1), ...r.sealAll()]);
    expect(got.map(([, , o]) => o)).toEqual(p === 0 ? [2, 3, 4, 5] : [4, 5]);
    expect(r.skipped).toBe(p === 0 ? 2 : 4);
    r.setResume(p, Infinity);
    expect(records([...r.route(chunk(lines), 2), ...r.sealAll()])).toEqual([]);
  });

  it('counts a partition taken over as active from the take-over, in a daemon up for longer than the idle timeout', () => {
    const started = 1_000_000;
    const now = started + 10 * 60_000;
    const r = new Router(2, 1, 1000, new Map());
    r.lastRoutedAt[0] = now - 1000; // partition 0 had a record a second ago
    r.setResume(1, 500, now); // partition 1 just handed over from another daemon, its backlog not fetched yet
    const wm = engineWatermark([5_000_000, -Infinity], r.lastRoutedAt, now + 1000, 60_000, -Infinity, started);
    // Partition 1 is not idle: it holds the engine back rather than following it and finding its backlog late.
    expect(wm.idlePartitions).toEqual([]);
    expect(wm.watermarkMs).toBe(-Infinity);
    // A partition handed away is not this daemon's to wait for.
    r.setResume(1, Infinity, now);
    expect(r.lastRoutedAt[1]).toBe(0);
  });

  it('takes partitions and offsets as the source gives them (Kafka), and notes when each partition last had a record', () => {
    const r = new Router(4, 2, 1000, new Map([[3, 100]]));
    const got = records([...r.route(chunk(['a', 'b', 'c'], 0, { partitions: [3, 3, 1], offsets: [99, 100, 7] }), 42), ...r.sealAll()]);
    expect(got.map(([w, p, o, t]) => [w, p, o, t])).toEqual([[1, 3, 100, 'b'], [1, 1, 7, 'c']]);
    expect(r.lastRoutedAt[1]).toBe(42);
    expect(r.lastRoutedAt[0]).toBe(0);
  });
});

describe('router: resuming the input the warehouse read', () => {
  const lines = Array.from({ length: 6 }, (_, i) => ev('u', i)); // one user: one partition, offsets 0–5
  const stored = (text: string) => ({ source: 'file:/x.ndjson', lastRecords: new Map([[0, recordHash(Buffer.from(text))]]) });

  it('goes on past the checkpoint when the record at it is the one the warehouse read, and at the end of input', () => {
    const r = new Router(1, 1, 1000, new Map([[0, 3]]), stored(lines[2]!));
    expect(records([...r.route(chunk(lines), 1), ...r.sealAll()]).map(([, , o]) => o)).toEqual([3, 4, 5]);
    expect(r.endOfInput()).toBe(true);
  });

  it('is input_changed when the record at the checkpoint is another one (a file replaced under the same name)', () => {
    const r = new Router(1, 1, 1000, new Map([[0, 3]]), stored(lines[2]!));
    const other = lines.map((l) => l.replace('"e', '"x'));
    expect(() => r.route(chunk(other), 1)).toThrow(expect.objectContaining({
      code: 'input_changed', message: expect.stringContaining('file:/x.ndjson is not the input the warehouse read: record 2 of partition 0'),
    }));
  });

  it('is input_changed at the end of an input with fewer records than the warehouse read (a shorter file)', () => {
    const r = new Router(1, 1, 1000, new Map([[0, 5]]), stored(lines[4]!));
    r.route(chunk(lines.slice(0, 3)), 1);
    expect(() => r.endOfInput()).toThrow(expect.objectContaining({
      code: 'input_changed', message: expect.stringContaining('ends before the warehouse\'s checkpoint: partition 0 has 3 records, the warehouse read 5'),
    }));
  });

  it('checks nothing for a source with positions of its own (Kafka: no StoredRecords), or a checkpoint without a fingerprint', () => {
    // A caught-up Kafka run that reads no record at all (nothing new on the topic) ends as it should.
    const idle = new Router(1, 1, 1000, new Map([[0, 3]]));
    expect(idle.endOfInput()).toBe(true);
    const kafka = new Router(1, 1, 1000, new Map([[0, 3]]));
    kafka.route(chunk(['a', 'b', 'c'], 0, { partitions: [0, 0, 0], offsets: [0, 1, 2] }), 1);
    expect(kafka.endOfInput()).toBe(true);
    const old = new Router(1, 1, 1000, new Map([[0, 3]]));
    expect(records([...old.route(chunk(lines.map((l) => l.replace('"e', '"x'))), 1), ...old.sealAll()])).toHaveLength(3);
  });
});

describe('router: file positions', () => {
  it('notes where each record is in the file when its chunk says, and none for a batch with a record that has no position', () => {
    const r = new Router(1, 1, 1000, new Map());
    const lines = ['{"user_id":"a"}', '{"user_id":"bb"}'];
    const inFile = { ...chunk(lines), filePos: 1000 };
    const [b] = [...r.route(inFile, 1), ...r.sealAll()];
    expect(Array.from(b!.filePos!)).toEqual([1000 + inFile.starts[0]!, 1000 + inFile.starts[1]!]);
    r.route(inFile, 1);
    const [mixed] = [...r.route(chunk(['{"user_id":"c"}']), 1), ...r.sealAll()];
    expect(mixed!.offsets.length).toBe(3);
    expect(mixed!.filePos).toBeNull();
  });

  it('marks a batch the source can fetch again (Kafka) only when every record came from such a chunk', () => {
    const r = new Router(4, 1, 1000, new Map());
    const fromLog = { ...chunk(['a', 'b'], 0, { partitions: [2, 2], offsets: [10, 11] }), refetchable: true };
    const [b] = [...r.route(fromLog, 1), ...r.sealAll()];
    expect([b!.refetch, b!.filePos]).toEqual([true, null]);
    expect(Array.from(b!.offsets)).toEqual([10, 11]);
    r.route(fromLog, 1);
    const [mixed] = [...r.route(chunk(['c'], 0, { partitions: [2], offsets: [12] }), 1), ...r.sealAll()];
    expect(mixed!.refetch).toBe(false);
    // The next batch starts afresh.
    const [again] = [...r.route(fromLog, 1), ...r.sealAll()];
    expect(again!.refetch).toBe(true);
  });
});

describe('router: batch buffers', () => {
  it('builds the next batches in buffers given back, and keeps only full-size ones, a few at most', () => {
    const r = new Router(1, 1, 2, new Map());
    const [first] = r.route(chunk(['{"user_id":"a"}', '{"user_id":"b"}']), 1);
    // A batch under half its buffer is copied out: the builder keeps its buffer.
    expect(first!.data!.buffer.byteLength).toBeLessThan(BATCH_BYTES);
    const spare = new SharedArrayBuffer(BATCH_BYTES);
    r.buffers.give(spare);
    r.buffers.give(new SharedArrayBuffer(100));
    r.buffers.give(new ArrayBuffer(BATCH_BYTES));
    expect(r.buffers.size).toBe(1);
    const big = '{"user_id":"c","pad":"' + 'x'.repeat(BATCH_BYTES * 0.3) + '"}';
    const [full] = r.route(chunk([big, big.replace('"c"', '"d"')]), 1);
    // It was built in the builder's buffer, and the builder took the spare one for its next batch.
    expect(full!.data!.buffer.byteLength).toBe(BATCH_BYTES);
    expect(r.buffers.size).toBe(0);
    for (let i = 0; i < 40; i++) r.buffers.give(new SharedArrayBuffer(BATCH_BYTES));
    expect(r.buffers.size).toBe(16);
  });
});
