/**
 * A worker thread's user states: the users its actors saw recently, bounded in count. A user not here is read
 * from the warehouse (through `UserLookup`) before its events are stamped, so the cache only ever saves reads;
 * it never decides a value on its own.
 *
 * A user may leave the cache only once the warehouse holds its latest state: a state changed in a flush stays
 * until that flush is committed, else a read would bring back the older state. A committed user is also in the
 * filter of known users (the supervisor adds it before the worker hears of the commit), so one that left is read
 * again, never taken for a new one. Eviction takes the oldest entries first (insertion order), skipping those
 * still waiting for their commit, whenever a commit makes entries free to leave and before a read adds more.
 */
import { RowBuffer } from '../sinks/row-files.ts';
import { StringMap } from '../string-map.ts';
import type { KnownUsers } from './known-users.ts';
import type { StoredUserState, UserState } from './state.ts';

/** Reads users' committed states; users the warehouse does not have are absent from the answer. */
export type UserLookup = (userIds: string[]) => StoredUserState[];

interface Entry {
  /** null: read, and the warehouse has none (a new user that has had no accepted event yet). */
  state: UserState | null;
  partition: number;
  /** The flush that wrote its latest change (0: none since it was read), and whether a change waits for a flush. */
  flushSeq: number;
  dirty: boolean;
}

/** Entries looked at beyond the excess when over capacity: eviction stays cheap even when the oldest wait for commits. */
const EVICT_SCAN = 64;

export class UserCache {
  /** Not a Map: see StringMap (a lookup for every event, by an id the record's parse has just made). */
  private readonly entries = new StringMap<Entry>();
  private readonly changed: { userId: string; e: Entry }[] = [];
  private committedSeq = 0;
  private readonly capacity: number;
  private readonly lookup: UserLookup;
  private readonly known: KnownUsers | null;
  /** Users this thread created (the warehouse had none of them), to be told to the supervisor with their flush. */
  private readonly created: string[] = [];

  /** `known`: users the warehouse may have (null: any user may be there, so every user not held is read). */
  constructor(capacity: number, lookup: UserLookup, known: KnownUsers | null = null) {
    this.capacity = Math.max(1, capacity);
    this.lookup = lookup;
    this.known = known;
  }

  get size(): number {
    return this.entries.size;
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
    if (this.entries.size > this.capacity) this.evict();
    const ask = new Set<string>();
    for (const id of userIds) if (!this.entries.has(id)) ask.add(id);
    if (ask.size === 0) return;
    for (const s of this.lookup([...ask])) {
      if (!ask.has(s.userId)) continue;
      this.entries.set(s.userId, { state: { installMs: s.installMs, firstSeenMs: s.firstSeenMs, firstPaidMs: s.firstPaidMs }, partition, flushSeq: 0, dirty: false });
      ask.delete(s.userId);
    }
    for (const id of ask) this.entries.set(id, { state: null, partition, flushSeq: 0, dirty: false });
  }

  /** Holds committed states read in bulk (a partition's restore), as a read would. */
  preload(states: readonly StoredUserState[], partition: number): void {
    for (const s of states) {
      if (this.entries.has(s.userId)) continue;
      this.entries.set(s.userId, { state: { installMs: s.installMs, firstSeenMs: s.firstSeenMs, firstPaidMs: s.firstPaidMs }, partition, flushSeq: 0, dirty: false });
    }
  }

  /** The user's state: undefined when not held, null when held as "none" (see fetch). */
  get(userId: string): UserState | null | undefined {
    return this.entries.get(userId)?.state;
  }

  /** Records the user's new or changed state, to be written with the next flush. */
  set(userId: string, state: UserState, partition: number): void {
    const e = this.entries.get(userId);
    if (!e) {
      const added = { state, partition, flushSeq: 0, dirty: true };
      this.changed.push({ userId, e: added });
      this.created.push(userId);
      this.entries.set(userId, added);
      return;
    }
    if (e.state === null) this.created.push(userId);
    e.state = state;
    if (!e.dirty) {
      e.dirty = true;
      this.changed.push({ userId, e });
    }
  }

  /**
   * Writes the states changed since the last flush as rows of the `users` file, part of flush `seq`; returns the
   * users among them that are new to the warehouse.
   */
  flushTo(rows: RowBuffer, seq: number): string[] {
    for (const { userId, e } of this.changed) {
      e.dirty = false;
      e.flushSeq = seq;
      const s = e.state!;
      rows.push({ user_id: userId, install_ms: s.installMs, first_seen_ms: s.firstSeenMs, first_paid_ms: s.firstPaidMs, source_partition: e.partition });
    }
    this.changed.length = 0;
    return this.created.splice(0);
  }

  /** This thread's flushes up to `seq` are committed: their users may leave, and do when the cache is over its size. */
  committed(seq: number): void {
    if (seq > this.committedSeq) this.committedSeq = seq;
    if (this.entries.size > this.capacity) this.evict();
  }

  /**
   * Forgets a partition's users (it moved to another owner or its actors restart): whoever has it next may
   * change them, so their states are read again. Their unflushed changes go with the actors' unflushed rows.
   */
  dropPartition(partition: number): void {
    for (const [id, e] of this.entries) if (e.partition === partition) this.entries.delete(id);
    for (let i = this.changed.length - 1; i >= 0; i--) {
      const c = this.changed[i]!;
      if (c.e.partition !== partition) continue;
      this.changed.splice(i, 1);
      const k = this.created.indexOf(c.userId);
      if (k >= 0) this.created.splice(k, 1);
    }
  }

  private evict(): void {
    let scanned = 0;
    const limit = this.entries.size - this.capacity + EVICT_SCAN;
    for (const [id, e] of this.entries) {
      if (this.entries.size <= this.capacity || scanned++ >= limit) return;
      if (!e.dirty && e.flushSeq <= this.committedSeq) this.entries.delete(id);
    }
  }
}
