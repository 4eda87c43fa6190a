/**
 * Serialises warehouse commits. Flushes from all workers queue here and are committed together, oldest first,
 * each commit atomic with its checkpoints. Only after a commit does the supervisor release replay memory (and,
 * with Kafka, commit offsets): nothing is acknowledged before it is durable.
 */
import { statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorCode, GamestreamError, type ErrorCode } from '../errors.ts';
import type { Warehouse } from '../sinks/sink.ts';
import type { TableKey } from '../sinks/tables.ts';
import type { Checkpoint, FlushFiles } from '../contract/checkpoint.ts';
import type { FromWorkerData } from './protocol.ts';
import type { Logger } from '../log.ts';
import type { PartitionedLog } from '../sources/source.ts';

/** A worker's flush waiting for its commit, and which incarnation of that worker thread made it (see WorkerSlot). */
export type QueuedFlush = Omit<FromWorkerData, 't'> & { incarnation: number };

export interface CommitResult {
  checkpoints: Checkpoint[];
  /** The flushes committed, in queue order. */
  flushes: { workerIndex: number; incarnation: number; flushSeq: number; idRun: string | null; newUsers?: string[] }[];
  rows: { events: number; dlq: number; agg: number; aggUpdates: number };
  /** Dead letters committed, per reason code: exact, for metrics. */
  deadLetterCodes: Record<string, number>;
  /** Wall clock from each committed window's closing to its commit. */
  windowEmitLatencyMs: number[];
  /**
   * Wall clock from when the records this commit covers were received to the commit: `ms[i]` for `records[i]`
   * records (one entry per batch or Kafka record batch, not per record).
   */
  eventFreshness: { ms: number[]; records: number[] };
  /** Bytes of row files loaded per table. */
  bytesByTable: Record<TableKey, number>;
  durationMs: number;
}

/** A batch the warehouse has, on its way through its after-work. */
interface Committed {
  batch: QueuedFlush[];
  checkpoints: Checkpoint[];
  files: FlushFiles[];
  started: number;
  bytesByTable: Record<TableKey, number>;
  eventFreshness: CommitResult['eventFreshness'];
  windowEmitLatencyMs: number[];
}

export interface CommitterOptions {
  maxFlushesPerCommit: number;
  /** Retries of a warehouse commit (about 20 s of backoff at 8). */
  maxRetries: number;
  /**
   * How long publishing a commit's copies to Kafka is retried before the daemon gives up. Much longer than the
   * warehouse's retries: a broker restart takes the copies' broker away for tens of seconds to minutes, and the
   * rows are already durable, so waiting costs nothing but latency (commits queue behind it, and the source
   * backs up behind them). Default 5 minutes.
   */
  outputRetryMs?: number;
  /** The engine watermark to record with a commit of these checkpoints. */
  engineWatermark: (checkpoints: Checkpoint[]) => number | null;
  endOfInput: () => boolean;
  onCommitted: (r: CommitResult) => void;
  /** A failed attempt about to be retried: `what` says which step failed, so the log and metrics can say so. */
  onRetry: (what: 'warehouse' | 'kafka', err: unknown, attempt: number, retryInMs: number) => void;
  /** A step that needed retries went through at last (after an outage of `outageMs`). */
  onRecovered?: (what: 'warehouse' | 'kafka', attempts: number, outageMs: number) => void;
  onFatal: (err: unknown) => void;
  /** Runs right before the warehouse commit (the dedupe index names the batch's runs). */
  beforeCommit?: (batch: QueuedFlush[], checkpoints: Checkpoint[]) => void;
  /** Runs after a commit, before its row files are removed (copies to Kafka). Retried like the commit. */
  afterCommit?: (files: FlushFiles[]) => Promise<void>;
  /** Test-only: a slow warehouse. */
  commitDelayMs?: number;
  /** Throws when the batch's partitions may belong to another daemon now (see CommitBatch.fence). */
  fence?: (checkpoints: Checkpoint[]) => Promise<void>;
  /** The source, when it knows when its records were received (Kafka); else the flushes' batch times are used. */
  partitionedLog?: Pick<PartitionedLog, 'receivedTimes'> | null;
}

