// Partition assignment by the Java client's default partitioner: toPositive(Utils.murmur2(key bytes)) % n.
// Written here from the Java source, in exact BigInt arithmetic over unsigned 32-bit words, so the reference
// shares neither code nor technique with the engine's hash (src/sources/partitioner.ts, Math.imul on int32).
// No Kafka client is involved either: the Java algorithm is the contract.

export interface Partitioner {
  /** Partition of a keyed record. */
  ofKey(key: string): number;
  /** Partition of a record: by key (its bytes), or by its 0-based record index when it has none. */
  of(key: string | Buffer | null, recordIndex: number): number;
}

/** Utils.murmur2 of the Java client on its own test strings (UtilsTest.testMurmur2), as signed ints. */
export const JAVA_MURMUR2_VECTORS: readonly [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

const U32 = 0xffff_ffffn;
const SEED = 0x9747_b28cn;
const M = 0x5bd1_e995n;

/** (a * b) mod 2^32, both unsigned 32-bit. */
const mul = (a: bigint, b: bigint): bigint => (a * b) & U32;

/** Java's `Utils.murmur2(byte[])`, as an unsigned 32-bit value (the int's bit pattern). */
export function javaMurmur2(bytes: Uint8Array): bigint {
  const n = bytes.length;
  let h = (SEED ^ BigInt(n)) & U32;
  const whole = n - (n % 4);
  for (let off = 0; off < whole; off += 4) {
    // Four bytes, little-endian, as Java's `(data[i+0] & 0xff) + ((data[i+1] & 0xff) << 8) + ...`.
    let k = BigInt(bytes[off]!) | (BigInt(bytes[off + 1]!) << 8n) | (BigInt(bytes[off + 2]!) << 16n) | (BigInt(bytes[off + 3]!) << 24n);
    k = mul(k, M);
    k ^= k >> 24n;
    k = mul(k, M);
    h = mul(h, M) ^ k;
  }
  // Java's switch on length % 4 falls through from case 3 to case 1.
  const tail = n - whole;
  if (tail >= 3) h ^= BigInt(bytes[whole + 2]!) << 16n;
  if (tail >= 2) h ^= BigInt(bytes[whole + 1]!) << 8n;
  if (tail >= 1) h = mul(h ^ BigInt(bytes[whole]!), M);
  h ^= h >> 13n;
  h = mul(h, M);
  h ^= h >> 15n;
  return h;
}

/** `Utils.toPositive(murmur2(bytes)) % partitions`, toPositive being `h & 0x7fffffff`. */
export function javaPartition(bytes: Uint8Array, partitions: number): number {
  return Number((javaMurmur2(bytes) & 0x7fff_ffffn) % BigInt(partitions));
}

export function createPartitioner(partitions: number): Partitioner {
  // BigInt is slow; caching keeps a 1M-record dataset fast (keys repeat per user). Raw keys are cached by
  // their bytes as latin1 (one char per byte, so distinct byte strings never share an entry).
  const byString = new Map<string, number>();
  const byBytes = new Map<string, number>();
  const ofKey = (key: string): number => {
    let p = byString.get(key);
    if (p === undefined) {
      p = javaPartition(Buffer.from(key, 'utf8'), partitions);
      byString.set(key, p);
    }
    return p;
  };
  return {
    ofKey,
    of: (key, recordIndex) => {
      if (key === null) return recordIndex % partitions;
      if (typeof key === 'string') return ofKey(key);
      // Raw key bytes may not be UTF-8; hash them as they are.
      const id = key.toString('latin1');
      let p = byBytes.get(id);
      if (p === undefined) {
        p = javaPartition(key, partitions);
        byBytes.set(id, p);
      }
      return p;
    },
  };
}
