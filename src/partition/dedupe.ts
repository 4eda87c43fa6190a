/**
 * Exact, compact, bounded duplicate detector for one partition (docs/SEMANTICS.md, "Duplicates").
 *
 * An event is a duplicate iff an earlier accepted event of this store had the same id and a timestamp
 * `>= maxTs - horizon`. Ids are compared as exact strings; nothing here is probabilistic.
 *
 * UUID ids (lowercase or uppercase `8-4-4-4-12` hex) live in one bucketized cuckoo hash table over an
 * Int32Array: each id has two candidate lines of 4 slots (80 bytes), so a lookup touches two random memory
 * lines whatever the horizon. A slot is 5 words: the 128 UUID bits and a tag = ((ts - base) << 1) | upper
 * (0 = never used). `upper` keeps case exact: "ABC…" and "abc…" are different ids, so only all-lowercase and
 * all-uppercase UUIDs take this path (digits-only counts as lowercase; the string is the same either way).
 * Because the tag carries the event time, expiry is implicit: a slot whose ts < maxTs - horizon is free for
 * reuse without being deleted, and whole time buckets (`bucketMs`, default horizon/4) leave the count at once.
 * Every other id (mixed case, short, unicode, …) goes to a Map per time bucket, dropped whole on evict().
 *
 * Why not one hash table per time bucket: a new id must then be probed in every live bucket, and a random
 * memory access costs ~200 ns on this VM (~45 ns when several overlap); that design measured 750–850 ns/op
 * with 5–6 buckets. Here a lookup costs about one memory latency plus ~200 ns of parsing and hashing.
 *
 * Measured on this machine (2-vCPU AMD EPYC VM shared with other jobs, load 1.5–4.7, Node 26.10):
 * `node bench/micro/dedupe.bench.ts`, 5 min horizon, a stream of 10k events/s with ~1% retries:
 *   seen(), new UUID, 3.2M held       median 387–465 ns per call over 4 runs (mean 411–645, the noisy part)
 *   seen(), retried UUID, 3.2M held   median 352–408 ns (a duplicate skips the insert)
 *   seen(), UUID, 30k held            median 191–220 ns (table in cache: the compute part)
 *   memory per held UUID              30.0 bytes (approxBytes = arrayBuffers delta after a 3.2M fill)
 *   seen(), short string id, 1M held  median 1.3–1.6 µs (a Map lookup per live bucket), 68 bytes/id (heap delta)
 * Pauses: a table grows ×1.4 (one rebuild, ~0.8 s at 3M ids) only while traffic rises; tags are re-based in
 * place every ~12 days of event time (~75 ms at 3.3M ids); steady traffic never rehashes.
 */

/** Options; the defaults suit the production horizon of minutes. */
export interface DedupeOptions {
  /** Time bucket width in ms (default horizon/4, at least 1 s): the slack kept beyond the horizon. */
  readonly bucketMs?: number;
  /** Hash seed (default random, so crafted ids cannot aim at one line); fixed in tests to reproduce. */
  readonly seed?: number;
  /** Displacements before an insert gives up and grows the table (tests set 0 to force the Map fallback). */
  readonly maxKicks?: number;
}

const WAYS = 4; // slots per line
const LINE = 5 * WAYS; // words per line, laid out [tags ×4, w0 ×4, w1 ×4, w2 ×4, w3 ×4]
const MIN_LINES = 16;
const MAX_LOAD = 0.9; // grow before the held count passes this share of slots
const GROW_LOAD = 0.65; // load right after a grow or shrink
const SHRINK_LOAD = 0.2;
const MAX_KICKS = 400;
// Tags hold (ts - base) * 2 in a positive int32: rebase (one table pass) before maxTs - base reaches 2^30.
const MAX_REL = 2 ** 30 - 1;
const MAX_HORIZON = 2 ** 29;
const TWO_POW_32 = 4294967296;
// Estimated cost of one Map entry (entry, hash chain, string header) plus the id's chars: with 1 byte per
// char this matches the heap delta measured for 1M short ids (see above).
const MAP_ENTRY_BYTES = 56;

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

