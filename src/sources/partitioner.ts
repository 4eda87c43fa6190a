/**
 * Kafka's default partitioner (Java client `Utils.murmur2`): so that a file replayed through
 * gamestream lands in the same partitions as the same events produced to Kafka with key = user_id.
 */
import { scanUserIdKey } from './key-scan.ts';
import type { RecordChunk } from './source.ts';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

export function murmur2(data: Uint8Array, start = 0, end = data.length): number {
  const length = end - start;
  let h = (SEED ^ length) | 0;
  const length4 = length & ~3;
  for (let i = 0; i < length4; i += 4) {
    const p = start + i;
    let k = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = start + length4;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2] << 16;
  if (rest >= 2) h ^= data[tail + 1] << 8;
  if (rest >= 1) {
    h ^= data[tail];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

export function partitionForKey(data: Uint8Array, start: number, end: number, partitions: number): number {
  return (murmur2(data, start, end) & 0x7fffffff) % partitions;
}

const encoder = new TextEncoder();

export function partitionForString(key: string, partitions: number): number {
  const bytes = encoder.encode(key);
  return partitionForKey(bytes, 0, bytes.length, partitions);
}

/**
 * The partition of record i of a chunk: by its key (the chunk's, or the JSON's user_id), else round-robin by its
 * record number, as Kafka's producer places keyless records.
 */
export function partitionOfRecord(chunk: RecordChunk, i: number, partitions: number): number {
  if (chunk.keys) {
    const k = chunk.keys[i];
    return k ? partitionForKey(k, 0, k.length, partitions) : (chunk.firstIndex + i) % partitions;
  }
  const key = scanUserIdKey(chunk.data, chunk.starts[i], chunk.ends[i]);
  if (!key) return (chunk.firstIndex + i) % partitions;
  return key.decoded
    ? partitionForKey(key.decoded, 0, key.decoded.length, partitions)
    : partitionForKey(chunk.data, key.start, key.end, partitions);
}
