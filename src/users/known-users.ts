/**
 * Which users the warehouse may have: a filter over every user id it holds, so that a user it certainly lacks
 * (a new player: the usual case) is stamped without a read. "Maybe" sends the read; a wrong "maybe" costs one
 * read and changes nothing, and a "no" is never wrong, so the stamps stay exact at any fill.
 *
 * The supervisor's thread writes it (at start from the warehouse, then after each commit with the users that
 * commit added, and on taking over partitions with their users); worker threads read it.
 */
import { KeyFilter } from '../dedupe/filter.ts';
import { KEY, keyOf } from '../dedupe/id-key.ts';

/** Room for this many users beyond those at start before the share of needless reads grows (about 0.1%). */
const HEADROOM = 1 << 20;
const MAX_BYTES = 256 * 2 ** 20;

export class KnownUsers {
  private readonly filter: KeyFilter;

  /** A filter sized for `users` ids and room to grow, in shared memory. */
  static forUsers(users: number): KnownUsers {
    const want = (2 * users + HEADROOM) * 2; // 16 bits per id
    const bytes = Math.min(MAX_BYTES, 2 ** Math.ceil(Math.log2(want)));
    return new KnownUsers(KeyFilter.create(bytes).sharedBuffer);
  }

  constructor(buffer: SharedArrayBuffer) {
    this.filter = new KeyFilter(buffer);
  }

  get sharedBuffer(): SharedArrayBuffer {
    return this.filter.sharedBuffer;
  }

  /** How many ids it holds at its designed share of needless reads. */
  get capacity(): number {
    return this.filter.capacity;
  }

  add(userId: string): void {
    keyOf(userId);
    this.filter.add(KEY[0]! >>> 0, KEY[2]!, KEY[4]!);
  }

  mayHave(userId: string): boolean {
    keyOf(userId);
    return this.filter.mayHave(KEY[0]! >>> 0, KEY[2]!, KEY[4]!);
  }
}
