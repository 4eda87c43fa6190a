/**
 * An insertion-ordered map from strings, for the lookups a worker makes once per event with a string the
 * record's `JSON.parse` has just made (a user id, a device model, an IP address).
 *
 * V8's Map looks such a string up in the isolate's string table before its own probe, since the string is new.
 * Here the key is hashed from its characters and compared only when the hashes match: at 50k events/s this took
 * a worker thread about 4% less CPU than a Map for the user, device and IP lookups together (the median of 10
 * pairs; docs/PERFORMANCE.md, "A map for the ids a record brings").
 *
 * Entries sit in arrays in insertion order; a delete leaves a hole until the next growth compacts them. So, as a
 * Map's, iteration goes oldest first and may delete as it goes (not insert).
 */

import { fmix } from './dedupe/id-key.ts';

/** Per process, so that which ids collide cannot be worked out from the source. */
const SEED = (Math.random() * 0x100000000) | 0;

export class StringMap<V> {
  private keyList: (string | undefined)[] = [];
  private valueList: (V | undefined)[] = [];
  private hashes = new Int32Array(16);
  /** The next entry in the same bucket, -1 at the end. */
  private chain = new Int32Array(16);
  /** Each bucket's newest entry, -1 for none; as many buckets as entry slots. */
  private heads = new Int32Array(16).fill(-1);
  private live = 0;
  /** No entry before it: a cache that deletes its oldest first would otherwise walk ever more holes. */
  private first = 0;

  get size(): number {
    return this.live;
  }

  get(key: string): V | undefined {
    const i = this.find(key, hashOf(key));
    return i < 0 ? undefined : this.valueList[i];
  }

  has(key: string): boolean {
    return this.find(key, hashOf(key)) >= 0;
  }

  set(key: string, value: V): this {
    const h = hashOf(key);
    const found = this.find(key, h);
    if (found >= 0) {
      this.valueList[found] = value;
      return this;
    }
    if (this.keyList.length === this.hashes.length) this.grow();
    const i = this.keyList.length;
    this.keyList.push(key);
    this.valueList.push(value);
    this.hashes[i] = h;
    const b = h & (this.heads.length - 1);
    this.chain[i] = this.heads[b]!;
    this.heads[b] = i;
    this.live++;
    return this;
  }

  delete(key: string): boolean {
    const i = this.find(key, hashOf(key));
    if (i < 0) return false;
    // The entry stays linked in its bucket as a hole: `find` never matches an undefined key.
    this.keyList[i] = undefined;
    this.valueList[i] = undefined;
    this.live--;
    while (this.first < this.keyList.length && this.keyList[this.first] === undefined) this.first++;
    return true;
  }

  clear(): void {
    this.keyList = [];
    this.valueList = [];
    this.hashes = new Int32Array(16);
    this.chain = new Int32Array(16);
    this.heads = new Int32Array(16).fill(-1);
    this.live = 0;
    this.first = 0;
  }

  /** Oldest first. */
  *entries(): IterableIterator<[string, V]> {
    for (let i = this.first; i < this.keyList.length; i++) {
      const k = this.keyList[i];
      if (k !== undefined) yield [k, this.valueList[i] as V];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  private find(key: string, h: number): number {
    const keys = this.keyList;
    const hashes = this.hashes;
    const chain = this.chain;
    for (let i = this.heads[h & (this.heads.length - 1)]!; i >= 0; i = chain[i]!) {
      if (hashes[i] === h && keys[i] === key) return i;
    }
    return -1;
  }

  /** Room for at least twice the live entries (16 at least), without the holes deletes left. */
  private grow(): void {
    let cap = 16;
    while (cap < this.live * 2) cap *= 2;
    const keys: (string | undefined)[] = [];
    const values: (V | undefined)[] = [];
    const hashes = new Int32Array(cap);
    const chain = new Int32Array(cap);
    const heads = new Int32Array(cap).fill(-1);
    for (let j = this.first; j < this.keyList.length; j++) {
      const k = this.keyList[j];
      if (k === undefined) continue;
      const i = keys.length;
      keys.push(k);
      values.push(this.valueList[j]);
      const h = (hashes[i] = this.hashes[j]!);
      const b = h & (cap - 1);
      chain[i] = heads[b]!;
      heads[b] = i;
    }
    this.keyList = keys;
    this.valueList = values;
    this.hashes = hashes;
    this.chain = chain;
    this.heads = heads;
    this.first = 0;
  }
}

/**
 * FNV-1a over the UTF-16 code units, from a per-process seed, then MurmurHash3's finaliser: FNV's low bits, which
 * pick the bucket, depend only on the characters' low bits until it.
 */
function hashOf(s: string): number {
  let h = SEED ^ 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return fmix(h);
}
