/**
 * The user cache's players in columns: one slot per player held, with its three times, its partition, the flush
 * that wrote its latest change, its place in the leave queue and two flags. A player was three to five heap
 * objects (an entry, its state, the boxed times); in columns it is its id string and a slot, so a large cache
 * costs the heap little and the collector less (docs/PERFORMANCE.md, "User states in columns").
 */
import type { UserState } from './state.ts';

/** The slot holds a state (else the warehouse had none: a player read and not found). */
export const HAS_STATE = 1;
/** Its state changed since its last flush. */
export const DIRTY = 2;

const INITIAL_SLOTS = 1024;

export class StateSlots {
  /** The player of each slot ('' when free). */
  ids: string[] = [];
  /** Times in epoch ms; NaN: none (null in a UserState). */
  install = new Float64Array(INITIAL_SLOTS);
  firstSeen = new Float64Array(INITIAL_SLOTS);
  firstPaid = new Float64Array(INITIAL_SLOTS);
  partition = new Int32Array(INITIAL_SLOTS);
  /** The flush that wrote its latest change (0: none since it was read). */
  flushSeq = new Float64Array(INITIAL_SLOTS);
  /** Its place in the leave queue (an absolute position; -1: none). */
  queued = new Float64Array(INITIAL_SLOTS);
  flags = new Uint8Array(INITIAL_SLOTS);
  private readonly freeSlots: number[] = [];
  private next = 0;

  /** A slot for `id`, its fields cleared: no state, not dirty, not queued. */
  alloc(id: string, partition: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.next === this.flags.length) this.grow();
      slot = this.next++;
    }
    this.ids[slot] = id;
    this.install[slot] = NaN;
    this.firstSeen[slot] = NaN;
    this.firstPaid[slot] = NaN;
    this.partition[slot] = partition;
    this.flushSeq[slot] = 0;
    this.queued[slot] = -1;
    this.flags[slot] = 0;
    return slot;
  }

  release(slot: number): void {
    this.ids[slot] = '';
    this.flags[slot] = 0;
    this.freeSlots.push(slot);
  }

  write(slot: number, s: UserState): void {
    this.install[slot] = s.installMs ?? NaN;
    this.firstSeen[slot] = s.firstSeenMs;
    this.firstPaid[slot] = s.firstPaidMs ?? NaN;
    this.flags[slot] |= HAS_STATE;
  }

  /** The slot's state, written into `into`. */
  read(slot: number, into: UserState): UserState {
    const install = this.install[slot]!;
    const paid = this.firstPaid[slot]!;
    into.installMs = install === install ? install : null;
    into.firstSeenMs = this.firstSeen[slot]!;
    into.firstPaidMs = paid === paid ? paid : null;
    return into;
  }

  private grow(): void {
    const n = this.flags.length * 2;
    this.install = grown(this.install, n);
    this.firstSeen = grown(this.firstSeen, n);
    this.firstPaid = grown(this.firstPaid, n);
    this.flushSeq = grown(this.flushSeq, n);
    this.queued = grown(this.queued, n);
    this.partition = grown(this.partition, n);
    this.flags = grown(this.flags, n);
  }
}

type Column = Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

/** A column of `n` slots of the same type, the first ones copied from `a`. */
function grown<C extends Column>(a: C, n: number): C {
  const b = new (a.constructor as new (length: number) => C)(n);
  b.set(a as ArrayLike<number>);
  return b;
}
