/**
 * The dedupe index, as its keeper (the supervisor's thread) sees it: every event id the warehouse holds within
 * the dedupe horizon, from any source, so that an id is stored once whichever file, topic or run brings it
 * again (docs/SEMANTICS.md, "Duplicates"). On disk, beside the warehouse; in memory only a fixed-size filter.
 *
 * - Worker threads look ids up (lookup.ts) and, at each flush, write the ids they accepted as a run file.
 * - After the flush is committed to the warehouse, register() adds its run to the index: the manifest names it,
 *   its keys go into the filter, and the workers learn of it. The index therefore holds committed ids only.
 * - Runs are merged in the background (tiered: eight runs of a level make one of the next), which also drops
 *   ids that have left the horizon.
 * - The warehouse is the truth: at start, and when a partition moves here from another daemon, what the
 *   warehouse committed that the index lacks (a crash between the commit and the registration, an index
 *   deleted or made by another machine, a warehouse older than the index) is read back from `events`.
 */
import { rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Checkpoint } from '../actors/protocol.ts';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CommittedId, IdRange } from '../sinks/sink.ts';
import { EntryList, ENTRY_WORDS, MAX_PARTITIONS } from './entries.ts';
import { KeyFilter } from './filter.ts';
import { KEY, keyOf } from './id-key.ts';
import { emptyManifest, IndexDirectory, markKey, originOf, type ManifestData, type PendingRuns, type RunEntry } from './manifest.ts';
import { mergeRuns } from './merge.ts';
import { RunReader, writeRun } from './run-file.ts';

/** Runs of one level merged into one of the next. */
const FANOUT = 8;
/** Entries read at a time when a run's keys go into a filter. */
const FILTER_CHUNK = 8192;
/** Entries per run written while catching up from the warehouse. */
const CATCH_UP_RUN = 1 << 20;
/** The smallest filter (see filterBytesFor). */
const MIN_FILTER_BYTES = 1 << 20;
/** Merged-away runs are deleted this long after: a worker starting meanwhile may still open them. */
const DELETE_DELAY_MS = 60_000;

export interface IdIndexOptions {
  dir: string;
  /** The setting that names the directory, for error messages. */
  setting: string;
  horizonMs: number;
  filterBytes: number;
  log: Logger;
}

/** What a worker thread needs to look ids up. */
export interface IndexHandle {
  runs: string[];
  filter: SharedArrayBuffer;
  origin: number;
}

/** Committed positions of one source partition, as the warehouse has them. */
export interface CommittedPosition {
  source: string;
  partition: number;
  nextOffset: number;
  maxEventMs: number | null;
}

/** Warehouse.readCommittedIds. */
export type ReadCommittedIds = (ranges: IdRange[], onRows: (rows: CommittedId[]) => void) => Promise<void>;

/** A change the workers must apply: runs added or removed, a rebuilt filter. */
export interface IndexChange {
  add: string[];
  remove: string[];
  filter: SharedArrayBuffer | null;
}

export class IdIndex {
  private readonly o: IdIndexOptions;
  private readonly dir: IndexDirectory;
  private m: ManifestData = emptyManifest('');
  private filter: KeyFilter;
  /** Keys in the runs right now. */
  private liveKeys = 0;
  /** Keys put in the current filter since it was built (it also holds keys since expired or merged away). */
  private filterKeys = 0;
  private listeners: ((c: IndexChange) => void)[] = [];
  /** Background work (merges, filter rebuilds), one job at a time. */
  private jobs: Promise<void> = Promise.resolve();
  private jobScheduled = false;
  private closed = false;
  private trash: { path: string; at: number }[] = [];
  private pendingResolved = false;
  /** The source this daemon runs (see keepFrom). */
  private activeSource: string | null = null;
  /** While a rebuild runs: the new filter, which registrations fill too. */
  private rebuilding: KeyFilter | null = null;

  constructor(o: IdIndexOptions) {
    this.o = o;
    this.dir = new IndexDirectory(o.dir);
    this.filter = KeyFilter.create(this.filterBytesFor(0));
  }

  /**
   * The filter's size for this many keys: room for twice as many at 16 bits each, at least 1 MiB, at most
   * GAMESTREAM_DEDUPE_FILTER_MEMORY. A small filter stays in the CPU's caches (checked once per event), so it
   * starts small and is rebuilt larger as the index grows.
   */
  private filterBytesFor(keys: number): number {
    return Math.min(this.o.filterBytes, Math.max(MIN_FILTER_BYTES, 2 ** Math.ceil(Math.log2(Math.max(1, keys * 4)))));
  }

