/**
 * The supervisor's side of the dedupe index (src/dedupe/): it opens the index against the warehouse, reads
 * back what the warehouse committed that the index lacks, names each commit's runs before it and registers
 * them after it, and keeps every worker thread's view of the index current.
 */
import type { CommitResult } from './committer.ts';
import type { WorkerIndex } from './protocol.ts';
import type { WorkerSlot } from './worker-slot.ts';
import type { Checkpoint } from '../contract/checkpoint.ts';
import type { IdIndex } from '../dedupe/id-index.ts';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Warehouse } from '../sinks/sink.ts';

export interface IndexLinkOptions {
  index: IdIndex;
  warehouse: Warehouse;
  /** The source this daemon runs. */
  source: string;
  slots: WorkerSlot[];
  log: Logger;
  say: (line: string) => void;
  fail: (err: unknown) => void;
}

export class IndexLink {
  private readonly o: IndexLinkOptions;

  constructor(o: IndexLinkOptions) {
    this.o = o;
  }

  /**
   * Opens the index and brings it up to what the warehouse holds; from then on every change to it (runs added
   * or merged, a rebuilt filter) reaches every worker thread that has been given its start, not only the ready
   * ones: a worker starting now got the index as it was at its 'init', and what changes after that comes next.
   */
  async open(): Promise<void> {
    const { index, warehouse, log } = this.o;
    index.open(await warehouse.identity(), this.o.source);
    index.onChange((c) => {
      for (const s of this.o.slots) s.post({ t: 'index', add: c.add, remove: c.remove, filter: c.filter, releasedSeq: null });
    });
    await this.catchUp();
    log.info({ ...index.stats(), horizonMs: index.horizonMs }, 'dedupe index ready');
  }

  /**
   * Ids the warehouse committed that the index lacks (every source), read back from the warehouse, as it has
   * them now (at a hand-over, another daemon committed since this one started). The positions are read only
   * (Warehouse.committedPositions): a commit record a stalled daemon appended after its partition was claimed by
   * another counts only up to the commit before it, since it may never be made visible.
   */
  async catchUp(): Promise<void> {
    const { index, warehouse, log } = this.o;
    const positions = await warehouse.committedPositions();
    let said = 0;
    const rows = await index.catchUp(positions, (ranges, onRows) => warehouse.readCommittedIds(ranges, onRows), (n) => {
      if (n - said >= 1_000_000) {
        said = n;
        this.o.say(`dedupe index: ${n.toLocaleString('en-US')} ids read back from the warehouse so far`);
      }
    });
    if (rows > 0) log.info({ ids: rows }, 'dedupe index: ids the warehouse committed were read back into it');
  }

  /** What a worker thread needs of the index at its start. */
  workerIndex(worker: number): WorkerIndex {
    return { ...this.o.index.handle(this.o.source), runPrefix: this.o.index.runPrefix(worker) };
  }

  /** Right before a warehouse commit: its runs are named, so a crash after it loses none. */
  prepare(runs: (string | null)[], checkpoints: Checkpoint[]): void {
    this.o.index.prepare(this.o.source, runs, checkpoints);
  }

  /** After a commit: its flushes' runs join the index; then their workers may forget the ids they kept meanwhile. */
  register(r: CommitResult): void {
    if (r.flushes.length === 0) return;
    try {
      this.o.index.register(this.o.source, r.flushes.map((f) => f.idRun), r.checkpoints);
    } catch (err) {
      this.o.fail(new GamestreamError('dedupe_index_unavailable', `could not add committed ids to the dedupe index (the warehouse has them; the next start reads them back): ${(err as Error).message}`, { cause: err }));
      return;
    }
    const released = new Map<number, number>();
    for (const f of r.flushes) {
      // A worker restarted since is a new incarnation with flush numbers of its own: nothing of it to release.
      if (this.o.slots[f.workerIndex]?.incarnation !== f.incarnation) continue;
      released.set(f.workerIndex, Math.max(released.get(f.workerIndex) ?? 0, f.flushSeq));
    }
    for (const [w, seq] of released) this.o.slots[w]!.post({ t: 'index', add: [], remove: [], filter: null, releasedSeq: seq });
  }

  close(): Promise<void> {
    return this.o.index.close();
  }
}
