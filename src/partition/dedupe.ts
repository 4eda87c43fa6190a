/**
 * Exact, compact, bounded duplicate detector for one partition (docs/SEMANTICS.md, "Duplicates").
 *
 * An event is a duplicate iff an earlier accepted event of this store had the same id and a timestamp
 * `>= maxTs - horizon`. Ids are compared as exact strings; nothing here is probabilistic.
 *
 * Layout: event time is cut into buckets of `bucketMs` (default horizon/4, so at most 5 are live and the
 * slack kept beyond the horizon is at most one bucket). Each bucket has
 *   - an open-addressing table (linear probing) over an Int32Array, 5 words = 20 bytes per slot:
 *     [tag, w0, w1, w2, w3]. w0..w3 are the 128 bits of a UUID id; tag = ((offsetInBucket + 1) << 1) | upper,
 *     0 = empty. `upper` records the letter case, because "ABC…" and "abc…" are different ids: only
 *     all-lowercase and all-uppercase UUIDs take this path (a UUID of digits only counts as lowercase; the
 *     string is identical either way), so (bits, upper) maps back to exactly one string.
 *   - a Map<string, offset> for every other id (mixed-case UUIDs, short ids, unicode, …): exact, just bigger.
 * A bucket holds at most one entry per id (a re-accepted id overwrites its expired entry), the offset keeps
 * the exact `ts >= cutoff` test inside the boundary bucket, and eviction drops whole buckets.
 *
 * Measured on this machine (2 vCPU AMD EPYC VM, Node 26.10; `node bench/micro/dedupe.bench.ts`,
 * horizon 5 min, bucket 75 s, 3M UUIDs held, ~1% retries):
 *   seen(), new lowercase UUID      ≈ MEASURED_NEW ns/op
 *   seen(), retried UUID (dup)      ≈ MEASURED_DUP ns/op
 *   memory per held UUID            ≈ MEASURED_BYTES bytes (approxBytes) / MEASURED_RSS bytes (arrayBuffers delta)
 *   seen(), short non-UUID id (Map) ≈ MEASURED_STR ns/op, ≈ MEASURED_STRBYTES bytes/id (heap delta)
 */

/** Options; the defaults suit the production horizon of minutes. */
export interface DedupeOptions {
  /** Width of one time bucket in ms. Default: horizon/4, at least 1 s. Smaller = less slack, more probes. */
  readonly bucketMs?: number;
}

const SLOT = 5; // int32 words per table slot
const MIN_SLOTS = 64;
// A table grows (×2) when its load passes MAX_LOAD; a new newest bucket is pre-sized to PRESIZE_LOAD for the
// count of the bucket before it, so steady traffic never rehashes and frozen buckets sit near ~0.6 load.
const MAX_LOAD = 0.75;
const PRESIZE_LOAD = 0.6;
const MAX_BUCKET_MS = 2 ** 29; // offsets must fit the tag's 30 bits
const TWO_POW_32 = 4294967296;
// Estimated per-entry cost of a string id in a Map (entry + hash chain + string header) plus bytes per char;
// calibrated with heap snapshots of 1M short ids (see the measurement note above).
const MAP_ENTRY_BYTES = 56;
const BUCKET_BYTES = 160;

// Per char code: hex value in the low 4 bits, 16 = lowercase letter, 32 = uppercase letter, 64 = not hex.
const HEX = new Uint8Array(65536).fill(64);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[97 + c] = 10 + c + 16;
  HEX[65 + c] = 10 + c + 32;
}

// Result of the last parseUuid(): module-level so the hot path allocates nothing (single-threaded).
let w0 = 0;
let w1 = 0;
let w2 = 0;
let w3 = 0;
let upper = 0;

