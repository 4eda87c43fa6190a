/**
 * The shared filter over the runs' keys, as the index keeper holds it: its size, the keys that go into it as
 * runs join, and its rebuilds. It starts at 1 MiB (a filter checked once per event should stay in the CPU's
 * caches) and is rebuilt larger as the index grows, up to GAMESTREAM_DEDUPE_FILTER_MEMORY; a rebuild also
 * sheds the keys of runs that have since expired. Workers read it; only the keeper writes it (filter.ts).
 */
import { sizeSetting } from '../config/parsers.ts';
import { EntryList, ENTRY_WORDS } from './entries.ts';
import { KeyFilter } from './filter.ts';
import { RunReader, type RunStats } from './run-file.ts';

/** The index's sizes, for the log and metrics. */
export interface IndexStats {
  runs: number;
  ids: number;
  filterBytes: number;
  /** Ids the filter holds at its designed rate of "maybe". */
  filterCapacity: number;
}

/** The smallest filter. */
const MIN_BYTES = 1 << 20;
/** Entries read at a time when a run's keys go into a filter. */
const CHUNK = 8192;

export class RunFilter {
  private readonly maxBytes: number;
  current: KeyFilter;
  /** Keys put in `current` since it was built (it also holds keys since expired or merged away). */
  keys = 0;
  /** While a rebuild runs: the new filter, which every run that joins meanwhile goes into too. */
  private next: KeyFilter | null = null;
  private readonly chunk = new Int32Array(CHUNK * ENTRY_WORDS);
  private readonly list = new EntryList(CHUNK);
  /** Ids held when the last capacity warning was given (see overCapacity). */
  private warnedAt = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
    this.current = KeyFilter.create(this.bytesFor(0));
  }

  /**
   * The size of a filter for this many keys: room for twice as many at 16 bits each, at least 1 MiB, at most the
   * limit, and a power of two (as KeyFilter.create makes it).
   */
  bytesFor(keys: number): number {
    const wanted = 2 ** Math.ceil(Math.log2(Math.max(MIN_BYTES, keys * 4)));
    return KeyFilter.sizeFor(Math.min(this.maxBytes, wanted));
  }

  /**
   * A warning when the index holds more ids than the largest filter allowed holds at full speed, once and then
   * again each time the ids double; null otherwise. It names the setting and a value that would hold them.
   */
  overCapacity(liveKeys: number): string | null {
    const largest = KeyFilter.sizeFor(this.maxBytes);
    const capacity = KeyFilter.capacityOf(largest);
    if (liveKeys <= capacity || liveKeys < 2 * this.warnedAt) return null;
    this.warnedAt = liveKeys;
    const needed = 2 ** Math.ceil(Math.log2(liveKeys * 2));
    return `the dedupe index holds ${liveKeys.toLocaleString('en-US')} ids, more than its filter holds at full speed `
      + `(${capacity.toLocaleString('en-US')} with GAMESTREAM_DEDUPE_FILTER_MEMORY=${sizeSetting(largest)}): more new ids are `
      + `looked up on disk, and the CPU per event grows with the index. Set GAMESTREAM_DEDUPE_FILTER_MEMORY=${sizeSetting(needed)} `
      + 'or more, or shorten GAMESTREAM_DEDUPE_HORIZON (the index holds about events/s × horizon ids; docs/OPERATIONS.md, "The dedupe index")';
  }

  /** A new, empty filter sized for `keys` (the index was emptied). */
  reset(keys: number): void {
    this.current = KeyFilter.create(this.bytesFor(keys));
    this.keys = 0;
  }

  /** A run joins the index: its keys go into the filter (and into one being built). Returns the run's stats. */
  addRun(path: string): RunStats {
    const stats = this.add(path, this.current);
    this.keys += stats.count;
    if (this.next) this.add(path, this.next);
    return stats;
  }

  /** Whether a new filter is due for `liveKeys` keys in the runs: outgrown (and allowed to grow), or mostly stale. */
  rebuildDue(liveKeys: number): boolean {
    const size = this.current.buffer.byteLength;
    const grow = this.keys > this.current.capacity && this.bytesFor(liveKeys) > size;
    const stale = this.keys > this.current.capacity / 2 && this.keys > 1.5 * liveKeys;
    return grow || stale;
  }

  /**
   * Builds a new filter sized for `liveKeys` from these runs, a chunk at a time (runs that join meanwhile go in
   * too), and makes it the current one. False when `cancelled` said so between chunks.
   */
  async rebuild(runs: string[], liveKeys: number, cancelled: () => boolean): Promise<boolean> {
    const next = KeyFilter.create(this.bytesFor(liveKeys));
    this.next = next;
    try {
      for (const path of runs) {
        const reader = new RunReader(path);
        try {
          for (let from = 0; from < reader.count; from += CHUNK) {
            this.addEntries(reader, from, Math.min(CHUNK, reader.count - from), next);
            await new Promise((resolve) => setImmediate(resolve));
            if (cancelled()) return false;
          }
        } finally {
          reader.close();
        }
      }
      this.current = next;
      this.keys = liveKeys;
      return true;
    } finally {
      this.next = null;
    }
  }

  /** Adds a run's keys to a filter; returns its stats. */
  private add(path: string, f: KeyFilter): RunStats {
    const reader = new RunReader(path);
    try {
      for (let from = 0; from < reader.count; from += CHUNK) this.addEntries(reader, from, Math.min(CHUNK, reader.count - from), f);
      return { count: reader.count, minSeenMs: reader.minSeenMs, maxSeenMs: reader.maxSeenMs };
    } finally {
      reader.close();
    }
  }

  private addEntries(reader: RunReader, from: number, n: number, f: KeyFilter): void {
    reader.readEntries(from, n, this.chunk);
    const list = this.list;
    list.clear();
    list.pushWords(this.chunk, 0, n);
    for (let i = 0; i < n; i++) f.add(list.h32[i]!, list.words[i * ENTRY_WORDS + 1]!, list.words[i * ENTRY_WORDS + 3]!);
  }
}