  get horizonMs(): number {
    return this.o.horizonMs;
  }

  /** Ids kept beyond the horizon before they are dropped: a source a little behind the newest still finds them. */
  get slackMs(): number {
    return Math.max(600_000, Math.floor(this.o.horizonMs / 4));
  }

  /**
   * The oldest "seen" time an entry of a source partition needs to keep, given the index's newest time. Other
   * sources are served within the horizon and slack of the newest. The source this daemon runs (`active`) may
   * still ask, in the same partition, for anything within the horizon of that partition's own latest event time
   * (`clock`), however far it lags the others (docs/SEMANTICS.md). A source no daemon runs gets no such
   * allowance, so what a finished file or an old generator run left goes with time.
   */
  private keepFrom(newest: number, active: boolean, clock: number | null | undefined): number {
    const all = newest - this.o.horizonMs - this.slackMs;
    return !active || clock === null || clock === undefined ? all : Math.min(all, clock - this.o.horizonMs);
  }

  /**
   * Locks the directory and loads the index, for a daemon that runs `source`. An index made for another
   * warehouse (`warehouseId`) is discarded: it is rebuilt from the warehouse by catchUp().
   */
  open(warehouseId: string, source: string): void {
    this.activeSource = source;
    this.dir.lock(this.o.setting);
    const m = this.dir.load();
    if (m && m.warehouseId === warehouseId && this.runsIntact(m)) {
      this.m = m;
    } else {
      if (m) this.o.log.warn({ dir: this.o.dir }, 'the dedupe index does not match this warehouse (another warehouse, or damaged): rebuilding it from the warehouse');
      this.m = emptyManifest(warehouseId);
      this.dir.save(this.m);
    }
    this.dir.removeStray(this.m);
    this.filter = KeyFilter.create(this.filterBytesFor(this.m.runs.reduce((a, r) => a + r.count, 0)));
    this.buildFilter(this.filter);
  }

  private runsIntact(m: ManifestData): boolean {
    for (const r of m.runs) {
      try {
        new RunReader(this.dir.path(r.file)).close();
      } catch {
        return false;
      }
    }
    return true;
  }

  private buildFilter(f: KeyFilter): void {
    let live = 0;
    for (const r of this.m.runs) live += this.addRunToFilter(this.dir.path(r.file), f);
    this.liveKeys = live;
    this.filterKeys = live;
  }

  /** Adds a run's keys to a filter; returns its entry count. */
  private addRunToFilter(path: string, f: KeyFilter): number {
    const reader = new RunReader(path);
    try {
      for (let from = 0; from < reader.count; from += FILTER_CHUNK) this.addEntriesToFilter(reader, from, Math.min(FILTER_CHUNK, reader.count - from), f);
      return reader.count;
    } finally {
      reader.close();
    }
  }

  private readonly chunk = new Int32Array(FILTER_CHUNK * ENTRY_WORDS);
  private readonly chunkList = new EntryList(FILTER_CHUNK);

  private addEntriesToFilter(reader: RunReader, from: number, n: number, f: KeyFilter): void {
    reader.readEntries(from, n, this.chunk);
    const list = this.chunkList;
    list.clear();
    list.pushWords(this.chunk, 0, n);
    for (let i = 0; i < n; i++) {
      const at = i * ENTRY_WORDS;
      f.add(list.h32[i]!, list.words[at + 1]!, list.words[at + 3]!);
    }
  }

  /** The origin number of a source (recorded in the manifest). */
  origin(source: string): number {
    const before = this.m.origins.length;
    const o = originOf(this.m, source);
    if (this.m.origins.length !== before) this.dir.save(this.m);
    return o;
  }

  /** What a worker needs to look ids up for `source`. */
  handle(source: string): IndexHandle {
    return { runs: this.m.runs.map((r) => this.dir.path(r.file)), filter: this.filter.sharedBuffer, origin: this.origin(source) };
  }

  /** The start of a worker's flush run names (see WorkerIndex.runPrefix): unique across workers, restarts and processes. */
  runPrefix(worker: number): string {
    return this.dir.path(`flush-${process.pid}-${worker}-${Date.now()}`);
  }

