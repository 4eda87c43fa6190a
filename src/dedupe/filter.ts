/**
 * The dedupe index's filter: a blocked Bloom filter over every key the index's runs hold, in a
 * SharedArrayBuffer that every worker thread reads. "No" is certain, so a new id (nearly every event) is
 * decided without touching a disk; "maybe" sends the lookup to the runs.
 *
 * Each key sets 8 bits within one 512-bit block (one cache line), so a check costs one memory access. With
 * 16 bits of filter per key a "maybe" for a new key comes about 0.1% of the time; the filter's size has a limit
 * (GAMESTREAM_DEDUPE_FILTER_MEMORY, see run-filter.ts), so holding more keys than that was sized for raises the
 * share, and with it the reads of run blocks, but never loses a duplicate.
 *
 * One thread writes it (the index keeper, as runs join the index); readers may see a key's bits late, never
 * wrongly (bits are only set), and a worker keeps the ids it accepted itself in its own pending table until
 * the keeper has them in. The same class serves as a worker's private filter over its pending ids.
 */

const BLOCK_WORDS = 16; // 512 bits
const BITS_PER_KEY = 16;
const PROBES = 8;

export class KeyFilter {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  private readonly words: Int32Array;
  /** Blocks - 1 (the count is a power of two). */
  private readonly mask: number;

  /** A new filter of at most `bytes` (rounded down to a power of two, at least one block); `shared`: for other threads. */
  static create(bytes: number, shared = true): KeyFilter {
    const n = KeyFilter.sizeFor(bytes);
    return new KeyFilter(shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
  }

  /** The bytes create() gives for `bytes`: a power of two, at least one block. */
  static sizeFor(bytes: number): number {
    return 2 ** Math.max(0, Math.floor(Math.log2(Math.max(64, bytes) / (BLOCK_WORDS * 4)))) * BLOCK_WORDS * 4;
  }

  /** A view of a filter another thread created. */
  constructor(buffer: SharedArrayBuffer | ArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.mask = this.words.length / BLOCK_WORDS - 1;
  }

  /** The buffer to hand to other threads (a filter made with `shared`). */
  get sharedBuffer(): SharedArrayBuffer {
    if (!(this.buffer instanceof SharedArrayBuffer)) throw new Error('this filter is not shared');
    return this.buffer;
  }

  /** How many keys it holds at the designed rate of "maybe". */
  get capacity(): number {
    return KeyFilter.capacityOf(this.buffer.byteLength);
  }

  /** How many keys a filter of `bytes` (a size create() gives) holds at the designed rate of "maybe". */
  static capacityOf(bytes: number): number {
    return Math.floor((bytes * 8) / BITS_PER_KEY);
  }

  /** Adds a key (one writer per filter: see above). */
  add(h: number, k1: number, k3: number): void {
    const base = (h & this.mask) * BLOCK_WORDS;
    let a = firstProbe(h, k1);
    const b = probeStep(h, k3);
    const w = this.words;
    for (let i = 0; i < PROBES; i++) {
      const bit = a >>> 23;
      w[base + (bit >>> 5)]! |= 1 << (bit & 31);
      a = (a + b) >>> 0;
    }
  }

  clear(): void {
    this.words.fill(0);
  }

  mayHave(h: number, k1: number, k3: number): boolean {
    const base = (h & this.mask) * BLOCK_WORDS;
    let a = firstProbe(h, k1);
    const b = probeStep(h, k3);
    const w = this.words;
    for (let i = 0; i < PROBES; i++) {
      const bit = a >>> 23;
      if ((w[base + (bit >>> 5)]! & (1 << (bit & 31))) === 0) return false;
      a = (a + b) >>> 0;
    }
    return true;
  }
}

// Bit positions inside the block by double hashing, from key words mixed with h (the block index used only its
// low bits), so ids that share most of their bits (UUIDv7, counters) still set different bits.
function firstProbe(h: number, k1: number): number {
  const x = Math.imul(k1 ^ h, 0x9e3779b1);
  return (x ^ (x >>> 15)) >>> 0;
}

function probeStep(h: number, k3: number): number {
  const x = Math.imul(k3 ^ ((h << 16) | (h >>> 16)), 0x85ebca6b);
  return ((x ^ (x >>> 13)) | 1) >>> 0;
}