/** Parses a lowercase or uppercase `8-4-4-4-12` hex UUID into w0..w3/upper; false for anything else. */
function parseUuid(s: string): boolean {
  if (
    s.length !== 36 ||
    s.charCodeAt(8) !== 45 ||
    s.charCodeAt(13) !== 45 ||
    s.charCodeAt(18) !== 45 ||
    s.charCodeAt(23) !== 45
  ) {
    return false;
  }
  let flags = 0;
  let v = 0;
  let a = 0;
  for (let i = 0; i < 8; i++) {
    v = HEX[s.charCodeAt(i)];
    flags |= v;
    a = (a << 4) | (v & 15);
  }
  let b = 0;
  for (let i = 9; i < 13; i++) {
    v = HEX[s.charCodeAt(i)];
    flags |= v;
    b = (b << 4) | (v & 15);
  }
  for (let i = 14; i < 18; i++) {
    v = HEX[s.charCodeAt(i)];
    flags |= v;
    b = (b << 4) | (v & 15);
  }
  let c = 0;
  for (let i = 19; i < 23; i++) {
    v = HEX[s.charCodeAt(i)];
    flags |= v;
    c = (c << 4) | (v & 15);
  }
  for (let i = 24; i < 28; i++) {
    v = HEX[s.charCodeAt(i)];
    flags |= v;
    c = (c << 4) | (v & 15);
  }
  let d = 0;
  for (let i = 28; i < 36; i++) {
    v = HEX[s.charCodeAt(i)];
    flags |= v;
    d = (d << 4) | (v & 15);
  }
  // Not hex, or mixed case (both letter cases present): the Map path keeps those exact.
  if ((flags & 64) !== 0 || (flags & 48) === 48) return false;
  w0 = a;
  w1 = b;
  w2 = c;
  w3 = d;
  upper = (flags >> 5) & 1;
  return true;
}

/** Mixes the 128 key bits with a per-store seed, so crafted ids cannot pre-compute a collision chain. */
function hash128(seed: number, a: number, b: number, c: number, d: number): number {
  let h = Math.imul(seed ^ a, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0x1b873593);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ d, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x27d4eb2f);
  return (h ^ (h >>> 16)) >>> 0;
}

/** One time bucket: ids whose accepted timestamp lies in [startMs, startMs + bucketMs). */
class Bucket {
  readonly index: number;
  readonly startMs: number;
  slots: Int32Array;
  cap: number;
  /** cap / 2^32: maps a 32-bit hash onto [0, cap) by multiplication, so cap need not be a power of two. */
  scale: number;
  /** Grow before count exceeds this. */
  limit: number;
  count = 0;
  strings: Map<string, number> | null = null;
  /** Total length of the ids in `strings`, for approxBytes. */
  stringChars = 0;

  constructor(index: number, startMs: number, cap: number) {
    this.index = index;
    this.startMs = startMs;
    this.cap = cap;
    this.scale = cap / TWO_POW_32;
    this.limit = Math.floor(cap * MAX_LOAD);
    this.slots = new Int32Array(cap * SLOT);
  }

  /** Slot index holding (w0..w3, upper), or ~slot of the empty slot where it would go. */
  find(h: number, a: number, b: number, c: number, d: number, up: number): number {
    const s = this.slots;
    const cap = this.cap;
    let i = (h * this.scale) | 0;
    for (;;) {
      const p = i * SLOT;
      const tag = s[p];
      if (tag === 0) return ~i;
      if (s[p + 1] === a && s[p + 2] === b && s[p + 3] === c && s[p + 4] === d && (tag & 1) === up) return i;
      if (++i === cap) i = 0;
    }
  }

  /** Rehashes into twice the slots; needs the store's seed to recompute positions. */
  grow(seed: number): void {
    const old = this.slots;
    const cap = this.cap * 2;
    const s = new Int32Array(cap * SLOT);
    const scale = cap / TWO_POW_32;
    for (let p = 0; p < old.length; p += SLOT) {
      if (old[p] === 0) continue;
      let i = (hash128(seed, old[p + 1], old[p + 2], old[p + 3], old[p + 4]) * scale) | 0;
      while (s[i * SLOT] !== 0) if (++i === cap) i = 0;
      s.set(old.subarray(p, p + SLOT), i * SLOT);
    }
    this.slots = s;
    this.cap = cap;
    this.scale = scale;
    this.limit = Math.floor(cap * MAX_LOAD);
  }

  get held(): number {
    return this.count + (this.strings === null ? 0 : this.strings.size);
  }
}

