/**
 * Accepted event ids as the dedupe index stores them: one entry of 8 int32 words (32 bytes) per accepted event,
 * the same layout in memory and in run files (run-file.ts).
 *
 *   words 0–3  the id's 128-bit key (id-key.ts)
 *   word 4     when it was seen: its partition's event time (maxTs, epoch ms) once it was accepted, low 32 bits
 *   word 5     when it was seen, high 16 bits << 16 | origin (the source, by its number in the manifest)
 *   word 6     source offset, low 32 bits
 *   word 7     source offset, high 16 bits << 16 | source partition
 *
 * Times and offsets below 2^48 (the year 10889; 281 trillion records), and at most 65,536 sources and
 * partitions, are what the configuration and the sources allow.
 */
import { h32Of } from './id-key.ts';

export const ENTRY_WORDS = 8;
export const ENTRY_BYTES = ENTRY_WORDS * 4;
const TWO_32 = 4294967296;
export const MAX_ORIGINS = 65536;
export const MAX_PARTITIONS = 65536;

export function entrySeen(w: Int32Array, at: number): number {
  return (w[at + 5]! >>> 16) * TWO_32 + (w[at + 4]! >>> 0);
}

export function entryOrigin(w: Int32Array, at: number): number {
  return w[at + 5]! & 0xffff;
}

export function entryOffset(w: Int32Array, at: number): number {
  return (w[at + 7]! >>> 16) * TWO_32 + (w[at + 6]! >>> 0);
}

export function entryPartition(w: Int32Array, at: number): number {
  return w[at + 7]! & 0xffff;
}

export function entryH32(w: Int32Array, at: number): number {
  return h32Of(w[at]!, w[at + 1]!, w[at + 2]!, w[at + 3]!);
}

/** Writes one entry at word `at`. */
export function putEntry(w: Int32Array, at: number, k0: number, k1: number, k2: number, k3: number, seenMs: number, origin: number, offset: number, partition: number): void {
  w[at] = k0;
  w[at + 1] = k1;
  w[at + 2] = k2;
  w[at + 3] = k3;
  w[at + 4] = seenMs % TWO_32;
  w[at + 5] = (Math.floor(seenMs / TWO_32) << 16) | origin;
  w[at + 6] = offset % TWO_32;
  w[at + 7] = (Math.floor(offset / TWO_32) << 16) | partition;
}

/** A growable list of entries with their h32, in insertion order until sorted(). */
export class EntryList {
  words: Int32Array;
  h32: Uint32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.words = new Int32Array(capacity * ENTRY_WORDS);
    this.h32 = new Uint32Array(capacity);
  }

  push(h: number, k0: number, k1: number, k2: number, k3: number, seenMs: number, origin: number, offset: number, partition: number): number {
    if (this.length === this.h32.length) this.grow();
    const i = this.length++;
    this.h32[i] = h;
    putEntry(this.words, i * ENTRY_WORDS, k0, k1, k2, k3, seenMs, origin, offset, partition);
    return i;
  }

  /** Appends entries in the stored layout (a run file's block), computing their h32. */
  pushWords(src: Int32Array, from: number, count: number): void {
    while (this.length + count > this.h32.length) this.grow();
    this.words.set(src.subarray(from * ENTRY_WORDS, (from + count) * ENTRY_WORDS), this.length * ENTRY_WORDS);
    for (let i = 0; i < count; i++) this.h32[this.length + i] = entryH32(this.words, (this.length + i) * ENTRY_WORDS);
    this.length += count;
  }

  clear(): void {
    this.length = 0;
  }

  private grow(): void {
    const cap = Math.max(1024, this.h32.length * 2);
    const words = new Int32Array(cap * ENTRY_WORDS);
    words.set(this.words.subarray(0, this.length * ENTRY_WORDS));
    const h = new Uint32Array(cap);
    h.set(this.h32.subarray(0, this.length));
    this.words = words;
    this.h32 = h;
  }

  /**
   * The entries in index order, (h32, k0, k1, k2, k3) unsigned, as a new packed Int32Array: a radix sort of
   * (h32, position) pairs, four passes of 8 bits (256 buckets stay in the caches), then the rare runs of equal
   * h32 by their whole key, then one gather of the entries.
   */
  sorted(): Int32Array {
    const n = this.length;
    let keys = this.h32.slice(0, n);
    let order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    let keys2 = new Uint32Array(n);
    let order2 = new Uint32Array(n);
    const counts = new Uint32Array(256);
    for (let shift = 0; shift < 32; shift += 8) {
      counts.fill(0);
      for (let i = 0; i < n; i++) counts[(keys[i]! >>> shift) & 255]!++;
      for (let b = 0, sum = 0; b < 256; b++) {
        const c = counts[b]!;
        counts[b] = sum;
        sum += c;
      }
      for (let i = 0; i < n; i++) {
        const k = keys[i]!;
        const to = counts[(k >>> shift) & 255]!++;
        keys2[to] = k;
        order2[to] = order[i]!;
      }
      [keys, keys2] = [keys2, keys];
      [order, order2] = [order2, order];
    }
    const w = this.words;
    // Equal h32 (a few pairs per million keys): insertion sort by the whole key.
    for (let i = 1; i < n; i++) {
      if (keys[i - 1] !== keys[i]) continue;
      const e = order[i]!;
      let j = i;
      while (j > 0 && keys[j - 1] === keys[i] && wordsAfter(w, order[j - 1]! * ENTRY_WORDS, e * ENTRY_WORDS)) {
        order[j] = order[j - 1]!;
        j--;
      }
      order[j] = e;
    }
    const out = new Int32Array(n * ENTRY_WORDS);
    for (let i = 0, to = 0; i < n; i++) {
      for (let j = order[i]! * ENTRY_WORDS, end = j + ENTRY_WORDS; j < end; j++) out[to++] = w[j]!;
    }
    return out;
  }
}

/** True when the key at word a sorts after the key at word b (unsigned words). */
function wordsAfter(w: Int32Array, a: number, b: number): boolean {
  for (let j = 0; j < 4; j++) {
    const x = w[a + j]! >>> 0;
    const y = w[b + j]! >>> 0;
    if (x !== y) return x > y;
  }
  return false;
}
