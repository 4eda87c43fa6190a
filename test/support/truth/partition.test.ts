// The reference partitioner against the Java client's own numbers, and against the engine's partitioner on
// many random keys (this test may import src/; partition.ts itself may not).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, partitionForString } from '../../../src/sources/partitioner.ts';
import { createPartitioner, JAVA_MURMUR2_VECTORS as JAVA_HASHES, javaMurmur2 } from './partition.ts';


describe('reference partitioner (Java default partitioner)', () => {
  it('hashes as Utils.murmur2', () => {
    for (const [key, h] of JAVA_HASHES) expect(Number(BigInt.asIntN(32, javaMurmur2(Buffer.from(key)))), key).toBe(h);
  });

  it('places keys at toPositive(murmur2) % n, by hand for 7 and 64 partitions', () => {
    // (h & 0x7fffffff) % n worked out from the hashes above; with 7 partitions, `h >>> 0` (no sign mask)
    // would give 5, 2, 3, 2, 5 instead for the negative ones.
    const byHand: [string, number, number][] = [
      ['21', 3, 44], ['foobar', 0, 62], ['a-little-bit-long-string', 1, 32], ['a-little-bit-longer-string', 0, 3],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', 3, 13], ['abc', 4, 27],
    ];
    const p7 = createPartitioner(7);
    const p64 = createPartitioner(64);
    for (const [key, in7, in64] of byHand) {
      expect(p7.ofKey(key), key).toBe(in7);
      expect(p64.ofKey(key), key).toBe(in64);
      expect(p7.of(Buffer.from(key), 99), key).toBe(in7);
      expect(p7.of(key, 99), key).toBe(in7);
    }
    for (const n of [1, 3, 100]) {
      const p = createPartitioner(n);
      for (const [key, h] of JAVA_HASHES) expect(p.ofKey(key), `${key} / ${n}`).toBe((h & 0x7fffffff) % n);
    }
  });

  it('places keyless records by record index', () => {
    const p = createPartitioner(4);
    expect([0, 1, 2, 3, 4, 9].map((i) => p.of(null, i))).toEqual([0, 1, 2, 3, 0, 1]);
  });

  it('agrees with the engine (src/sources/partitioner.ts) on many random keys, lengths and partition counts', () => {
    const strings = ['', 'a', 'ab', 'abc', 'abcd', 'ünïcødé', '😀 emoji', crypto.randomUUID()];
    for (let i = 0; i < 2000; i++) strings.push(Math.random().toString(36).slice(2, 2 + (i % 40)));
    // Raw bytes too, not valid UTF-8 in general: every byte value, every tail length.
    const raw = Array.from({ length: 2000 }, (_, i) => randomBytes(i % 67));
    for (const n of [1, 3, 7, 8, 64, 100]) {
      const p = createPartitioner(n);
      for (const k of strings) expect(p.ofKey(k), `${k} / ${n}`).toBe(partitionForString(k, n));
      for (const b of raw) {
        expect(p.of(b, 0), `${b.toString('hex')} / ${n}`).toBe(partitionForKey(b, 0, b.length, n));
        // Cached the second time: still the same.
        expect(p.of(Buffer.from(b), 0)).toBe(partitionForKey(b, 0, b.length, n));
      }
    }
    for (const b of raw) expect(Number(BigInt.asIntN(32, javaMurmur2(b)))).toBe(murmur2(b));
  });
});
