/**
 * A worker thread's user states: the users its actors saw recently, bounded in count. A user not here is read
 * from the warehouse (through `UserLookup`) before its events are stamped, so the cache only ever saves reads;
 * it never decides a value on its own.
 *
 * A user may leave the cache only once the warehouse holds its latest state: a state changed in a flush stays
 * until that flush is committed, else a read would bring back the older state. Eviction takes the oldest
 * entries first (insertion order), skipping those still waiting for their commit.
 */
import { RowBuffer } from '../sinks/row-files.ts';
import type { KnownUsers } from './known-users.ts';
import type { StoredUserState, UserState } from './state.ts';

/** Reads users' committed states; users the warehouse does not have are absent from the answer. */
export type UserLookup = (userIds: string[]) => StoredUserState[];

interface Entry {
  state: UserState;
  partition: number;
  /** The flush that wrote its latest change (0: none since it was read), and whether a change waits for a flush. */
  flushSeq: number;
  dirty: boolean;
  /** The batch that last read or changed it: a batch's users stay while it runs. */
  batch: number;
}

/** Entries looked at per insertion when over capacity: eviction stays cheap even when the oldest wait for commits. */
const EVICT_SCAN = 64;

export class UserCache {
  private readonly entries = new Map<string, Entry>();
  private readonly changed: { userId: string; e: Entry }[] = [];
  private committedSeq = 0;
  private batch = 0;
  private readonly capacity: number;
  private readonly lookup: UserLookup;
  private readonly known: KnownUsers | null;
  /** Users this thread created (the warehouse had none of them), to be told to the supervisor with their flush. */
  private readonly created: string[] = [];
  reads = 0;
  readUsers = 0;

  /** `known`: users the warehouse may have (null: any user may be there, so every user not held is read). */
  constructor(capacity: number, lookup: UserLookup, known: KnownUsers | null = null) {
    this.capacity = Math.max(1, capacity);
    this.lookup = lookup;
    this.known = known;
  }

  get size(): number {
    return this.entries.size;
  }

  has(userId: string): boolean {
    return this.entries.has(userId);
  }

  /**
   * Starts a batch: reads the users of `userIds` not held yet in one request (repeats allowed); `partition` is
   * theirs. None of them leaves before the next batch starts.
   */
  fetch(userIds: string[], partitions: number[] | number): void {
    const batch = ++this.batch;
    const missing = new Map<string, number>();
    for (let i = 0; i < userIds.length; i++) {
      const id = userIds[i]!;
      const e = this.entries.get(id);
      if (e) e.batch = batch;
      else if (!missing.has(id) && (this.known === null || this.known.mayHave(id))) missing.set(id, typeof partitions === 'number' ? partitions : partitions[i]!);
    }
    if (missing.size === 0) return;
    this.reads++;
    this.readUsers += missing.size;
    for (const s of this.lookup([...missing.keys()])) {
      const partition = missing.get(s.userId);
      if (partition === undefined) continue;
      this.insert(s.userId, { state: { installMs: s.installMs, firstSeenMs: s.firstSeenMs, firstPaidMs: s.firstPaidMs }, partition, flushSeq: 0, dirty: false, batch });
    }
  }

  /** Holds committed states read in bulk (a partition's restore), as a read would. */
  preload(states: readonly StoredUserState[], partition: number): void {
    for (const s of states) {
      if (this.entries.has(s.userId)) continue;
      this.insert(s.userId, { state: { installMs: s.installMs, firstSeenMs: s.firstSeenMs, firstPaidMs: s.firstPaidMs }, partition, flushSeq: 0, dirty: false, batch: this.batch });
    }
  }

  /** The state of a user fetched before (null: the warehouse has none and it has had no event since). */
  get(userId: string): UserState | null {
    return this.entries.get(userId)?.state ?? null;
  }

  /** Records the user's new or changed state, to be written with the next flush. */
  set(userId: string, state: UserState, partition: number): void {
    const e = this.entries.get(userId);
    if (!e) {
      const added = { state, partition, flushSeq: 0, dirty: true, batch: this.batch };
      this.changed.push({ userId, e: added });
      this.created.push(userId);
      this.insert(userId, added);
      return;
    }
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
      const s = e.state;
      rows.push({ user_id: userId, install_ms: s.installMs, first_seen_ms: s.firstSeenMs, first_paid_ms: s.firstPaidMs, source_partition: e.partition });
    }
    this.changed.length = 0;
    return this.created.splice(0);
  }

  /** This thread's flushes up to `seq` are committed: their users may leave. */
  committed(seq: number): void {
    if (seq > this.committedSeq) this.committedSeq = seq;
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

  private insert(userId: string, e: Entry): void {
    this.entries.set(userId, e);
    if (this.entries.size > this.capacity) this.evict();
  }

  private evict(): void {
    let scanned = 0;
    for (const [id, e] of this.entries) {
      if (this.entries.size <= this.capacity || scanned++ >= EVICT_SCAN) return;
      if (!e.dirty && e.flushSeq <= this.committedSeq && e.batch !== this.batch) this.entries.delete(id);
    }
  }
}
