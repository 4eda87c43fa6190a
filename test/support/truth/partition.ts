// Partition assignment by kafkajs's own default partitioner (Java-compatible murmur2), so the reference does
// not share a hash implementation with the engine.
import { Partitioners } from 'kafkajs';
import type { PartitionMetadata } from 'kafkajs';

export interface Partitioner {
  /** Partition of a keyed record. */
  ofKey(key: string): number;
  /** Partition of a record: by key (its bytes), or by its 0-based record index when it has none. */
  of(key: string | Buffer | null, recordIndex: number): number;
}

export function createPartitioner(partitions: number): Partitioner {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0],
  }));
  // kafkajs hashes with a Long emulation; caching keeps a 1M-record dataset fast (keys repeat per user).
  const cache = new Map<string, number>();
  const ofKey = (key: string): number => {
    let p = cache.get(key);
    if (p === undefined) {
      p = partitioner({ topic: 'gamestream', partitionMetadata, message: { key: Buffer.from(key, 'utf8'), value: null } });
      cache.set(key, p);
    }
    return p;
  };
  return {
    ofKey,
    of: (key, recordIndex) => {
      if (key === null) return recordIndex % partitions;
      if (typeof key === 'string') return ofKey(key);
      // Raw key bytes may not be UTF-8; hash them as they are.
      return partitioner({ topic: 'gamestream', partitionMetadata, message: { key, value: null } });
    },
  };
}
