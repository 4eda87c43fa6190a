/**
 * The Java client's default partitioner for a keyed record, `Utils.toPositive(Utils.murmur2(keyBytes)) %
 * numPartitions`, ported from the Java source for the tests: nothing from src/ or from a Kafka client, and the
 * 32-bit multiply is done in 16-bit halves, a technique neither src/sources/partitioner.ts (Math.imul) nor
 * @platformatic/kafka (BigInt) uses. partitioner.test.ts checks it against Kafka's own UtilsTest vectors.
 */

/** (a * b) mod 2^32 as an unsigned 32-bit number, in 16-bit halves so that nothing exceeds 2^53. */
function mul32(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const lo = aLo * b;
  const hi = ((aHi * b) & 0xffff) * 0x10000;
  return (lo + hi) % 0x1_0000_0000;
}

/** Java's Utils.murmur2(byte[]), as the signed 32-bit int Java returns. */
export function javaMurmur2(data: Uint8Array): number {
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  const length = data.length;
  let h = (seed ^ length) >>> 0;
  const length4 = Math.floor(length / 4);
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = ((data[i4] & 0xff) + ((data[i4 + 1] & 0xff) << 8) + ((data[i4 + 2] & 0xff) << 16) + ((data[i4 + 3] & 0xff) << 24)) >>> 0;
    k = mul32(k, m);
    k = (k ^ (k >>> r)) >>> 0;
    k = mul32(k, m);
    h = mul32(h, m);
    h = (h ^ k) >>> 0;
  }
  const rest = length % 4;
  const base = length & ~3;
  if (rest === 3) h = (h ^ ((data[base + 2] & 0xff) << 16)) >>> 0;
  if (rest >= 2) h = (h ^ ((data[base + 1] & 0xff) << 8)) >>> 0;
  if (rest >= 1) {
    h = (h ^ (data[base] & 0xff)) >>> 0;
    h = mul32(h, m);
  }
  h = (h ^ (h >>> 13)) >>> 0;
  h = mul32(h, m);
  h = (h ^ (h >>> 15)) >>> 0;
  return h | 0;
}

/** The partition Java's default partitioner gives a record with this key. */
export function javaPartition(key: Uint8Array | string, partitions: number): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return (javaMurmur2(bytes) & 0x7fffffff) % partitions;
}
