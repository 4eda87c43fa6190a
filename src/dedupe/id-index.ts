/**
 * The dedupe index, as its keeper (the supervisor's thread) sees it: every event id the warehouse holds within
 * the dedupe horizon, from any source, so that an id is stored once whichever file, topic or run brings it
 * again (docs/SEMANTICS.md, "Duplicates"). On disk, beside the warehouse; in memory a filter of bounded size.
 *
 * - Worker threads look ids up (lookup.ts) and, at each flush, write the ids they accepted as a run file.
 * - Before a flush is committed, prepare() names its run in the manifest as pending; after the commit,
 *   register() adds it to the index: its keys go into the filter and the workers learn of it. The index
 *   therefore holds committed ids only, whenever the process dies.
 * - Runs are merged in the background (tiered: eight runs of a level make one of the next), which also drops
 *   ids that have left the horizon.
 * - The warehouse is the truth: at start, and when a partition moves here from another daemon, what the
 *   warehouse committed that the index lacks (an index deleted or made on another machine, partitions another
 *   daemon wrote, a warehouse older than the index) is read back from `events` (catchUp()).
 */
import { rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Checkpoint } from '../contract/checkpoint.ts';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CommittedId, CommittedPosition, IdRange } from '../sinks/sink.ts';
import { EntryList, MAX_PARTITIONS } from './entries.ts';
import { KEY, keyOf } from './id-key.ts';
import { emptyManifest, IndexDirectory, markKey, originOf, type ManifestData, type PendingRuns, type RunEntry } from './manifest.ts';
import { mergeRuns } from './merge.ts';
import { RunFilter, type IndexStats } from './run-filter.ts';
import { RunReader, writeRun } from './run-file.ts';

