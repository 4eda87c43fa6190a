import { describe, expect, it } from 'vitest';
import { murmur2, partitionForString } from '../../src/sources/partitioner.ts';
import { createPartitioner, JAVA_MURMUR2_VECTORS } from '../support/truth/partition.ts';

// The reference is the test suite's independent port of the Java client's default partitioner
// (test/support/truth/partition.ts): the same key must land in the same partition as in Kafka.
function reference(key: string, partitions: number): number {
  return createPartitioner(partitions).ofKey(key);
}

describe('murmur2 partitioner', () => {
  it('matches Kafka test vectors', () => {
    // From the Java client's UtilsTest.testMurmur2.
    for (const [key, hash] of JAVA_MURMUR2_VECTORS) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });

  it('agrees with the Java default partitioner for many keys, lengths and partition counts', () => {
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'ünïcødé', '😀 emoji', crypto.randomUUID()];
    for (let i = 0; i < 2000; i++) keys.push(Math.random().toString(36).slice(2, 2 + (i % 40)));
    for (const partitions of [1, 3, 8, 64, 100]) {
      for (const k of keys) expect(partitionForString(k, partitions), `${k} / ${partitions}`).toBe(reference(k, partitions));
    }
  });
});
