/**
 * A worker thread's user states: the users its actors saw recently, bounded in count. A user not here is read
 * from the warehouse (through `UserLookup`) before its events are stamped, so the cache only ever saves reads;
 * it never decides a value on its own.
 *
 * A user may leave the cache only once the warehouse holds its latest state: a state changed in a flush stays
 * until that flush is committed, else a read would bring back the older state. A committed user is also in the
 * filter of known users (the supervisor adds it before the worker hears of the commit), so one that left is read
 * again, never taken for a new one. Eviction takes players in the order they became free to leave (read, or their
 * change committed), whenever a commit makes players free to leave and before a read adds more. It used to scan
 * the players oldest first, past those waiting for their commit: with more players than the cache holds, every
 * read scanned tens of thousands of them (10 CPU-s of a 1M-event run with 100,000 players and a 10,000 cache).
 */
import { RowBuffer } from '../sinks/row-files.ts';
import { StringMap } from '../string-map.ts';
import type { KnownUsers } from './known-users.ts';
import { DIRTY, HAS_STATE, StateSlots } from './state-slots.ts';
import type { StoredUserState, UserState } from './state.ts';

/** Reads users' committed states; users the warehouse does not have are absent from the answer. */
export type UserLookup = (userIds: string[]) => StoredUserState[];

/** The leave queue is rebuilt from the players held once it holds this many more ids than there are of them. */
const QUEUE_SLACK = 4096;

export class UserCache {
  /** Each player's slot. Not a Map: see StringMap (a lookup for every event, by an id the record's parse has just made). */
  private readonly slotOf = new StringMap<number>();
  private readonly slots = new StateSlots();
  /** The state `get` returns: valid until the next call of `get` (the actor reads, folds in one event and `set`s). */
  private readonly view: UserState = { installMs: null, firstSeenMs: 0, firstPaidMs: null };
  /** Slots whose state changed since the last flush. */
  private readonly changed: number[] = [];
  private committedSeq = 0;
  private readonly capacity: number;
  private readonly lookup: UserLookup;
  private readonly known: KnownUsers | null;
  /** Users this thread created (the warehouse had none of them), to be told to the supervisor with their flush. */
  private readonly created: string[] = [];
  /**
   * Ids in the order they became free to leave, or were wanted again; `leaveAt` is the next to look at, and
   * `leaveBase` the absolute position of leave[0]. An id passes over a place that is not its slot's last, and a
   * player that has changed since, or has gone (a committed change queues it again).
   */
  private leave: string[] = [];
  private leaveAt = 0;
  private leaveBase = 0;
  /**
   * The absolute queue position at which the batch being processed began (Infinity between batches): users read
   * or wanted for it are queued after it, and a read later in the same batch must not make room by sending them
   * away before their events come.
   */
  private batchFrom = Infinity;
  /** The users each flush not yet committed wrote, to be queued to leave at its commit. */
  private readonly flushed: { seq: number; ids: string[] }[] = [];