/**
 * Parses a lowercase or uppercase `8-4-4-4-12` hex UUID into w0..w3/upper; false for anything else
 * (including mixed case, which the Map path keeps exact).
 */
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
  for (let i = 9; i < 18; i++) {
    if (i === 13) continue;
    v = HEX[s.charCodeAt(i)];
    flags |= v;
    b = (b << 4) | (v & 15);
  }
  let c = 0;
  for (let i = 19; i < 28; i++) {
    if (i === 23) continue;
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
  if ((flags & 64) !== 0 || (flags & 48) === 48) return false;
  w0 = a;
  w1 = b;
  w2 = c;
  w3 = d;
  upper = (flags >> 5) & 1;
  return true;
}

/** The id string of a table entry (an entry the table cannot place moves to the Maps). */
function formatUuid(k: Int32Array): string {
  const hex = Array.from(k.subarray(1), (w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
  const s = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return (k[0] & 1) === 1 ? s.toUpperCase() : s;
}

// The entry being placed, [tag, w0, w1, w2, w3]: a displacement swaps it with a table slot.
const CARRY = new Int32Array(5);

function carry(tag: number, a: number, b: number, c: number, d: number): void {
  CARRY[0] = tag;
  CARRY[1] = a;
  CARRY[2] = b;
  CARRY[3] = c;
  CARRY[4] = d;
}

/** Mixes the 128 key bits with a per-store seed, so crafted ids cannot pre-compute colliding lines. */
function hash128(seed: number, a: number, b: number, c: number, d: number): number {
  let h = Math.imul(seed ^ a, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0x1b873593);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ d, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x27d4eb2f);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Second line choice from the first hash: keys then share both lines only on a full 32-bit collision of the
 * seeded hash (a few pairs per million ids), far below the 8 slots two lines hold.
 */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Non-UUID ids whose accepted timestamp lies in one time bucket, with their offset in it. */
interface StringBucket {
  readonly index: number;
  readonly startMs: number;
  readonly ids: Map<string, number>;
  chars: number;
}

export class DedupeStore {
  readonly horizonMs: number;
  readonly bucketMs: number;
  readonly #seed1: number;
  readonly #seed2: number;
  readonly #maxKicks: number;
  #rng = 0x2545f491;

  /** Largest maxTs seen (seen/evict argument or add() ts); the store's notion of "now". */
  #maxTs = Number.NEGATIVE_INFINITY;
  /** Tags are relative to this time; NaN until the first event. */
  #base = Number.NaN;
  /** Tags below this are expired (or empty): (maxTs - horizon - base) * 2. */
  #cutTag = 0;

  #slots: Int32Array;
  #lines = 0;
  #scale1 = 0;
  #scale2 = 0;
  /** Word offsets of the two lines of the key last passed to #locate(). */
  #p1 = 0;
  #p2 = 0;

  /** Held UUID entries per time bucket, in a ring starting at #head = bucket #countFrom, and their sum. */
  readonly #counts: Int32Array;
  #head = 0;
  #held = 0;
  /** Lowest bucket index still counted in #held, and the maxTs at which it leaves the horizon. */
  #countFrom = Number.NEGATIVE_INFINITY;
  #nextRetire = Number.NEGATIVE_INFINITY;
  /** The bucket of the last #count() call. */
  #lastIndex = 0;
  #lastStart = Number.POSITIVE_INFINITY;

  /** Non-UUID ids, oldest bucket first. */
  #strings: StringBucket[] = [];
  /** True when a UUID had to go to the Maps (cuckoo placement failed): UUID lookups check them too. */
  #uuidsInStrings = false;
  #stale: StringBucket | null = null;

  constructor(horizonMs: number, options: DedupeOptions = {}) {
    if (!Number.isSafeInteger(horizonMs) || horizonMs < 0 || horizonMs > MAX_HORIZON) {
      throw new RangeError(`dedupe horizon must be an integer of ms in [0, 2^29], got ${horizonMs}`);
    }
    const bucketMs = options.bucketMs ?? Math.max(1000, Math.ceil(horizonMs / 4));
    // The count keeps one int per bucket of the horizon: bound that ring.
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1 || horizonMs / bucketMs > 65536) {
      throw new RangeError(`dedupe bucketMs must be an integer >= max(1, horizon / 65536), got ${bucketMs}`);
    }
    this.horizonMs = horizonMs;
    this.bucketMs = bucketMs;
    const seed = options.seed ?? Math.random() * TWO_POW_32;
    this.#seed1 = seed | 0;
    this.#seed2 = mix32(seed ^ 0x5bd1e995) | 0;
    this.#maxKicks = options.maxKicks ?? MAX_KICKS;
    // Counted buckets span at most ceil(horizon / bucket) + 1 indexes; a power of two makes the ring a mask.
    this.#counts = new Int32Array(2 ** Math.ceil(Math.log2(Math.ceil(horizonMs / bucketMs) + 2)));
    this.#slots = this.#alloc(MIN_LINES);
  }

  /**
   * Returns true when `id` is a duplicate (and records nothing); otherwise records (id, tsMs) and returns
   * false. `maxTsMs` is the partition's current max event time, already including this event. It must not
   * decrease between clear() calls and must cover every recorded ts (true for the partition's maxTs).
   * Timestamps are integer ms. An accepted event already older than the horizon is not recorded: no later
   * call could match it.
   */
  seen(id: string, tsMs: number, maxTsMs: number): boolean {
    // tsMs <= maxTsMs by contract; the guard keeps a caller bug from overflowing the tag arithmetic.
    const max = tsMs > maxTsMs ? tsMs : maxTsMs;
    if (max > this.#maxTs) this.#advance(max);
    const cutoff = this.#maxTs - this.horizonMs;
    if (parseUuid(id)) {
      // w0..w3/upper stay valid below: nothing else parses.
      const q = this.#find(w0, w1, w2, w3, upper);
      if (q >= 0 && this.#slots[q] >= this.#cutTag) return true;
      if (this.#uuidsInStrings) {
        if (this.#stringSeen(id, cutoff)) return true;
        this.#dropStale(id);
      }
      if (tsMs < cutoff) return false;
      if (q >= 0) this.#retag(q, tsMs, upper);
      else this.#insertNew(tsMs);
      return false;
    }
    if (this.#stringSeen(id, cutoff)) return true;
    if (tsMs >= cutoff) {
      this.#dropStale(id);
      this.#putStringInBucket(id, tsMs);
    }
    return false;
  }

  /** Restore after a restart: record an accepted event without checking (used to rebuild state from the warehouse). */
  add(id: string, tsMs: number): void {
    if (tsMs > this.#maxTs) this.#advance(tsMs);
    if (tsMs < this.#maxTs - this.horizonMs) return; // can never match again
    if (parseUuid(id)) {
      const q = this.#find(w0, w1, w2, w3, upper);
      // Only the newest timestamp of an id decides later matches.
      if (q < 0) this.#insertNew(tsMs);
      else if (this.#slots[q] >>> 1 < tsMs - this.#base) this.#retag(q, tsMs, upper);
      return;
    }
    this.#putString(id, tsMs);
  }

  /**
   * Frees entries that can no longer match for this maxTs (whole time buckets older than maxTs - horizon):
   * their table slots become reusable and their Maps are dropped; a table left mostly empty is shrunk.
   * Cheap; called by the caller e.g. once per batch (a shrink is one pass over the table, only after traffic
   * fell to a fifth). seen() stays exact without it and already reuses expired table slots, so only the Maps
   * and shrinking wait for this call.
   */
  evict(maxTsMs: number): void {
    if (maxTsMs > this.#maxTs) this.#advance(maxTsMs);
    const cutIndex = Math.floor((this.#maxTs - this.horizonMs) / this.bucketMs);
    const strings = this.#strings;
    let n = 0;
    while (n < strings.length && strings[n].index < cutIndex) n++;
    if (n > 0) strings.splice(0, n);
    if (strings.length === 0) this.#uuidsInStrings = false;
    if (this.#lines > MIN_LINES && this.#held < this.#lines * WAYS * SHRINK_LOAD) {
      this.#rebuild(this.#linesFor(this.#held));
    }
  }

  /**
   * Ids currently held: every id accepted inside the horizon, plus expired ones whose time bucket has not
   * fully left the horizon yet (at most one bucket's worth) and, for non-UUID ids, until evict().
   */
  get size(): number {
    let n = this.#held;
    for (const b of this.#strings) n += b.ids.size;
    return n;
  }

  /** Estimated bytes held: the typed arrays exactly, Map entries and their strings by estimate. */
  get approxBytes(): number {
    let bytes = this.#slots.byteLength + this.#counts.byteLength;
    for (const b of this.#strings) bytes += b.ids.size * MAP_ENTRY_BYTES + b.chars;
    return bytes;
  }

  clear(): void {
    this.#maxTs = Number.NEGATIVE_INFINITY;
    this.#base = Number.NaN;
    this.#cutTag = 0;
    this.#slots = this.#alloc(MIN_LINES);
    this.#counts.fill(0);
    this.#head = 0;
    this.#held = 0;
    this.#countFrom = Number.NEGATIVE_INFINITY;
    this.#nextRetire = Number.NEGATIVE_INFINITY;
    this.#strings = [];
    this.#uuidsInStrings = false;
    this.#stale = null;
  }

  /** Moves the store's maxTs forward: new cutoff, rebase when tags would overflow, retire whole buckets. */
  #advance(maxTs: number): void {
    this.#maxTs = maxTs;
    if (Number.isNaN(this.#base)) this.#base = maxTs - this.horizonMs - 1;
    else if (maxTs - this.#base > MAX_REL) {
      this.#rebase();
      return;
    }
    this.#cutTag = (maxTs - this.horizonMs - this.#base) * 2;
    if (maxTs >= this.#nextRetire) this.#retire();
  }

  /** Drops the buckets that left the horizon from the count. */
  #retire(): void {
    const cutIndex = Math.floor((this.#maxTs - this.horizonMs) / this.bucketMs);
    const ring = this.#counts;
    const mask = ring.length - 1;
    if (cutIndex - this.#countFrom >= ring.length) {
      ring.fill(0);
      this.#held = 0;
    } else {
      for (let i = this.#countFrom; i < cutIndex; i++) {
        this.#held -= ring[this.#head];
        ring[this.#head] = 0;
        this.#head = (this.#head + 1) & mask;
      }
    }
    this.#countFrom = cutIndex;
    this.#nextRetire = (cutIndex + 1) * this.bucketMs + this.horizonMs;
  }

  /** Counts a held UUID entry in its time bucket (delta -1: one that stops being held). */
  #count(tsMs: number, delta: number): void {
    // Most events fall in the bucket of the previous one: skip the division then.
    if (tsMs < this.#lastStart || tsMs >= this.#lastStart + this.bucketMs) {
      this.#lastIndex = Math.floor(tsMs / this.bucketMs);
      this.#lastStart = this.#lastIndex * this.bucketMs;
    }
    const rel = this.#lastIndex - this.#countFrom;
    if (rel < 0) return; // its bucket already left the count
    this.#counts[(this.#head + rel) & (this.#counts.length - 1)] += delta;
    this.#held += delta;
  }

  #alloc(lines: number): Int32Array {
    this.#lines = lines;
    this.#scale1 = lines / TWO_POW_32;
    this.#scale2 = (lines - 1) / TWO_POW_32;
    return new Int32Array(lines * LINE);
  }

  #linesFor(entries: number): number {
    return Math.max(MIN_LINES, Math.ceil(entries / (WAYS * GROW_LOAD)));
  }

  /** Sets #p1/#p2 to the key's two (distinct) lines. */
  #locate(a: number, b: number, c: number, d: number): void {
    const h = hash128(this.#seed1, a, b, c, d);
    const p1 = ((h * this.#scale1) | 0) * LINE;
    const p2 = p1 + (((mix32(h ^ this.#seed2) * this.#scale2) | 0) + 1) * LINE;
    this.#p1 = p1;
    this.#p2 = p2 >= this.#slots.length ? p2 - this.#slots.length : p2;
  }

  /** Word index of the key's tag in the table, or -1; leaves its lines in #p1/#p2. */
  #find(a: number, b: number, c: number, d: number, up: number): number {
    this.#locate(a, b, c, d);
    const s = this.#slots;
    const q = findIn(s, this.#p1, a, b, c, d, up);
    return q >= 0 ? q : findIn(s, this.#p2, a, b, c, d, up);
  }

  /** Gives the entry at tag word q the timestamp tsMs (the id was accepted again, or restored newer). */
  #retag(q: number, tsMs: number, up: number): void {
    this.#count(this.#base + (this.#slots[q] >>> 1), -1);
    this.#slots[q] = ((tsMs - this.#base) * 2) | up;
    this.#count(tsMs, 1);
  }

  /** Inserts the key in w0..w3/upper, which #find() just missed (its lines are in #p1/#p2). */
  #insertNew(tsMs: number): void {
    if (this.#held >= this.#lines * WAYS * MAX_LOAD) {
      this.#rebuild(this.#linesFor(this.#held + 1));
      this.#locate(w0, w1, w2, w3);
    }
    this.#count(tsMs, 1); // after the rebuild, which recounts only what is already in the table
    carry(((tsMs - this.#base) * 2) | upper, w0, w1, w2, w3);
    this.#placeCarry(true);
  }

  /**
   * Puts the absent key in CARRY into a free (empty or expired) slot of its lines #p1/#p2, displacing entries
   * to their other line when both are full (random walk). The entry left without a slot after maxKicks grows
   * the table when `mayGrow`, else goes to the Maps, so placement always ends and loses nothing.
   */
  #placeCarry(mayGrow: boolean): void {
    const s = this.#slots;
    const k = CARRY;
    // The line with more free slots: the power of two choices keeps lines even and displacements rare.
    const f1 = this.#freeCount(this.#p1);
    const f2 = this.#freeCount(this.#p2);
    let p = f2 > f1 ? this.#p2 : this.#p1;
    let j = f1 + f2 > 0 ? this.#freeIn(p) : -1;
    for (let kicks = 0; j < 0 && kicks < this.#maxKicks; kicks++) {
      this.#rng ^= this.#rng << 13;
      this.#rng ^= this.#rng >>> 17;
      this.#rng ^= this.#rng << 5;
      const q = p + (this.#rng & (WAYS - 1));
      for (let w = 0; w < 5; w++) {
        const t = s[q + 4 * w];
        s[q + 4 * w] = k[w];
        k[w] = t;
      }
      this.#locate(k[1], k[2], k[3], k[4]);
      p = this.#p1 === p ? this.#p2 : this.#p1; // the evicted entry moves on to its other line
      j = this.#freeIn(p);
    }
    if (j >= 0) {
      const q = p + j;
      if (s[q] !== 0) this.#count(this.#base + (s[q] >>> 1), -1); // overwrites an expired entry
      for (let w = 0; w < 5; w++) s[q + 4 * w] = k[w];
      return;
    }
    const ts = this.#base + (k[0] >>> 1);
    if (mayGrow) {
      // The rebuild recounts only what is in the table and re-bases tags: recount and re-tag this entry.
      const [tag, a, b, c, d] = k;
      this.#rebuild(this.#linesFor(Math.max(this.#held, this.#lines * WAYS * 0.75)));
      this.#count(ts, 1);
      carry(((ts - this.#base) * 2) | (tag & 1), a, b, c, d);
      this.#locate(a, b, c, d);
      this.#placeCarry(false);
      return;
    }
    // Pathological hashing: keep the entry, exact, in the Maps instead.
    this.#count(ts, -1);
    this.#putString(formatUuid(k), ts);
    this.#uuidsInStrings = true;
  }

  /** Number of free (empty or expired) slots in line p. */
  #freeCount(p: number): number {
    const s = this.#slots;
    const cut = this.#cutTag;
    // Tags and cut are in [0, 2^31), so the sign bit of the difference is the comparison, without branches.
    return ((s[p] - cut) >>> 31) + ((s[p + 1] - cut) >>> 31) + ((s[p + 2] - cut) >>> 31) + ((s[p + 3] - cut) >>> 31);
  }

  /** Index (0..3) of a free slot in line p, or -1. */
  #freeIn(p: number): number {
    const s = this.#slots;
    const cut = this.#cutTag;
    if (s[p] < cut) return 0;
    if (s[p + 1] < cut) return 1;
    if (s[p + 2] < cut) return 2;
    if (s[p + 3] < cut) return 3;
    return -1;
  }

  /**
   * Makes tags relative to the current cutoff, in place: one sequential pass (~12 days of event time apart)
   * that also empties expired slots and recounts the held ones.
   */
  #rebase(): void {
    const s = this.#slots;
    const cutoff = this.#maxTs - this.horizonMs;
    const oldBase = this.#base;
    this.#resetCount(cutoff);
    for (let p = 0; p < s.length; p += LINE) {
      for (let q = p; q < p + WAYS; q++) {
        const tag = s[q];
        if (tag === 0) continue;
        const ts = oldBase + (tag >>> 1);
        if (ts < cutoff) {
          s[q] = 0;
        } else {
          s[q] = ((ts - this.#base) * 2) | (tag & 1);
          this.#count(ts, 1);
        }
      }
    }
  }

  /** Empties the count and re-bases tags' time on `cutoff`, as a rebuild or rebase starts. */
  #resetCount(cutoff: number): void {
    this.#base = cutoff - 1;
    this.#cutTag = 2;
    this.#counts.fill(0);
    this.#head = 0;
    this.#held = 0;
    this.#countFrom = Math.floor(cutoff / this.bucketMs);
    this.#nextRetire = (this.#countFrom + 1) * this.bucketMs + this.horizonMs;
  }

  /** Re-inserts every live entry into a table of `lines` lines, re-based on the current cutoff. */
  #rebuild(lines: number): void {
    const old = this.#slots;
    const oldBase = this.#base;
    const cutoff = this.#maxTs - this.horizonMs;
    this.#slots = this.#alloc(lines);
    this.#resetCount(cutoff);
    for (let p = 0; p < old.length; p += LINE) {
      for (let q = p; q < p + WAYS; q++) {
        const tag = old[q];
        if (tag === 0) continue;
        const ts = oldBase + (tag >>> 1);
        if (ts < cutoff) continue;
        this.#count(ts, 1);
        carry(((ts - this.#base) * 2) | (tag & 1), old[q + 4], old[q + 8], old[q + 12], old[q + 16]);
        this.#locate(CARRY[1], CARRY[2], CARRY[3], CARRY[4]);
        this.#placeCarry(false);
      }
    }
  }

  /** True when a Map holds `id` with a timestamp >= cutoff; else #stale is the bucket of an expired copy. */
  #stringSeen(id: string, cutoff: number): boolean {
    const strings = this.#strings;
    const cutIndex = Math.floor(cutoff / this.bucketMs);
    this.#stale = null;
    for (let k = strings.length - 1; k >= 0; k--) {
      const bucket = strings[k];
      if (bucket.index < cutIndex) break;
      const off = bucket.ids.get(id);
      if (off === undefined) continue;
      if (bucket.startMs + off >= cutoff) return true;
      this.#stale = bucket;
    }
    return false;
  }

  /** Drops the expired copy #stringSeen() found, so a re-accepted id is held once. */
  #dropStale(id: string): void {
    const bucket = this.#stale;
    if (bucket !== null && bucket.ids.delete(id)) bucket.chars -= id.length;
    this.#stale = null;
  }

  /**
   * Records (id, tsMs) in the Maps, keeping one entry per id like the table does: an older copy (expired,
   * or restored by add()) is removed, and a newer one makes this a no-op.
   */
  #putString(id: string, tsMs: number): void {
    for (const other of this.#strings) {
      const off = other.ids.get(id);
      if (off === undefined) continue;
      if (other.startMs + off >= tsMs) return;
      other.ids.delete(id);
      other.chars -= id.length;
      break;
    }
    this.#putStringInBucket(id, tsMs);
  }

  #putStringInBucket(id: string, tsMs: number): void {
    const index = Math.floor(tsMs / this.bucketMs);
    const strings = this.#strings;
    let k = strings.length;
    while (k > 0 && strings[k - 1].index > index) k--;
    let bucket = k > 0 ? strings[k - 1] : undefined;
    if (bucket === undefined || bucket.index !== index) {
      // Opening a bucket is rare: drop expired ones here too, so Maps stay bounded without evict().
      const cutIndex = Math.floor((this.#maxTs - this.horizonMs) / this.bucketMs);
      let n = 0;
      while (n < k && strings[n].index < cutIndex) n++;
      strings.splice(0, n);
      bucket = { index, startMs: index * this.bucketMs, ids: new Map<string, number>(), chars: 0 };
      strings.splice(k - n, 0, bucket);
    }
    bucket.ids.set(id, tsMs - bucket.startMs);
    bucket.chars += id.length;
  }
}

/** Word index of the key's tag in the line at p, or -1. A key is at most once in its two lines. */
function findIn(s: Int32Array, p: number, a: number, b: number, c: number, d: number, up: number): number {
  for (let j = p; j < p + WAYS; j++) {
    if (s[j + 4] === a && s[j + 8] === b && s[j + 12] === c && s[j + 16] === d) {
      const tag = s[j];
      if (tag !== 0 && (tag & 1) === up) return j;
    }
  }
  return -1;
}
