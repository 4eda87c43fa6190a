/**
 * The exact UUID table of the duplicate detector (dedupe.ts decides what counts as a duplicate; this file
 * only stores UUIDs with their event time and finds them again).
 *
 * UUID ids (lowercase or uppercase `8-4-4-4-12` hex) live in one bucketized cuckoo hash table over an
 * Int32Array: each id has two candidate lines of 4 slots (80 bytes), so a lookup touches two random memory
 * lines whatever the horizon. A slot is 5 words: the 128 UUID bits and a tag = ((ts - base) << 1) | upper
 * (0 = never used). `upper` keeps case exact: "ABC…" and "abc…" are different ids, so only all-lowercase and
 * all-uppercase UUIDs take this path (digits-only counts as lowercase; the string is the same either way).
 * Because the tag carries the event time, expiry is implicit: a slot whose ts < maxTs - horizon is free for
 * reuse without being deleted, and whole time buckets (`bucketMs`) leave the count at once.
 *
 * Why not one hash table per time bucket: a new id must then be probed in every live bucket, and a random
 * memory access costs ~200 ns on this VM (~45 ns when several overlap); that design measured 750–850 ns/op
 * with 5–6 buckets. Here a lookup costs about one memory latency plus ~200 ns of parsing and hashing.
 *
 * Pauses: a table grows ×1.4 (one rebuild, ~0.8 s at 3M ids) only while traffic rises; tags are re-based in
 * place every ~12 days of event time (~75 ms at 3.3M ids); steady traffic never rehashes.
 */

const WAYS = 4; // slots per line
const LINE = 5 * WAYS; // words per line, laid out [tags ×4, w0 ×4, w1 ×4, w2 ×4, w3 ×4]
const MIN_LINES = 16;
const MAX_LOAD = 0.9; // grow before the held count passes this share of slots
const GROW_LOAD = 0.65; // load right after a grow or shrink
const SHRINK_LOAD = 0.2;
const MAX_KICKS = 400;
// Tags hold (ts - base) * 2 in a positive int32: rebase (one table pass) before maxTs - base reaches 2^30.
const MAX_REL = 2 ** 30 - 1;
/** Largest horizon the tags can represent next to the rebase slack. */
export const MAX_HORIZON = 2 ** 29;
const TWO_POW_32 = 4294967296;

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

/** The id string of a table entry (an entry the table cannot place is spilled to the caller). */
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

/** Mixes the 128 key bits with a per-table seed, so crafted ids cannot pre-compute colliding lines. */
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

export interface UuidTableOptions {
  /** Hash seed (default random). */
  readonly seed?: number;
  /** Displacements before an insert gives up and grows the table (or spills, during a rebuild). */
  readonly maxKicks?: number;
}

/**
 * UUIDs with their event time, expiring `horizonMs` behind the last advance(). Usage, allocation-free:
 * parse(id), then find() and, for that same key, isLive()/olderThan()/retag() or insert().
 */
export class UuidTable {
  readonly #horizonMs: number;
  readonly #bucketMs: number;
  readonly #seed1: number;
  readonly #seed2: number;
  readonly #maxKicks: number;
  /** Takes an entry the table could not place (pathological hashing), so nothing is lost. */
  readonly #spill: (id: string, tsMs: number) => void;
  #rng = 0x2545f491;

  /** maxTs - horizon as of the last advance(). */
  #cutoff = Number.NEGATIVE_INFINITY;
  /** Tags are relative to this time; NaN until the first event. */
  #base = Number.NaN;
  /** Tags below this are expired (or empty): (cutoff - base) * 2. */
  #cutTag = 0;

  #slots: Int32Array;
  #lines = 0;
  #scale1 = 0;
  #scale2 = 0;
  /** Word offsets of the two lines of the key last passed to #locate(). */
  #p1 = 0;
  #p2 = 0;

  /** Held entries per time bucket, in a ring starting at #head = bucket #countFrom, and their sum. */
  readonly #counts: Int32Array;
  #head = 0;
  #held = 0;
  /** Lowest bucket index still counted in #held, and the maxTs at which it leaves the horizon. */
  #countFrom = Number.NEGATIVE_INFINITY;
  #nextRetire = Number.NEGATIVE_INFINITY;
  /** The bucket of the last #count() call. */
  #lastIndex = 0;
  #lastStart = Number.POSITIVE_INFINITY;

  /** horizonMs and bucketMs are validated by the caller (DedupeStore). */
  constructor(horizonMs: number, bucketMs: number, options: UuidTableOptions, spill: (id: string, tsMs: number) => void) {
    this.#horizonMs = horizonMs;
    this.#bucketMs = bucketMs;
    const seed = options.seed ?? Math.random() * TWO_POW_32;
    this.#seed1 = seed | 0;
    this.#seed2 = mix32(seed ^ 0x5bd1e995) | 0;
    this.#maxKicks = options.maxKicks ?? MAX_KICKS;
    this.#spill = spill;
    // Counted buckets span at most ceil(horizon / bucket) + 1 indexes; a power of two makes the ring a mask.
    this.#counts = new Int32Array(2 ** Math.ceil(Math.log2(Math.ceil(horizonMs / bucketMs) + 2)));
    this.#slots = this.#alloc(MIN_LINES);
  }