/** Runs of one level merged into one of the next. */
const FANOUT = 8;
/** Entries per run written while catching up from the warehouse. */
const CATCH_UP_RUN = 1 << 20;
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
  private readonly filter: RunFilter;
  /** Keys in the runs right now. */
  private liveKeys = 0;
  private listeners: ((c: IndexChange) => void)[] = [];
  /** Background work (merges, expiry, filter rebuilds, catching up), one job at a time. */
  private jobs: Promise<void> = Promise.resolve();
  private jobScheduled = false;
  private closed = false;
  private trash: { path: string; at: number }[] = [];
  private pendingResolved = false;
  /** The source this daemon runs (see keepFrom). */
  private activeSource: string | null = null;

  constructor(o: IdIndexOptions) {
    this.o = o;
    this.dir = new IndexDirectory(o.dir);
    this.filter = new RunFilter(o.filterBytes);
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
   * warehouse (`warehouseId`), or with a run it cannot read, is discarded: catchUp() rebuilds it.
   */
  open(warehouseId: string, source: string): void {
    this.activeSource = source;
    this.dir.lock(this.o.setting);
    const m = this.dir.load();
    if (m && m.warehouseId === warehouseId && m.runs.every((r) => this.readable(r.file))) {
      this.m = m;
    } else {
      if (m) this.o.log.warn({ dir: this.o.dir }, 'the dedupe index does not match this warehouse (another warehouse, or damaged): rebuilding it from the warehouse');
      this.m = { ...emptyManifest(warehouseId), nextRun: m?.nextRun ?? 1 };
      this.dir.save(this.m);
    }
    this.dir.removeStray(this.m);
    this.liveKeys = this.m.runs.reduce((a, r) => a + r.count, 0);
    this.filter.reset(this.liveKeys);
    for (const r of this.m.runs) this.filter.addRun(this.dir.path(r.file));
  }

  private readable(file: string): boolean {
    try {
      new RunReader(this.dir.path(file)).close();
      return true;
    } catch {
      return false;
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
    return { runs: this.m.runs.map((r) => this.dir.path(r.file)), filter: this.filter.current.sharedBuffer, origin: this.origin(source) };
  }

  /** The start of a worker's flush run names (see WorkerIndex.runPrefix): unique across workers, restarts and processes. */
  runPrefix(worker: number): string {
    return this.dir.path(`flush-${process.pid}-${worker}-${Date.now()}`);
  }

  onChange(listener: (c: IndexChange) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Brings the index up to what the warehouse committed; `positions` lists every source partition the warehouse
   * has a checkpoint for. The first time after open, the runs of a commit that was under way (prepare()) join
   * the index if the warehouse has it, else go. Then the ids the warehouse committed that the index lacks are
   * read back. An index ahead of the warehouse (a warehouse restored from an older copy) is rebuilt whole. Runs
   * as a background job, so no merge or rebuild works on the runs meanwhile.
   */
  catchUp(positions: CommittedPosition[], read: ReadCommittedIds, onProgress?: (rows: number) => void): Promise<number> {
    let rows = 0;
    return this.enqueue(async () => {
      rows = await this.readBack(positions, read, onProgress);
    }).then(() => {
      this.schedule();
      return rows;
    });
  }

  private async readBack(positions: CommittedPosition[], read: ReadCommittedIds, onProgress?: (rows: number) => void): Promise<number> {
    const at = new Map(positions.map((p) => [markKey(originOf(this.m, p.source), p.partition), p]));
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
    if (ranges.length === 0) {
      this.dir.save(this.m);
      return 0;
    }
    const list = new EntryList(64 * 1024);
    const added: string[] = [];
    let rows = 0;
    const spill = (): void => {
      if (list.length === 0) return;
      const file = `run-${this.m.nextRun++}.ids`;
      writeRun(this.dir.path(file), list.sorted());
      list.clear();
      this.addRun(file, 0);
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
    for (const r of ranges) this.setMark(originOf(this.m, r.source), r.partition, r.toOffset, at.get(markKey(originOf(this.m, r.source), r.partition))!.maxEventMs);
    this.dir.save(this.m);
    if (added.length > 0) this.emit({ add: added, remove: [], filter: null });
    // Many ids read back (a rebuilt index): a filter of their size before the workers rely on it.
    if (this.filter.rebuildDue(this.liveKeys)) await this.rebuildFilter();
    return rows;
  }

  /** Runs `job` after the background work queued so far, as part of it. */
  private enqueue(job: () => Promise<void>): Promise<void> {
    const p = this.jobs.then(job);
    this.jobs = p.catch(() => undefined);
    return p;
  }

  /**
   * Runs named before a commit: kept if the warehouse reached their checkpoints (the commit landed); dropped
   * otherwise, or when one cannot be read (a power cut: then the range is read back from the warehouse).
   */
  private resolvePending(at: Map<string, CommittedPosition>): void {
    const pending = this.m.pending;
    this.m.pending = [];
    for (const p of pending) {
      const landed = p.checkpoints.every((c) => (at.get(markKey(p.origin, c.partition))?.nextOffset ?? 0) >= c.next);
      if (landed && p.files.every((f) => this.readable(f))) this.confirm(p);
      else for (const f of p.files) rmSync(this.dir.path(f), { force: true });
    }
    this.dir.save(this.m);
  }

  /** Empties the index (its origins and run numbers stay): what was read back is read again. */
  private reset(): void {
    const old = this.m.runs.map((r) => this.dir.path(r.file));
    this.m = { ...emptyManifest(this.m.warehouseId), origins: this.m.origins, nextRun: this.m.nextRun };
    this.liveKeys = 0;
    this.filter.reset(0);
    this.dir.save(this.m);
    this.emit({ add: [], remove: old, filter: this.filter.current.sharedBuffer });
    const now = Date.now();
    for (const path of old) this.trash.push({ path, at: now });
  }

  private setMark(origin: number, partition: number, next: number, maxEventMs: number | null): void {
    const k = markKey(origin, partition);
    if ((this.m.marks[k]?.next ?? -1) < next) this.m.marks[k] = { next, maxEventMs };
  }

  /** A run joins the index: its keys go into the filter. */
  private addRun(file: string, level: number): void {
    const r: RunEntry = { file, ...this.filter.addRun(this.dir.path(file)), level };
    this.liveKeys += r.count;
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
   * the warehouse commit and register() (a crash, kill -9), the next start knows them (see resolvePending()).
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
    const full = this.filter.overCapacity(this.liveKeys);
    if (full) this.o.log.warn({ ids: this.liveKeys, filterBytes: this.filter.current.buffer.byteLength }, full);
    this.schedule();
  }

  /** Adds a committed commit's runs and marks; returns the run paths added. */
  private confirm(p: PendingRuns): string[] {
    const added: string[] = [];
    for (const file of p.files) {
      this.addRun(file, 0);
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
    void this.enqueue(async () => {
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
    const all = newest === null ? -Infinity : this.keepFrom(newest, false, null);
    const keep = new Map<number, number>();
    let lowest = all;
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
    for (const r of this.m.runs) byLevel.set(r.level, [...(byLevel.get(r.level) ?? []), r]);
    for (const [level, list] of [...byLevel].sort((a, b) => a[0] - b[0])) {
      if (list.length < FANOUT) continue;
      const inputs = list.slice(0, FANOUT);
      const file = `run-${this.m.nextRun++}.ids`;
      const stats = await mergeRuns(inputs.map((r) => this.dir.path(r.file)), this.dir.path(file), (origin, partition) => keep.get(origin * MAX_PARTITIONS + partition) ?? all, () => this.closed);
      if (stats === null) return false; // closing: the merge waits for the next start
      this.replaceRuns(inputs, { file, ...stats, level: level + 1 });
      return true;
    }
    if (this.filter.rebuildDue(this.liveKeys)) return this.rebuildFilter();
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

  /** A filter sized for the runs as they are now, built from them; the workers take it in turn. */
  private async rebuildFilter(): Promise<boolean> {
    const done = await this.filter.rebuild(this.m.runs.map((r) => this.dir.path(r.file)), this.liveKeys, () => this.closed);
    if (!done) return false;
    this.o.log.debug({ keys: this.liveKeys, bytes: this.filter.current.buffer.byteLength }, 'dedupe filter rebuilt');
    this.emit({ add: [], remove: [], filter: this.filter.current.sharedBuffer });
    return true;
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
  stats(): IndexStats {
    return { runs: this.m.runs.length, ids: this.liveKeys, filterBytes: this.filter.current.buffer.byteLength, filterCapacity: this.filter.current.capacity };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    this.purgeTrash(true);
    this.dir.unlock();
  }
}