export class Committer {
  private readonly wh: Warehouse;
  private readonly o: CommitterOptions;
  private queue: QueuedFlush[] = [];
  private running: Promise<void> | null = null;
  private failed: unknown = null;
  /** Set by stop(): no new commit starts and retries end. */
  private stopping = false;
  /** Aborted by stop(): a retry's backoff (up to 5 s) must not hold the shutdown. */
  private readonly stopped = new AbortController();
  /** Every use of the warehouse connection goes through this chain: one statement sequence at a time. */
  private chain: Promise<unknown> = Promise.resolve();
  readonly durable = new Map<number, Checkpoint>();
  commits = 0;
  /** Flushes enqueued, and flushes committed (or dropped by a failure), in queue order: for settled(). */
  private enqueued = 0;
  private finished = 0;
  private progress = signal();

  constructor(warehouse: Warehouse, opts: CommitterOptions) {
    this.wh = warehouse;
    this.o = opts;
  }

  enqueue(f: QueuedFlush): void {
    if (this.failed || this.stopping) {
      void removeDropped([f]);
      return;
    }
    this.enqueued++;
    this.queue.push(f);
    this.kick();
  }

  /**
   * Starts the commit loop unless it runs. When a loop ends it looks again: a flush queued while it waited for
   * the last after-work found it running and started none, and would otherwise sit queued for ever.
   */
  private kick(): void {
    if (this.running || this.queue.length === 0 || this.failed || this.stopping) return;
    this.running = this.loop().finally(() => {
      this.running = null;
      this.kick();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /** For the stall warning: flushes queued and committed so far, and whether a commit is running. */
  get counts(): { enqueued: number; finished: number; queued: number; running: boolean } {
    return { enqueued: this.enqueued, finished: this.finished, queued: this.queue.length, running: this.running !== null };
  }

  /** Nothing queued and no commit running. */
  get idle(): boolean {
    return this.queue.length === 0 && this.running === null;
  }

  /** Resolves when the queue is empty and no commit runs (input stopped: drain, end of input). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    if (this.failed) throw this.failed;
  }

  /**
   * Resolves when every flush queued before this call is committed, whatever was queued after it. Unlike
   * drain(), this ends while the other partitions keep flushing: a hand-over or a worker restart must not wait
   * for a quiet moment that a steady stream never has.
   */
  async settled(): Promise<void> {
    const upTo = this.enqueued;
    while (this.finished < upTo && !this.failed && !this.stopping) await this.progress.wait;
    if (this.failed) throw this.failed;
    if (this.finished < upTo) throw new GamestreamError('shutting_down', 'the committer stopped before these flushes were committed');
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * After a fatal error: lets the commit in flight end (its retries end early) and drops the queued flushes,
   * which were never durable, so a restart reads their records again. Nothing may use the warehouse after it.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    const dropped = this.queue.splice(0);
    this.progress = this.progress.fire();
    await removeDropped(dropped);
    while (this.running) await this.running.catch(() => undefined);
  }

  /** Runs `fn` after everything queued so far is committed, with no commit in flight. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.settled();
    return this.withLock(fn);
  }

  /** An empty commit that records the engine watermark and end-of-input state. */
  async commitMarker(): Promise<void> {
    await this.settled();
    await this.withLock(async () => this.finishCommit(await this.commitWarehouse([])));
  }

  /**
   * Commits queued flushes, oldest first. A commit's after-work (the copies to Kafka above all, then the release
   * of what it made durable) overlaps the next warehouse commit: the copies cost the supervisor thread about as
   * much as the commit costs DuckDB's, and in series they fell behind a steady 50k events/s. At most one commit's
   * after-work is in flight, and they finish in commit order.
   */
  private async loop(): Promise<void> {
    let after: Promise<void> = Promise.resolve();
    while (this.queue.length > 0 && !this.failed && !this.stopping) {
      const batch = this.queue.splice(0, this.o.maxFlushesPerCommit);
      try {
        const done = await this.withLock(() => this.commitWarehouse(batch));
        await after;
        after = this.finishCommit(done).then(() => {
          this.finished += batch.length;
          this.progress = this.progress.fire();
        });
        after.catch(() => undefined);
        // The warehouse's upkeep (DuckDB's checkpoint) once these rows are queryable, not inside the next commit;
        // it is told whether the next commit carries closed windows, which an upkeep that can wait lets go first.
        if (this.wh.betweenCommits) {
          await this.withLock(() => this.wh.betweenCommits!({ windowsWaiting: this.queue.some((f) => f.windowsClosedAtMs.length > 0) }));
        }
      } catch (err) {
        await after.catch(() => undefined);
        return this.fatal(err);
      }
    }
    try {
      await after;
    } catch (err) {
      this.fatal(err);
    }
  }

  private fatal(err: unknown): void {
    this.failed = err;
    this.queue = [];
    this.progress = this.progress.fire();
    this.o.onFatal(err);
  }

  /**
   * Retries transient failures with capped exponential backoff and jitter, so a struggling peer is not hammered.
   * Bounded by a number of retries (the warehouse) or by the time since the first failure (the copies to Kafka,
   * see outputRetryMs), whichever the step has.
   */
  private async retrying(what: 'warehouse' | 'kafka', desc: string, code: ErrorCode, limit: { retries: number } | { forMs: number }, fn: () => Promise<void>): Promise<void> {
    let firstFailure = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await fn();
        if (attempt > 1) this.o.onRecovered?.(what, attempt, Date.now() - firstFailure);
        return;
      } catch (err) {
        if (firstFailure === 0) firstFailure = Date.now();
        const retryable = (err as { retryable?: boolean }).retryable === true;
        const exhausted = 'retries' in limit ? attempt > limit.retries : Date.now() - firstFailure >= limit.forMs;
        if (!retryable || exhausted || this.stopping) {
          const tried = `${attempt} attempt(s)${attempt > 1 ? ` over ${((Date.now() - firstFailure) / 1000).toFixed(1)} s` : ''}`;
          throw new GamestreamError(code, `${desc} failed after ${tried} (${errorCode(err)}): ${(err as Error).message}`, { cause: err });
        }
        const delay = Math.round(Math.min(5000, 100 * 2 ** Math.min(attempt - 1, 16)) * (0.5 + Math.random() / 2));
        this.o.onRetry(what, err, attempt, delay);
        await sleep(delay, undefined, { signal: this.stopped.signal }).catch(() => undefined);
      }
    }
  }

  /** The warehouse commit of a batch, atomic with its checkpoints: from its end the rows are queryable. */
  private async commitWarehouse(batch: QueuedFlush[]): Promise<Committed> {
    const latest = new Map<number, Checkpoint>();
    for (const f of batch) for (const c of f.checkpoints) latest.set(c.partition, c);
    const checkpoints = [...latest.values()];
    const files = batch.map((f) => f.files);
    const started = Date.now();
    const bytesByTable: Record<TableKey, number> = { events: 0, dlq: 0, agg: 0 };
    for (const f of files) {
      bytesByTable.events += sizeOf(f.events);
      bytesByTable.dlq += sizeOf(f.dlq);
      bytesByTable.agg += sizeOf(f.agg) + sizeOf(f.aggUpdates);
    }
    if (this.o.commitDelayMs) await sleep(this.o.commitDelayMs);
    this.o.beforeCommit?.(batch, checkpoints);
    await this.retrying('warehouse', 'warehouse commit', 'warehouse_write_failed', { retries: this.o.maxRetries }, () =>
      this.wh.commit({
        files, checkpoints, engineWatermarkMs: this.o.engineWatermark(checkpoints), endOfInput: this.o.endOfInput(),
        fence: this.o.fence ? () => this.o.fence!(checkpoints) : undefined,
      }),
    );
    // Queryable from here on: the latencies end now, not after the copies to Kafka.
    const committedAt = Date.now();
    this.commits++;
    for (const c of checkpoints) this.durable.set(c.partition, c);
    const eventFreshness = this.freshness(batch, checkpoints, committedAt);
    const windowEmitLatencyMs: number[] = [];
    for (const f of batch) for (const t of f.windowsClosedAtMs) windowEmitLatencyMs.push(committedAt - t);
    return { batch, checkpoints, files, started, bytesByTable, eventFreshness, windowEmitLatencyMs };
  }

  /** After a commit: its copies to Kafka, its row files removed, and the supervisor told what is durable. */
  private async finishCommit(c: Committed): Promise<void> {
    const { batch, files } = c;
    if (this.o.afterCommit && files.length > 0) {
      await this.retrying('kafka', 'publishing copies of the rows to Kafka', 'output_failed', { forMs: this.o.outputRetryMs ?? 300_000 }, () => this.o.afterCommit!(files));
    }
    await removeFiles(files);
    const rows = { events: 0, dlq: 0, agg: 0, aggUpdates: 0 };
    const deadLetterCodes: Record<string, number> = {};
    for (const f of batch) {
      rows.events += f.rows.events;
      rows.dlq += f.rows.dlq;
      rows.agg += f.rows.agg;
      rows.aggUpdates += f.rows.aggUpdates;
      for (const [code, n] of Object.entries(f.deadLetterCodes)) deadLetterCodes[code] = (deadLetterCodes[code] ?? 0) + n;
    }
    const flushes = batch.map((f) => ({ workerIndex: f.workerIndex, incarnation: f.incarnation, flushSeq: f.flushSeq, idRun: f.idRun, newUsers: f.newUsers }));
    this.o.onCommitted({
      checkpoints: c.checkpoints, flushes, rows, deadLetterCodes, windowEmitLatencyMs: c.windowEmitLatencyMs, eventFreshness: c.eventFreshness,
      bytesByTable: c.bytesByTable, durationMs: Date.now() - c.started,
    });
  }

  /** Receive-to-commit times of the records this commit covers: the source's own times when it has them. */
  private freshness(batch: QueuedFlush[], checkpoints: Checkpoint[], committedAt: number): CommitResult['eventFreshness'] {
    const ms: number[] = [];
    const records: number[] = [];
    const log = this.o.partitionedLog;
    if (log?.receivedTimes) {
      log.receivedTimes(checkpoints, (at, n) => {
        ms.push(committedAt - at);
        records.push(n);
      });
    } else {
      for (const f of batch) {
        if (!f.received) continue;
        for (let i = 0; i < f.received.atMs.length; i++) {
          ms.push(committedAt - f.received.atMs[i]);
          records.push(f.received.records[i]);
        }
      }
    }
    return { ms, records };
  }
}

interface Signal {
  readonly wait: Promise<void>;
  /** Wakes the waiters; returns the next signal. */
  fire(): Signal;
}

function signal(): Signal {
  let fire!: () => void;
  const wait = new Promise<void>((r) => (fire = r));
  return { wait, fire: () => (fire(), signal()) };
}

function sizeOf(path: string | null): number {
  if (path === null) return 0;
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export async function removeFiles(files: FlushFiles[]): Promise<void> {
  const paths = files.flatMap((f) => [f.events, f.dlq, f.agg, f.aggUpdates, f.users ?? null]).filter((p): p is string => p !== null);
  await Promise.all(paths.map((p) => unlink(p).catch(() => undefined)));
}

/** Flushes that will never be committed: their row files and their dedupe-index runs go. */
export async function removeDropped(flushes: { files: FlushFiles; idRun: string | null }[]): Promise<void> {
  await removeFiles(flushes.map((f) => f.files));
  await Promise.all(flushes.map((f) => (f.idRun === null ? undefined : unlink(f.idRun).catch(() => undefined))));
}

/**
 * The daemon's answer to a commit step that failed and is retried, or that went through again: the log says
 * which step (the copies to Kafka fail after the warehouse commit went through), the metrics count it, and
 * `lastError` feeds the health report.
 */
export function retryReporting(log: Logger, metrics: { sinkRetry(sink: 'warehouse' | 'kafka'): void } | undefined, lastError: (e: string | null) => void): Pick<CommitterOptions, 'onRetry' | 'onRecovered'> {
  return {
    onRetry: (what, err, attempt, retryInMs) => {
      const message = (err as Error)?.message ?? String(err);
      lastError(message);
      metrics?.sinkRetry(what);
      if (what === 'kafka') log.warn({ err: message, attempt, retryInMs }, 'publishing copies of the rows to Kafka failed (the warehouse has them); retrying');
      else log.warn({ err, attempt, retryInMs }, 'warehouse commit failed; retrying');
    },
    onRecovered: (what, attempts, outageMs) => {
      lastError(null);
      log.warn({ attempts, outageMs }, what === 'kafka' ? 'copies to Kafka published again after a failure' : 'warehouse commit went through after a failure');
    },
  };
}
