/**
 * A fetched batch of one partition's records as the engine's RecordChunk: the values copied into one buffer (the
 * client's buffers are then free), with each record's bounds, partition and offset. Kafka records can be fetched
 * again, so a replay to a restarted worker needs none of these bytes kept (refetch.ts).
 */
import type { FetchedBatch } from './fetcher.ts';
import type { RecordChunk } from '../sources/source.ts';

export function chunkOf(b: FetchedBatch): RecordChunk {
  const n = b.values.length;
  const data = Buffer.allocUnsafe(b.bytes);
  const starts = new Uint32Array(n);
  const ends = new Uint32Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    starts[i] = pos;
    const v = b.values[i];
    if (v) pos += v.copy(data, pos);
    ends[i] = pos;
  }
  return {
    data, starts, ends, count: n, firstIndex: 0, keys: null,
    partitions: new Int32Array(n).fill(b.partition), offsets: Float64Array.from(b.offsets), refetchable: true,
  };
}