  /** `known`: users the warehouse may have (null: any user may be there, so every user not held is read). */
  constructor(capacity: number, lookup: UserLookup, known: KnownUsers | null = null) {
    this.capacity = Math.max(1, capacity);
    this.lookup = lookup;
    this.known = known;
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** Whether the warehouse may hold this user, so that a user not held must be read before it is stamped. */
  mayBeStored(userId: string): boolean {
    return this.known === null || this.known.mayHave(userId);
  }

  /**
   * Reads the users of `userIds` not held yet in one request (repeats allowed), after making room down to the
   * capacity as far as commits allow. A user read and not found is held as "none", so it is not read again.
   * Only users whose latest state is committed ever leave, so reading one again gives the same state.
   */
  fetch(userIds: string[], partition: number): void {
    if (this.slotOf.size > this.capacity) this.evict(this.batchFrom);
    const ask = new Set<string>();
    for (const id of userIds) if (!this.slotOf.has(id)) ask.add(id);
    if (ask.size === 0) return;
    for (const s of this.lookup([...ask])) {
      if (!ask.has(s.userId)) continue;
      this.hold(s.userId, s, partition);
      ask.delete(s.userId);
    }
    for (const id of ask) this.hold(id, null, partition);
  }

  /** Holds a committed state (read, or "none": null): free to leave at once. */
  private hold(userId: string, state: UserState | null, partition: number): void {
    const slot = this.slots.alloc(userId, partition);
    if (state) this.slots.write(slot, state);
    this.slotOf.set(userId, slot);
    this.queueToLeave(userId, slot);
  }

  private queueToLeave(userId: string, slot: number): void {
    this.slots.queued[slot] = this.leaveBase + this.leave.length;
    this.leave.push(userId);
    if (this.leave.length - this.leaveAt > this.slotOf.size + QUEUE_SLACK) this.rebuildLeaveQueue();
  }

  /** The queue, from the players free to leave now in their queue order: drops the places passed over. */
  private rebuildLeaveQueue(): void {
    const queued = this.slots.queued;
    const free: [string, number][] = [];
    for (const [id, slot] of this.slotOf) if (queued[slot]! >= this.leaveBase + this.leaveAt && this.free(slot)) free.push([id, slot]);
    free.sort((a, b) => queued[a[1]]! - queued[b[1]]!);
    this.leaveBase += this.leave.length;
    this.leave = [];
    this.leaveAt = 0;
    for (const [id, slot] of free) {
      queued[slot] = this.leaveBase + this.leave.length;
      this.leave.push(id);
    }
  }

  /**
   * A user the batch being processed has events of: if held, it goes to the back of the leave queue, so that
   * making room for the batch's reads does not send it away first. False when it is not held.
   */
  want(userId: string): boolean {
    const slot = this.slotOf.get(userId);
    if (slot === undefined) return false;
    if (this.free(slot)) this.queueToLeave(userId, slot);
    return true;
  }

  /** A worker's batch begins: the users read or wanted from now on stay until it ends (see batchFrom). */
  batchBegins(): void {
    this.batchFrom = this.leaveBase + this.leave.length;
  }

  batchEnds(): void {
    this.batchFrom = Infinity;
  }

  private free(slot: number): boolean {
    return (this.slots.flags[slot]! & DIRTY) === 0 && this.slots.flushSeq[slot]! <= this.committedSeq;
  }

  /** Holds committed states read in bulk (a partition's restore), as a read would. */
  preload(states: readonly StoredUserState[], partition: number): void {
    for (const s of states) if (!this.slotOf.has(s.userId)) this.hold(s.userId, s, partition);
  }

  /**
   * The user's state: undefined when not held, null when held as "none" (see fetch). The object is the cache's
   * own and is overwritten by the next call: fold an event into it and `set` it, as the actor does.
   */
  get(userId: string): UserState | null | undefined {
    const slot = this.slotOf.get(userId);
    if (slot === undefined) return undefined;
    return (this.slots.flags[slot]! & HAS_STATE) === 0 ? null : this.slots.read(slot, this.view);
  }

  /** Records the user's new or changed state, to be written with the next flush. */
  set(userId: string, state: UserState, partition: number): void {
    const slots = this.slots;
    let slot = this.slotOf.get(userId);
    if (slot === undefined) {
      slot = slots.alloc(userId, partition);
      this.slotOf.set(userId, slot);
      this.created.push(userId);
    } else if ((slots.flags[slot]! & HAS_STATE) === 0) {
      this.created.push(userId);
    }
    slots.write(slot, state);
    if ((slots.flags[slot]! & DIRTY) === 0) {
      slots.flags[slot]! |= DIRTY;
      this.changed.push(slot);
    }
  }

  /**
   * Writes the states changed since the last flush as rows of the `users` file, part of flush `seq`; returns the
   * users among them that are new to the warehouse.
   */
  flushTo(rows: RowBuffer, seq: number): string[] {
    const slots = this.slots;
    const ids: string[] = [];
    for (const slot of this.changed) {
      slots.flags[slot]! &= ~DIRTY;
      slots.flushSeq[slot] = seq;
      const s = slots.read(slot, this.view);
      const userId = slots.ids[slot]!;
      rows.push({ user_id: userId, install_ms: s.installMs, first_seen_ms: s.firstSeenMs, first_paid_ms: s.firstPaidMs, source_partition: slots.partition[slot] });
      ids.push(userId);
    }
    this.changed.length = 0;
    if (ids.length > 0) this.flushed.push({ seq, ids });
    return this.created.splice(0);
  }

  /** This thread's flushes up to `seq` are committed: their users may leave, and do when the cache is over its size. */
  committed(seq: number): void {
    if (seq > this.committedSeq) this.committedSeq = seq;
    let n = 0;
    while (n < this.flushed.length && this.flushed[n]!.seq <= this.committedSeq) n++;
    for (const f of this.flushed.splice(0, n)) {
      for (const id of f.ids) {
        const slot = this.slotOf.get(id);
        if (slot !== undefined && this.free(slot)) this.queueToLeave(id, slot);
      }
    }
    if (this.slotOf.size > this.capacity) this.evict();
  }

  /**
   * Forgets a partition's users (it moved to another owner or its actors restart): whoever has it next may
   * change them, so their states are read again. Their unflushed changes go with the actors' unflushed rows.
   */
  dropPartition(partition: number): void {
    const slots = this.slots;
    for (let i = this.changed.length - 1; i >= 0; i--) {
      const slot = this.changed[i]!;
      if (slots.partition[slot] !== partition) continue;
      this.changed.splice(i, 1);
      const k = this.created.indexOf(slots.ids[slot]!);
      if (k >= 0) this.created.splice(k, 1);
    }
    for (const [id, slot] of this.slotOf) {
      if (slots.partition[slot] !== partition) continue;
      this.slotOf.delete(id);
      slots.release(slot);
    }
  }

  /** Makes room down to the capacity from the front of the leave queue, up to absolute position `end`. */
  private evict(end = Infinity): void {
    const leave = this.leave;
    const base = this.leaveBase;
    const queued = this.slots.queued;
    const stop = Math.min(leave.length, end - base);
    let at = this.leaveAt;
    while (this.slotOf.size > this.capacity && at < stop) {
      const id = leave[at]!;
      const slot = this.slotOf.get(id);
      if (slot !== undefined && queued[slot] === base + at && this.free(slot)) {
        this.slotOf.delete(id);
        this.slots.release(slot);
      }
      at++;
    }
    this.leaveAt = at;
    if (at > QUEUE_SLACK && at * 2 > leave.length) {
      this.leave = leave.slice(at);
      this.leaveBase += at;
      this.leaveAt = 0;
    }
  }
}
