/**
 * The supervisor's view of one worker thread: its current incarnation, its mailbox depth, and the batches it
 * was sent that are not yet durable (kept to replay after a crash: their bytes, or for a file source where they
 * are in the file).
 */
import { Worker } from 'node:worker_threads';
import { GamestreamError } from '../errors.ts';
import type { Source } from '../sources/source.ts';
import type { SealedBatch } from './router.ts';
import type { TableFiles } from '../enrich/tables.ts';
import type { Logger } from '../log.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

/** What the slot needs of a thread: a real worker_threads Worker, or a stand-in in tests. */
export interface WorkerThread {
  postMessage(msg: ToWorker): void;
  on(event: 'message', fn: (msg: FromWorker) => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  on(event: 'exit', fn: (code: number) => void): unknown;
  terminate(): Promise<unknown>;
}

/** Starts worker thread number `index` (src/actors/worker.ts). */
export type SpawnThread = (index: number) => WorkerThread;

const WORKER_URL = new URL('./worker.ts', import.meta.url);

/**
 * A real thread, with a young generation of 12 MB: rows go straight into byte buffers (src/sinks/row-files.ts),
 * so little survives a batch, and 64 MB of it mostly held memory. On the 1M-event file 12 MB cost no CPU and
 * lowered peak RSS by 74 MB; from Kafka it cost about 3% more CPU for about 80 MB less (docs/PERFORMANCE.md,
 * "The worker's young generation").
 */
export const spawnWorkerThread: SpawnThread = (index) =>
  new Worker(WORKER_URL, { name: `gamestream-worker-${index}`, resourceLimits: { maxYoungGenerationSizeMb: 12 } });

export interface RetainedBatch {
  seq: number;
  receivedAtMs: number;
  batch: SealedBatch;
}

export class WorkerSlot {
  readonly index: number;
  private readonly spawnThread: SpawnThread;
  worker: WorkerThread | null = null;
  incarnation = 0;
  ready = false;
  inflight = 0;
  retained: RetainedBatch[] = [];
  retainedBytes = 0;
  /** Batches routed to this worker that wait for room in its mailbox, oldest first. */
  private pending: RetainedBatch[] = [];
  pendingBytes = 0;
  /** From the worker's last report. */
  openWindows = 0;
  /** Its partitions are paused at the source (Kafka) while it is behind. */
  paused = false;
  ended = false;
  drained = false;
  /** Set while the supervisor itself stops the thread, so its exit is not taken for a crash. */
  stopping = false;
  /** When the current incarnation last sent a message (0: none yet), for the stall warning. */
  lastHeardAt = 0;
  /** Batches the last reloadRetained read or fetched again from the source. */
  reloaded = 0;

  constructor(index: number, spawnThread: SpawnThread = spawnWorkerThread) {
    this.index = index;
    this.spawnThread = spawnThread;
  }

  spawn(onMessage: (msg: FromWorker) => void, onExit: (code: number, err: Error | null) => void): WorkerThread {
    const w = this.spawnThread(this.index);
    const incarnation = ++this.incarnation;
    let lastError: Error | null = null;
    // Messages from an older incarnation are dropped: its actors were rebuilt from the warehouse.
    w.on('message', (msg: FromWorker) => {
      if (this.incarnation !== incarnation) return;
      this.lastHeardAt = Date.now();
      onMessage(msg);
    });
    w.on('error', (err: Error) => {
      lastError = err;
    });
    w.on('exit', (code) => {
      if (this.incarnation === incarnation) onExit(code, lastError);
    });
    this.worker = w;
    this.ready = false;
    this.inflight = 0;
    this.ended = false;
    this.drained = false;
    return w;
  }

  post(msg: ToWorker): void {
    this.worker?.postMessage(msg);
  }

  sendBatch(r: RetainedBatch): void {
    this.inflight++;
    const { data, index, offsets } = r.batch;
    if (!data) throw new GamestreamError('internal', `batch ${r.seq} for worker ${this.index} was sent without its bytes`);
    this.post({ t: 'batch', seq: r.seq, receivedAtMs: r.receivedAtMs, data, index, offsets });
  }

  /**
   * The worker has read batch `seq` (it keeps no view of its bytes: what it needs it has copied or parsed). A
   * batch its source can read again (a file's) or fetch again (Kafka's; see reloadRetained) lets its buffer go to
   * `buffers` now rather than once durable, which is up to a whole commit cycle later: the bytes held then stay
   * near the mailbox's size.
   */
  onProcessed(seq: number, buffers: { give(buffer: ArrayBufferLike): void }): void {
    this.inflight--;
    const r = this.retained.find((k) => k.seq === seq);
    if (!r?.batch.data || !(r.batch.filePos || r.batch.refetch)) return;
    buffers.give(r.batch.data.buffer);
    r.batch.data = null;
  }

  /** Reads back the bytes of the batches kept for replay that were let go, before they are sent again. */
  async reloadRetained(source: Pick<Source, 'reread' | 'refetch'>): Promise<void> {
    this.reloaded = 0;
    for (const { batch } of this.retained) {
      if (batch.data) continue;
      const data = new Uint8Array(new SharedArrayBuffer(batch.index.length ? batch.index[batch.index.length - 1] : 0));
      if (batch.filePos && source.reread) await source.reread(batch.filePos, batch.index, data);
      else if (batch.refetch && source.refetch) await source.refetch(batch.index, batch.offsets, data);
      else throw new GamestreamError('internal', `a batch of worker ${this.index} was kept without its bytes, from a source that cannot read or fetch it again`);
      batch.data = data;
      this.reloaded++;
    }
  }

  enqueue(r: RetainedBatch): void {
    this.pending.push(r);
    this.pendingBytes += r.batch.bytes;
  }

  dequeue(): RetainedBatch | undefined {
    const r = this.pending.shift();
    if (r) this.pendingBytes -= r.batch.bytes;
    return r;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  retain(r: RetainedBatch): void {
    this.retained.push(r);
    this.retainedBytes += r.batch.bytes;
  }

  /** Drops batches whose every record is durable. */
  release(durableNext: Float64Array): void {
    if (this.retained.length === 0) return;
    const keep: RetainedBatch[] = [];
    let bytes = 0;
    for (const r of this.retained) {
      let done = true;
      for (const [p, maxOffset] of r.batch.maxOffsets) {
        if (maxOffset >= durableNext[p]) {
          done = false;
          break;
        }
      }
      if (!done) {
        keep.push(r);
        bytes += r.batch.bytes;
      }
    }
    this.retained = keep;
    this.retainedBytes = bytes;
  }

  async terminate(): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

/** The partitions worker `worker` of `workers` runs: every workers-th from its own number. */
export function partitionsOfWorker(worker: number, partitions: number, workers: number): number[] {
  const out: number[] = [];
  for (let p = worker; p < partitions; p += workers) out.push(p);
  return out;
}

/** Sends each reload of the enrichment tables to every worker thread. */
export function forwardTableReloads(tables: TableFiles, slots: WorkerSlot[], log: Logger): void {
  tables.watch((snapshot) => {
    log.info({ version: snapshot.version }, 'enrichment tables reloaded');
    for (const s of slots) s.post({ t: 'tables', tables: snapshot });
  }, (err, kind) => log.warn({ err: err.message, kind }, 'enrichment table reload failed; keeping the previous table'));
}