  onChange(listener: (c: IndexChange) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Brings the index up to what the warehouse committed. `positions` lists every source partition the warehouse
   * has a checkpoint for. Runs of a commit that was under way (prepare()) join the index if the warehouse has
   * it, else go; then the ids the warehouse committed that the index lacks are read back. An index ahead of the
   * warehouse (a warehouse restored from an older copy) is rebuilt whole.
   */
  async catchUp(positions: CommittedPosition[], read: ReadCommittedIds, onProgress?: (rows: number) => void): Promise<number> {
    const at = new Map(positions.map((p) => [markKey(originOf(this.m, p.source), p.partition), p]));
    // Only what a crash left (the first catch-up after open): later, a commit may be under way.
    if (!this.pendingResolved) {
      this.resolvePending(at);
      this.pendingResolved = true;
    }
    for (const [k, mark] of Object.entries(this.m.marks)) {
      const p = at.get(k);
      if (mark.next > (p?.nextOffset ?? 0)) {
        this.o.log.warn({ partition: k, index: mark.next, warehouse: p?.nextOffset ?? 0 },
          'the dedupe index holds ids the warehouse does not (was the warehouse restored from an older copy?): rebuilding it from the warehouse');
        this.reset();
        break;
      }
    }
    let newest = this.m.maxSeenMs ?? -Infinity;
    for (const p of positions) if (p.maxEventMs !== null && p.maxEventMs > newest) newest = p.maxEventMs;
    if (!Number.isFinite(newest)) newest = -8.64e15;
    const ranges: IdRange[] = [];
    for (const p of positions) {
      const mark = this.m.marks[markKey(originOf(this.m, p.source), p.partition)];
      const from = mark?.next ?? 0;
      if (from >= p.nextOffset) continue;
      ranges.push({
        source: p.source, partition: p.partition, fromOffset: from, toOffset: p.nextOffset, anchorMs: mark?.maxEventMs ?? null,
        minSeenMs: this.keepFrom(newest, p.source === this.activeSource, p.maxEventMs),
      });
    }
    if (ranges.length === 0) return 0;
    const list = new EntryList(64 * 1024);
    const added: string[] = [];
    let rows = 0;
    const spill = (): void => {
      if (list.length === 0) return;
      const file = `run-${this.m.nextRun++}.ids`;
      const stats = writeRun(this.dir.path(file), list.sorted());
      list.clear();
      this.addRun({ file, ...stats, level: 0 });
      added.push(this.dir.path(file));
    };
    await read(ranges, (chunk) => {
      for (const r of chunk) {
        keyOf(r.id);
        list.push(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, r.seenMs, originOf(this.m, r.source), r.offset, r.partition);
        if (list.length >= CATCH_UP_RUN) spill();
      }
      rows += chunk.length;
      onProgress?.(rows);
    });
    spill();
    for (const r of ranges) {
      const p = at.get(markKey(originOf(this.m, r.source), r.partition))!;
      this.setMark(originOf(this.m, r.source), r.partition, r.toOffset, p.maxEventMs);
    }
    this.dir.save(this.m);
    if (added.length > 0) this.emit({ add: added, remove: [], filter: null });
    // Many ids read back (a rebuilt index): a filter of their size before the workers rely on it.
    if (this.filterKeys > this.filter.capacity) await this.enqueue(() => this.rebuildFilter(this.filterBytesFor(this.liveKeys)));
    this.schedule();
    return rows;
  }

  /** Runs `job` after the background work queued so far, as part of it. */
  private enqueue(job: () => Promise<void>): Promise<void> {
    const p = this.jobs.then(job);
    this.jobs = p.catch(() => undefined);
    return p;
  }

  /** Runs named before a commit: kept if the warehouse reached their checkpoints (the commit landed). */
  private resolvePending(at: Map<string, CommittedPosition>): void {
    const pending = this.m.pending;
    this.m.pending = [];
    for (const p of pending) {
      const landed = p.checkpoints.every((c) => (at.get(markKey(p.origin, c.partition))?.nextOffset ?? 0) >= c.next);
      if (landed) this.confirm(p);
      else for (const f of p.files) rmSync(this.dir.path(f), { force: true });
    }
    this.dir.save(this.m);
  }

  private reset(): void {
    for (const r of this.m.runs) rmSync(this.dir.path(r.file), { force: true });
    const origins = this.m.origins;
    this.m = { ...emptyManifest(this.m.warehouseId), origins };
    this.filter = KeyFilter.create(this.filterBytesFor(0));
    this.liveKeys = 0;
    this.filterKeys = 0;
    this.dir.save(this.m);
    this.emit({ add: [], remove: [], filter: this.filter.sharedBuffer });
  }

  private setMark(origin: number, partition: number, next: number, maxEventMs: number | null): void {
    const k = markKey(origin, partition);
    if ((this.m.marks[k]?.next ?? -1) < next) this.m.marks[k] = { next, maxEventMs };
  }

  /** A run joins the index: its keys go into the filter (and into one being rebuilt). */
  private addRun(r: RunEntry): void {
    const path = this.dir.path(r.file);
    this.addRunToFilter(path, this.filter);
    if (this.rebuilding) this.addRunToFilter(path, this.rebuilding);
    this.liveKeys += r.count;
    this.filterKeys += r.count;
    this.m.runs.push(r);
    if (r.count > 0 && (this.m.maxSeenMs === null || r.maxSeenMs > this.m.maxSeenMs)) this.m.maxSeenMs = r.maxSeenMs;
  }

  private pendingOf(source: string, runs: (string | null)[], checkpoints: Checkpoint[]): PendingRuns {
    return {
      files: runs.filter((r): r is string => r !== null).map((path) => this.fileOf(path)),
      origin: this.origin(source),
      checkpoints: checkpoints.map((c) => ({ partition: c.partition, next: c.nextOffset, maxEventMs: c.maxEventMs })),
    };
  }

  private fileOf(path: string): string {
    if (dirname(path) !== this.dir.dir) throw new GamestreamError('internal', `dedupe run ${path} is not in ${this.dir.dir}`);
    return basename(path);
  }

  /**
   * Flushes about to be committed: their runs are named in the manifest first, so that whatever happens between
   * the warehouse commit and register() (a crash, kill -9), the next start knows them (see catchUp()).
   */
  prepare(source: string, runs: (string | null)[], checkpoints: Checkpoint[]): void {
    if (this.closed) return;
    const p = this.pendingOf(source, runs, checkpoints);
    if (p.files.length === 0) return;
    const named = new Set(this.m.pending.flatMap((q) => q.files));
    if (p.files.every((f) => named.has(f))) return; // a retried commit
    this.m.pending.push(p);
    this.dir.save(this.m);
  }

  /**
   * Committed flushes: their runs (paths the workers wrote; null when a flush accepted no event) join the index,
   * and the checkpoints they reach become the source partitions' marks.
   */
  register(source: string, runs: (string | null)[], checkpoints: Checkpoint[]): void {
    if (this.closed) return;
    const p = this.pendingOf(source, runs, checkpoints);
    const files = new Set(p.files);
    this.m.pending = this.m.pending.filter((q) => !q.files.some((f) => files.has(f)));
    const added = this.confirm(p);
    this.dir.save(this.m);
    if (added.length > 0) this.emit({ add: added, remove: [], filter: null });
    this.schedule();
  }

  /** Adds a committed commit's runs and marks; returns the run paths added. */
  private confirm(p: PendingRuns): string[] {
    const added: string[] = [];
    for (const file of p.files) {
      const reader = new RunReader(this.dir.path(file));
      const stats = { count: reader.count, minSeenMs: reader.minSeenMs, maxSeenMs: reader.maxSeenMs };
      reader.close();
      this.addRun({ file, ...stats, level: 0 });
      added.push(this.dir.path(file));
    }
    for (const c of p.checkpoints) this.setMark(p.origin, c.partition, c.next, c.maxEventMs);
    return added;
  }

  private emit(c: IndexChange): void {
    for (const l of this.listeners) l(c);
  }

  /** Starts background work if there is any: a merge, an expiry, a filter rebuild. */
  private schedule(): void {
    this.purgeTrash(false);
    if (this.jobScheduled || this.closed) return;
    this.jobScheduled = true;
    this.jobs = this.jobs.then(async () => {
      this.jobScheduled = false;
      try {
        while (!this.closed && (await this.step())) { /* one merge or rebuild per step */ }
      } catch (err) {
        // The index stays correct without merges (more runs to read); say so and keep going.
        this.o.log.error({ err: (err as Error).message, dir: this.o.dir }, 'dedupe index maintenance failed; will retry after the next commit');
      }
    });
  }

  /** Does one piece of background work; false when there is none. */
  private async step(): Promise<boolean> {
    const newest = this.m.maxSeenMs;
    // Per source partition, the oldest "seen" time still needed; the lowest of them bounds whole runs.
    const keep = new Map<number, number>();
    let lowest = newest === null ? -Infinity : this.keepFrom(newest, false, null);
    const active = this.activeSource === null ? -1 : this.m.origins.indexOf(this.activeSource);
    if (newest !== null) {
      for (const [k, mark] of Object.entries(this.m.marks)) {
        const [origin, partition] = k.split('/').map(Number) as [number, number];
        const from = this.keepFrom(newest, origin === active, mark.maxEventMs);
        keep.set(origin * MAX_PARTITIONS + partition, from);
        if (from < lowest) lowest = from;
      }
    }
    const expired = this.m.runs.filter((r) => r.count === 0 || r.maxSeenMs < lowest);
    if (expired.length > 0) {
      this.replaceRuns(expired, null);
      return true;
    }
    const byLevel = new Map<number, RunEntry[]>();
    for (const r of this.m.runs) {
      const list = byLevel.get(r.level) ?? [];
      list.push(r);
      byLevel.set(r.level, list);
    }
    const all = newest === null ? -Infinity : this.keepFrom(newest, false, null);
    for (const [level, list] of [...byLevel].sort((a, b) => a[0] - b[0])) {
      if (list.length < FANOUT) continue;
      const inputs = list.slice(0, FANOUT);
      const file = `run-${this.m.nextRun++}.ids`;
      const stats = await mergeRuns(inputs.map((r) => this.dir.path(r.file)), this.dir.path(file), (origin, partition) => keep.get(origin * MAX_PARTITIONS + partition) ?? all, () => this.closed);
      if (stats === null) return false; // closing: the merge waits for the next start
      this.replaceRuns(inputs, { file, ...stats, level: level + 1 });
      return true;
    }
    // Outgrown (and allowed to grow), or holding many keys that have since left the index: a new one.
    const grow = this.filterKeys > this.filter.capacity && this.filterBytesFor(this.liveKeys) > this.filter.sharedBuffer.byteLength;
    const stale = this.filterKeys > this.filter.capacity / 2 && this.filterKeys > 1.5 * this.liveKeys;
    if (grow || stale) {
      await this.rebuildFilter(this.filterBytesFor(this.liveKeys));
      return true;
    }
    return false;
  }

  private replaceRuns(old: RunEntry[], merged: RunEntry | null): void {
    const gone = new Set(old.map((r) => r.file));
    const kept = this.m.runs.filter((r) => !gone.has(r.file));
    this.m.runs = merged && merged.count > 0 ? [...kept, merged] : kept;
    for (const r of old) this.liveKeys -= r.count;
    if (merged) this.liveKeys += merged.count;
    this.dir.save(this.m);
    this.emit({ add: merged && merged.count > 0 ? [this.dir.path(merged.file)] : [], remove: old.map((r) => this.dir.path(r.file)), filter: null });
    const now = Date.now();
    for (const r of old) this.trash.push({ path: this.dir.path(r.file), at: now });
    if (merged && merged.count === 0) this.trash.push({ path: this.dir.path(merged.file), at: now });
  }

  /**
   * A new filter of `bytes` from the runs as they are (expired keys gone), built a chunk at a time; runs that
   * join meanwhile go into it too. The workers then add their pending keys to it as they take it (lookup.ts).
   */
  private async rebuildFilter(bytes: number): Promise<void> {
    const next = KeyFilter.create(bytes);
    this.rebuilding = next;
    try {
      for (const r of [...this.m.runs]) {
        if (this.closed) return;
        await this.addRunToFilterInChunks(this.dir.path(r.file), next);
      }
      this.filter = next;
      this.liveKeys = this.m.runs.reduce((a, r) => a + r.count, 0);
      this.filterKeys = this.liveKeys;
      this.o.log.debug({ keys: this.liveKeys, bytes: next.buffer.byteLength }, 'dedupe filter rebuilt');
      this.emit({ add: [], remove: [], filter: next.sharedBuffer });
    } finally {
      this.rebuilding = null;
    }
  }

  private async addRunToFilterInChunks(path: string, f: KeyFilter): Promise<void> {
    const reader = new RunReader(path);
    try {
      for (let from = 0; from < reader.count; from += FILTER_CHUNK) {
        this.addEntriesToFilter(reader, from, Math.min(FILTER_CHUNK, reader.count - from), f);
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      reader.close();
    }
  }

  private purgeTrash(all: boolean): void {
    const now = Date.now();
    this.trash = this.trash.filter((t) => {
      if (!all && now - t.at < DELETE_DELAY_MS) return true;
      rmSync(t.path, { force: true });
      return false;
    });
  }

  /** Resolves once the background work started so far is done (tests, and close()). */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.jobs;
      await seen;
    } while (seen !== this.jobs);
  }

  /** Sizes, for the log and metrics. */
  stats(): { runs: number; ids: number; filterBytes: number } {
    return { runs: this.m.runs.length, ids: this.liveKeys, filterBytes: this.filter.sharedBuffer.byteLength };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    this.purgeTrash(true);
    this.dir.unlock();
  }
}

export function dedupeIndexError(dir: string, err: unknown): GamestreamError {
  return new GamestreamError('dedupe_index_unavailable', `the dedupe index in ${dir} cannot be used: ${(err as Error).message}`, { cause: err });
}
