/**
 * A worker's accepted ids that the index does not hold yet: those of the rows it has not flushed, and those of
 * flushes not yet committed and added to the index. Exact, in memory, hashed by h32; bounded by what is not
 * yet durable (GAMESTREAM_MAX_UNCOMMITTED_BYTES holds the source back before that grows).
 *
 * Each flush seals the current generation: its entries go to a run file for the index, and the generation is
 * kept for lookups until the supervisor says that flush is in the index (release()).
 *
 * A private filter over all of them answers "not pending" for nearly every new id at the cost of one read of
 * memory that stays in the CPU's caches; it is rebuilt from what is left at each release.
 */
import { EntryList, ENTRY_WORDS } from './entries.ts';
import { KeyFilter } from './filter.ts';
import type { EntryVisitor } from './run-file.ts';

/** The private filter over a worker's pending ids. */
const FILTER_BYTES = 1 << 20;

class Generation {
  readonly list = new EntryList(4096);
  private heads = new Int32Array(8192).fill(-1);
  private next = new Int32Array(4096);
  /** The flush that sealed it (0 while current). */
  seq = 0;

  add(h: number, k0: number, k1: number, k2: number, k3: number, seenMs: number, origin: number, offset: number, partition: number): void {
    // Room first: a rehash links the entries already in the list, and this one is linked below.
    if ((this.list.length + 1) * 2 > this.heads.length) this.rehash(this.heads.length * 2);
    const i = this.list.push(h, k0, k1, k2, k3, seenMs, origin, offset, partition);
    if (i >= this.next.length) {
      const next = new Int32Array(this.next.length * 2);
      next.set(this.next);
      this.next = next;
    }
    const slot = h & (this.heads.length - 1);
    this.next[i] = this.heads[slot]!;
    this.heads[slot] = i;
  }

  find(h: number, k0: number, k1: number, k2: number, k3: number, visit: EntryVisitor): boolean {
    const w = this.list.words;
    const hs = this.list.h32;
    for (let i = this.heads[h & (this.heads.length - 1)]!; i >= 0; i = this.next[i]!) {
      const at = i * ENTRY_WORDS;
      if (hs[i] === h && w[at] === k0 && w[at + 1] === k1 && w[at + 2] === k2 && w[at + 3] === k3 && visit(w, at)) return true;
    }
    return false;
  }

  forEachKey(fn: (h: number, k1: number, k3: number) => void): void {
    const w = this.list.words;
    const hs = this.list.h32;
    for (let i = 0; i < this.list.length; i++) fn(hs[i]!, w[i * ENTRY_WORDS + 1]!, w[i * ENTRY_WORDS + 3]!);
  }

  reset(): void {
    this.list.clear();
    this.heads.fill(-1);
    this.seq = 0;
  }

  private rehash(size: number): void {
    this.heads = new Int32Array(size).fill(-1);
    const hs = this.list.h32;
    for (let i = 0; i < this.list.length; i++) {
      const slot = hs[i]! & (size - 1);
      this.next[i] = this.heads[slot]!;
      this.heads[slot] = i;
    }
  }
}

export class PendingIds {
  private readonly filter = KeyFilter.create(FILTER_BYTES, false);
  private current = new Generation();
  /** Sealed generations, oldest first. */
  private sealed: Generation[] = [];
  private spare: Generation | null = null;

  add(h: number, k0: number, k1: number, k2: number, k3: number, seenMs: number, origin: number, offset: number, partition: number): void {
    this.current.add(h, k0, k1, k2, k3, seenMs, origin, offset, partition);
    this.filter.add(h, k1, k3);
  }

  /** False when no pending entry has this key; true when one may. */
  mayHave(h: number, k1: number, k3: number): boolean {
    return this.filter.mayHave(h, k1, k3);
  }

  /** Visits every pending entry with this key (newest generation first) until `visit` returns true. */
  find(h: number, k0: number, k1: number, k2: number, k3: number, visit: EntryVisitor): boolean {
    if (this.current.find(h, k0, k1, k2, k3, visit)) return true;
    for (let g = this.sealed.length - 1; g >= 0; g--) if (this.sealed[g]!.find(h, k0, k1, k2, k3, visit)) return true;
    return false;
  }

  /** Calls `fn` with the filter words of every pending key. */
  forEachKey(fn: (h: number, k1: number, k3: number) => void): void {
    this.current.forEachKey(fn);
    for (const g of this.sealed) g.forEachKey(fn);
  }

  /** Entries since the last seal. */
  get size(): number {
    return this.current.list.length;
  }

  /** Entries held in all generations. */
  get held(): number {
    return this.sealed.reduce((a, g) => a + g.list.length, this.current.list.length);
  }

  /** Seals the current generation as flush `seq` and returns its entries in index order (for its run file). */
  seal(seq: number): Int32Array {
    const g = this.current;
    g.seq = seq;
    const sorted = g.list.sorted();
    this.sealed.push(g);
    this.current = this.spare ?? new Generation();
    this.spare = null;
    return sorted;
  }

  /** The index now holds the entries of every flush up to `seq`: their generations go. */
  release(seq: number): void {
    let released = false;
    while (this.sealed.length > 0 && this.sealed[0]!.seq <= seq) {
      const g = this.sealed.shift()!;
      g.reset();
      this.spare = g;
      released = true;
    }
    if (!released) return;
    this.filter.clear();
    this.forEachKey((h, k1, k3) => this.filter.add(h, k1, k3));
  }

  /** Forgets everything (the worker's actors are rebuilt from the warehouse). */
  clear(): void {
    this.current.reset();
    this.sealed = [];
    this.filter.clear();
  }
}