  /**
   * Entries held: every one inside the horizon, plus expired ones whose time bucket has not fully left it.
   */
  get held(): number {
    return this.#held;
  }

  /** Bytes of the typed arrays. */
  get byteLength(): number {
    return this.#slots.byteLength + this.#counts.byteLength;
  }

  /** Parses `id` as the current key; false when it is not a lowercase or uppercase UUID (then use no other call). */
  parse(id: string): boolean {
    return parseUuid(id);
  }

  /** Word index of the current key's entry (live or expired), or -1; remembers its lines for insert(). */
  find(): number {
    this.#locate(w0, w1, w2, w3);
    const s = this.#slots;
    const q = findIn(s, this.#p1, w0, w1, w2, w3, upper);
    return q >= 0 ? q : findIn(s, this.#p2, w0, w1, w2, w3, upper);
  }

  /** True when the entry found at q is still inside the horizon. */
  isLive(q: number): boolean {
    return this.#slots[q] >= this.#cutTag;
  }

  /** True when the entry found at q is older than tsMs. */
  olderThan(q: number, tsMs: number): boolean {
    return this.#slots[q] >>> 1 < tsMs - this.#base;
  }

  /** Gives the entry at q (the current key) the timestamp tsMs: accepted again, or restored newer. */
  retag(q: number, tsMs: number): void {
    this.#count(this.#base + (this.#slots[q] >>> 1), -1);
    this.#slots[q] = ((tsMs - this.#base) * 2) | upper;
    this.#count(tsMs, 1);
  }

  /** Inserts the current key, which find() just missed, with timestamp tsMs (>= the cutoff). */
  insert(tsMs: number): void {
    if (this.#held >= this.#lines * WAYS * MAX_LOAD) {
      this.#rebuild(this.#linesFor(this.#held + 1));
      this.#locate(w0, w1, w2, w3);
    }
    this.#count(tsMs, 1); // after the rebuild, which recounts only what is already in the table
    carry(((tsMs - this.#base) * 2) | upper, w0, w1, w2, w3);
    this.#placeCarry(true);
  }

  /** Moves maxTs forward: new cutoff, rebase when tags would overflow, retire whole buckets. */
  advance(maxTs: number): void {
    this.#cutoff = maxTs - this.#horizonMs;
    if (Number.isNaN(this.#base)) this.#base = this.#cutoff - 1;
    else if (maxTs - this.#base > MAX_REL) {
      this.#rebase();
      return;
    }
    this.#cutTag = (this.#cutoff - this.#base) * 2;
    if (maxTs >= this.#nextRetire) this.#retire();
  }

  /** Shrinks a table left mostly empty (one pass, only after traffic fell to a fifth). */
  shrink(): void {
    if (this.#lines > MIN_LINES && this.#held < this.#lines * WAYS * SHRINK_LOAD) {
      this.#rebuild(this.#linesFor(this.#held));
    }
  }

  clear(): void {
    this.#cutoff = Number.NEGATIVE_INFINITY;
    this.#base = Number.NaN;
    this.#cutTag = 0;
    this.#slots = this.#alloc(MIN_LINES);
    this.#counts.fill(0);
    this.#head = 0;
    this.#held = 0;
    this.#countFrom = Number.NEGATIVE_INFINITY;
    this.#nextRetire = Number.NEGATIVE_INFINITY;
  }

  /** Drops the buckets that left the horizon from the count. */
  #retire(): void {
    const cutIndex = Math.floor(this.#cutoff / this.#bucketMs);
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
    this.#nextRetire = (cutIndex + 1) * this.#bucketMs + this.#horizonMs;
  }

  /** Counts a held entry in its time bucket (delta -1: one that stops being held). */
  #count(tsMs: number, delta: number): void {
    // Most events fall in the bucket of the previous one: skip the division then.
    if (tsMs < this.#lastStart || tsMs >= this.#lastStart + this.#bucketMs) {
      this.#lastIndex = Math.floor(tsMs / this.#bucketMs);
      this.#lastStart = this.#lastIndex * this.#bucketMs;
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

  /**
   * Puts the absent key in CARRY into a free (empty or expired) slot of its lines #p1/#p2, displacing entries
   * to their other line when both are full (random walk). The entry left without a slot after maxKicks grows
   * the table when `mayGrow`, else is spilled, so placement always ends and loses nothing.
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
    // Pathological hashing: the caller keeps the entry, exact, elsewhere.
    this.#count(ts, -1);
    this.#spill(formatUuid(k), ts);
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
    const cutoff = this.#cutoff;
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
    this.#countFrom = Math.floor(cutoff / this.#bucketMs);
    this.#nextRetire = (this.#countFrom + 1) * this.#bucketMs + this.#horizonMs;
  }

  /** Re-inserts every live entry into a table of `lines` lines, re-based on the current cutoff. */
  #rebuild(lines: number): void {
    const old = this.#slots;
    const oldBase = this.#base;
    const cutoff = this.#cutoff;
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
}