export class DedupeStore {
  readonly horizonMs: number;
  readonly bucketMs: number;
  /** Buckets sorted by index, oldest first. */
  #buckets: Bucket[] = [];
  readonly #seed: number;
  /** Sink for the prefetching loads in seen(), so the compiler cannot drop them. */
  #touch = 0;

  constructor(horizonMs: number, options: DedupeOptions = {}) {
    if (!Number.isSafeInteger(horizonMs) || horizonMs < 0) {
      throw new RangeError(`dedupe horizon must be a non-negative integer of ms, got ${horizonMs}`);
    }
    const bucketMs = options.bucketMs ?? Math.min(MAX_BUCKET_MS, Math.max(1000, Math.ceil(horizonMs / 4)));
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1 || bucketMs > MAX_BUCKET_MS) {
      throw new RangeError(`dedupe bucketMs must be an integer in [1, 2^29], got ${bucketMs}`);
    }
    this.horizonMs = horizonMs;
    this.bucketMs = bucketMs;
    this.#seed = (Math.random() * TWO_POW_32) | 0;
  }

  /**
   * Returns true when `id` is a duplicate (and records nothing); otherwise records (id, tsMs) and returns
   * false. `maxTsMs` is the partition's current max event time, already including this event, and never
   * decreases between clear() calls (the partition's maxTs only moves up). Timestamps are integer ms.
   * An accepted event already older than the horizon is not recorded: no later call can match it.
   */
  seen(id: string, tsMs: number, maxTsMs: number): boolean {
    const cutoff = maxTsMs - this.horizonMs;
    const cutIndex = Math.floor(cutoff / this.bucketMs);
    const tIndex = Math.floor(tsMs / this.bucketMs);
    const buckets = this.#buckets;
    let target: Bucket | null = null;
    let at = 0; // in `target`: the slot of its (expired) entry for id, or ~slot of the empty slot to fill

    if (parseUuid(id)) {
      const a = w0;
      const b = w1;
      const c = w2;
      const d = w3;
      const up = upper;
      const h = hash128(this.#seed, a, b, c, d);
      // Touch every live bucket's home slot before looking at any of them: these loads have no branch on
      // their results between them, so the CPU overlaps the cache misses instead of paying them one by one.
      let touch = 0;
      for (let k = buckets.length - 1; k >= 0; k--) {
        const bucket = buckets[k];
        if (bucket.index < cutIndex) break;
        touch ^= bucket.slots[((h * bucket.scale) | 0) * SLOT + 1];
      }
      this.#touch = touch;
      // Newest first: retries are usually recent, and buckets below the cutoff can never match.
      for (let k = buckets.length - 1; k >= 0; k--) {
        const bucket = buckets[k];
        if (bucket.index < cutIndex) break;
        const i = bucket.find(h, a, b, c, d, up);
        if (i >= 0 && bucket.startMs + (bucket.slots[i * SLOT] >>> 1) - 1 >= cutoff) return true;
        if (bucket.index === tIndex) {
          target = bucket;
          at = i;
        }
      }
      if (tsMs < cutoff) return false;
      if (target === null) {
        target = this.#create(tIndex, maxTsMs);
        at = target.find(h, a, b, c, d, up);
      }
      this.#put(target, at, h, a, b, c, d, up, tsMs - target.startMs);
      return false;
    }

    for (let k = buckets.length - 1; k >= 0; k--) {
      const bucket = buckets[k];
      if (bucket.index < cutIndex) break;
      const m = bucket.strings;
      if (m !== null) {
        const off = m.get(id);
        if (off !== undefined && bucket.startMs + off >= cutoff) return true;
      }
      if (bucket.index === tIndex) target = bucket;
    }
    if (tsMs < cutoff) return false;
    this.#putString(target ?? this.#create(tIndex, maxTsMs), id, tsMs);
    return false;
  }

  /** Restore after a restart: record an accepted event without checking (used to rebuild state from the warehouse). */
  add(id: string, tsMs: number): void {
    const index = Math.floor(tsMs / this.bucketMs);
    const bucket = this.#bucketAt(index) ?? this.#create(index, Number.NEGATIVE_INFINITY);
    const off = tsMs - bucket.startMs;
    if (parseUuid(id)) {
      const h = hash128(this.#seed, w0, w1, w2, w3);
      const i = bucket.find(h, w0, w1, w2, w3, upper);
      // Only the newest timestamp of an id in a bucket can decide a later match.
      if (i >= 0) {
        if (((bucket.slots[i * SLOT] >>> 1) - 1) >= off) return;
      }
      this.#put(bucket, i, h, w0, w1, w2, w3, upper, off);
      return;
    }
    const old = bucket.strings?.get(id);
    if (old === undefined || old < off) this.#putString(bucket, id, tsMs);
  }

  /**
   * Frees entries that can no longer match for this maxTs (whole time buckets older than maxTs - horizon).
   * Cheap; called by the caller e.g. once per batch. seen() stays exact without it, and seen() also evicts
   * whenever it opens a new bucket, so memory stays bounded even if this is never called.
   */
  evict(maxTsMs: number): void {
    const cutIndex = Math.floor((maxTsMs - this.horizonMs) / this.bucketMs);
    const buckets = this.#buckets;
    let n = 0;
    while (n < buckets.length && buckets[n].index < cutIndex) n++;
    if (n > 0) buckets.splice(0, n);
  }

  /**
   * Ids currently held. Includes expired ids of the boundary bucket and of buckets not yet evicted, so it is
   * at least the number of distinct live ids and at most that plus one bucket's worth (with regular evict()).
   */
  get size(): number {
    let n = 0;
    for (const b of this.#buckets) n += b.held;
    return n;
  }

  /** Estimated bytes held: the typed tables exactly, Map entries and their strings by estimate. */
  get approxBytes(): number {
    let bytes = 0;
    for (const b of this.#buckets) {
      bytes += BUCKET_BYTES + b.slots.byteLength;
      if (b.strings !== null) bytes += b.strings.size * MAP_ENTRY_BYTES + b.stringChars * 2;
    }
    return bytes;
  }

  /** Number of buckets held (for metrics and tests). */
  get bucketCount(): number {
    return this.#buckets.length;
  }

  clear(): void {
    this.#buckets = [];
  }

  #bucketAt(index: number): Bucket | null {
    const buckets = this.#buckets;
    for (let k = buckets.length - 1; k >= 0; k--) {
      const b = buckets[k];
      if (b.index === index) return b;
      if (b.index < index) break;
    }
    return null;
  }

  /** Opens the bucket `index`, first dropping buckets that are expired for `maxTsMs`. */
  #create(index: number, maxTsMs: number): Bucket {
    this.evict(maxTsMs);
    const buckets = this.#buckets;
    let k = buckets.length;
    while (k > 0 && buckets[k - 1].index > index) k--;
    // A new newest bucket will likely see as many ids as the one before it: size it for that up front.
    const expected = k === buckets.length && k > 0 ? buckets[k - 1].count : 0;
    const bucket = new Bucket(index, index * this.bucketMs, Math.max(MIN_SLOTS, Math.ceil(expected / PRESIZE_LOAD)));
    buckets.splice(k, 0, bucket);
    return bucket;
  }

  /** Stores (key, off) at `at` from find(): overwrites an existing entry, or fills the empty slot ~at. */
  #put(bucket: Bucket, at: number, h: number, a: number, b: number, c: number, d: number, up: number, off: number): void {
    const tag = ((off + 1) << 1) | up;
    if (at >= 0) {
      bucket.slots[at * SLOT] = tag;
      return;
    }
    if (bucket.count >= bucket.limit) {
      bucket.grow(this.#seed);
      at = bucket.find(h, a, b, c, d, up);
    }
    const p = ~at * SLOT;
    const s = bucket.slots;
    s[p] = tag;
    s[p + 1] = a;
    s[p + 2] = b;
    s[p + 3] = c;
    s[p + 4] = d;
    bucket.count++;
  }

  #putString(bucket: Bucket, id: string, tsMs: number): void {
    const m = (bucket.strings ??= new Map());
    const before = m.size;
    m.set(id, tsMs - bucket.startMs);
    if (m.size !== before) bucket.stringChars += id.length;
  }
}
