/**
 * A worker thread's view of the dedupe index: its own pending ids, the shared filter and the runs, and the rule
 * that decides whether an accepted earlier event makes this one a duplicate (docs/SEMANTICS.md, "Duplicates"):
 *
 *   an entry counts when it was seen within the horizon (at or after `cutoffMs`), and it came from another
 *   source, or from this source's same partition at a lower offset.
 *
 * Entries of another partition of the same source never count, so what a partition decides depends only on its
 * own records in offset order and on what other sources had committed: a replay after a crash decides the same.
 * The runs hold committed entries only; entries not yet committed are this worker's pending ones.
 */
import { entryOffset, entryOrigin, entryPartition, entrySeen } from './entries.ts';
import { KeyFilter } from './filter.ts';
import { PendingIds } from './pending.ts';
import { RunReader } from './run-file.ts';

export interface LookupStats {
  /** Checks the filter answered "maybe" (and pending did not settle). */
  filterMaybes: number;
  /** Run blocks read by those checks. */
  runReads: number;
}

export class IndexView {
  readonly pending = new PendingIds();
  private filter: KeyFilter;
  /** Newest first: a retry's original is usually recent. */
  private runs: RunReader[] = [];
  readonly stats: LookupStats = { filterMaybes: 0, runReads: 0 };
  // The query the visitor judges entries against (set per call, so the visitor allocates nothing).
  private qOrigin = 0;
  private qPartition = 0;
  private qOffset = 0;
  private qCutoff = 0;
  private readonly counts = (w: Int32Array, at: number): boolean => {
    if (entrySeen(w, at) < this.qCutoff) return false;
    if (entryOrigin(w, at) !== this.qOrigin) return true;
    return entryPartition(w, at) === this.qPartition && entryOffset(w, at) < this.qOffset;
  };

  constructor(filter: SharedArrayBuffer, runPaths: string[]) {
    this.filter = new KeyFilter(filter);
    this.addRuns(runPaths);
  }

  /** True when an earlier accepted event with this key counts (see above). */
  isDuplicate(h: number, k0: number, k1: number, k2: number, k3: number, origin: number, partition: number, offset: number, cutoffMs: number): boolean {
    // Two filters, one over this thread's pending ids and one over the runs: "no" from both settles it for
    // nearly every event.
    const pending = this.pending.mayHave(h, k1, k3);
    const inRuns = this.filter.mayHave(h, k1, k3);
    if (!pending && !inRuns) return false;
    this.qOrigin = origin;
    this.qPartition = partition;
    this.qOffset = offset;
    this.qCutoff = cutoffMs;
    if (pending && this.pending.find(h, k0, k1, k2, k3, this.counts)) return true;
    if (!inRuns) return false;
    this.stats.filterMaybes++;
    for (const run of this.runs) {
      this.stats.runReads++;
      if (run.find(h, k0, k1, k2, k3, this.counts)) return true;
    }
    return false;
  }

  /** An event the rule decides on: true when it is a duplicate, otherwise it is accepted (pending). */
  admit(h: number, k0: number, k1: number, k2: number, k3: number, seenMs: number, origin: number, partition: number, offset: number, cutoffMs: number): boolean {
    if (this.isDuplicate(h, k0, k1, k2, k3, origin, partition, offset, cutoffMs)) return true;
    this.pending.add(h, k0, k1, k2, k3, seenMs, origin, offset, partition);
    return false;
  }

  /** Runs added to the index (newer than every run held), in the order they were added. */
  addRuns(paths: string[]): void {
    const held = new Set(this.runs.map((r) => r.path));
    for (const p of paths) if (!held.has(p)) this.runs.unshift(new RunReader(p));
  }

  /** Runs the index no longer has (merged or expired): closed here. */
  removeRuns(paths: string[]): void {
    const gone = new Set(paths);
    for (const r of this.runs) if (gone.has(r.path)) r.close();
    this.runs = this.runs.filter((r) => !gone.has(r.path));
  }

  /** A rebuilt filter (over the same runs) replaces the old one. */
  setFilter(buffer: SharedArrayBuffer): void {
    this.filter = new KeyFilter(buffer);
  }

  close(): void {
    for (const r of this.runs) r.close();
    this.runs = [];
  }
}
