/**
 * The 128-bit key of an event id in the dedupe index (docs/SEMANTICS.md, "Duplicates").
 *
 * A lowercase `8-4-4-4-12` hex UUID is its own 128 bits, so two such ids share a key only if they are the same
 * string. Any other id (uppercase or mixed case, ULIDs, "evt-123", unicode) is hashed to 128 bits with
 * MurmurHash3 x86_128 over its UTF-16 code units: two different ids then share a key with probability 2^-128,
 * the odds of two random UUIDs being equal.
 *
 * `h32` orders the index: run files are sorted by (h32, key), and the filter and the in-memory tables take
 * their slots from it. It is a fixed mix of all 128 bits, so ids that share a prefix (UUIDv7, counters) still
 * spread evenly.
 *
 * Allocation-free: keyOf() leaves the result in KEY, which the caller reads before the next call.
 */

/** [h32, k0, k1, k2, k3] of the last keyOf() call (h32 is unsigned, the words are int32). */
export const KEY = new Int32Array(5);

// Per char code: hex value, or 16 for anything that is not a lowercase hex digit.
const HEX = new Uint8Array(65536).fill(16);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[97 + c] = 10 + c;

function hexWord(s: string, from: number, to: number, skip: number): number {
  let w = 0;
  for (let i = from; i < to; i++) {
    if (i === skip) continue;
    const v = HEX[s.charCodeAt(i)]!;
    if (v === 16) return -1;
    w = ((w << 4) | v) >>> 0;
  }
  return w;
}

/** Lowercase UUID → KEY words; false for anything else. */
function parseLowerUuid(s: string): boolean {
  if (s.length !== 36 || s.charCodeAt(8) !== 45 || s.charCodeAt(13) !== 45 || s.charCodeAt(18) !== 45 || s.charCodeAt(23) !== 45) return false;
  const a = hexWord(s, 0, 8, -1);
  const b = hexWord(s, 9, 18, 13);
  const c = hexWord(s, 19, 28, 23);
  const d = hexWord(s, 28, 36, -1);
  if (a < 0 || b < 0 || c < 0 || d < 0) return false;
  KEY[1] = a;
  KEY[2] = b;
  KEY[3] = c;
  KEY[4] = d;
  return true;
}

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/** MurmurHash3's 32-bit finaliser: every input bit moves about half the output bits. */
export function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The word of code units i and i+1 (0 past the end), little-endian like the bytes of UTF-16LE. */
function unitWord(s: string, i: number, n: number): number {
  return (i < n ? s.charCodeAt(i) : 0) | ((i + 1 < n ? s.charCodeAt(i + 1) : 0) << 16);
}

/** MurmurHash3 x86_128 of the string's UTF-16LE bytes → KEY words. */
function murmur128(s: string): void {
  const n = s.length;
  const c1 = 0x239b961b, c2 = 0xab0e9789, c3 = 0x38b34ae5, c4 = 0xa1e38b93;
  let h1 = 0x9747b28c, h2 = 0x9747b28c, h3 = 0x9747b28c, h4 = 0x9747b28c;
  const blocks = n >> 3; // 8 code units = 16 bytes
  for (let b = 0; b < blocks; b++) {
    const i = b << 3;
    let k1 = unitWord(s, i, n), k2 = unitWord(s, i + 2, n), k3 = unitWord(s, i + 4, n), k4 = unitWord(s, i + 6, n);
    k1 = Math.imul(rotl(Math.imul(k1, c1), 15), c2); h1 ^= k1;
    h1 = rotl(h1, 19); h1 = (h1 + h2) | 0; h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, c2), 16), c3); h2 ^= k2;
    h2 = rotl(h2, 17); h2 = (h2 + h3) | 0; h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, c3), 17), c4); h3 ^= k3;
    h3 = rotl(h3, 15); h3 = (h3 + h4) | 0; h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, c4), 18), c1); h4 ^= k4;
    h4 = rotl(h4, 13); h4 = (h4 + h1) | 0; h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const t = blocks << 3;
  if (t < n) {
    // The tail (under 16 bytes), zero-padded as in the reference implementation (a zero word changes nothing).
    h4 ^= Math.imul(rotl(Math.imul(unitWord(s, t + 6, n), c4), 18), c1);
    h3 ^= Math.imul(rotl(Math.imul(unitWord(s, t + 4, n), c3), 17), c4);
    h2 ^= Math.imul(rotl(Math.imul(unitWord(s, t + 2, n), c2), 16), c3);
    h1 ^= Math.imul(rotl(Math.imul(unitWord(s, t, n), c1), 15), c2);
  }
  const len = n * 2;
  h1 ^= len; h2 ^= len; h3 ^= len; h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  h1 = fmix(h1); h2 = fmix(h2); h3 = fmix(h3); h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  KEY[1] = h1;
  KEY[2] = h2;
  KEY[3] = h3;
  KEY[4] = h4;
}

/** The ordering hash of a key: every bit of it counts. Unsigned. */
export function h32Of(k0: number, k1: number, k2: number, k3: number): number {
  let h = Math.imul(k0 ^ 0x5bd1e995, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ k1, 0x1b873593);
  h = Math.imul(h ^ (h >>> 13) ^ k2, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ k3, 0xc2b2ae35);
  return fmix(h) >>> 0;
}

/** Computes the key of `id` into KEY ([h32, k0, k1, k2, k3]). */
export function keyOf(id: string): void {
  if (!parseLowerUuid(id)) murmur128(id);
  KEY[0] = h32Of(KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!);
}
