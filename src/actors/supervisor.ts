/**
 * The supervisor: places one actor per partition on a few worker threads, feeds them batches with
 * backpressure, commits their flushes, and restarts a worker that dies, rebuilding its actors from the
 * warehouse and replaying what was not yet durable. Nothing is lost and nothing is counted twice.
 */
import { NO_FAULTS, type Faults } from '../config/faults.ts';
import type { Config } from '../config/schema.ts';
import type { TableFiles } from '../enrich/tables.ts';
import { fromWire } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Warehouse } from '../sinks/sink.ts';
import type { Source } from '../sources/source.ts';
import type { ConfluentSchemas } from '../sources/kafka/schemas.ts';
import { Committer, removeDropped, retryReporting, type CommitResult } from './committer.ts';
import type { IdIndex } from '../dedupe/id-index.ts';
import { Backpressure } from './backpressure.ts';
import { Conditions } from './conditions.ts';
import { EngineTelemetry } from './engine-telemetry.ts';
import { IndexLink } from './index-link.ts';
import { WatermarkTracker } from './watermark-tracker.ts';
import { PartitionOwnership } from './ownership.ts';
import { confluentDecoding, type SchemaResolver } from './schema-resolver.ts';
import { checkpointsToResume } from '../partition/stored-checkpoint.ts';
import { unreachable, type FromWorker } from './protocol.ts';
import type { Checkpoint, FlushFiles } from '../contract/checkpoint.ts';
import { Router, storedRecords, type SealedBatch } from './router.ts';
import { engineHealth } from './health.ts';
import { WorkerStarts } from './worker-start.ts';
import { StallWatch } from './stall-watch.ts';
import { forwardTableReloads, partitionsOfWorker, WorkerSlot, type SpawnThread } from './worker-slot.ts';
import { UserLink } from './user-link.ts';
import { ProgressLine, runTotals, type RunTotals } from './run-totals.ts';
import { CheckpointDeltas } from '../observability/checkpoint-deltas.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { HealthReport } from '../observability/server.ts';

export interface SupervisorOptions {
  config: Config;
  source: Source;
  warehouse: Warehouse;
  tables: TableFiles;
  spoolDir: string;
  log: Logger;
  /** Human-readable lines (progress, restarts, summary). */
  say: (line: string) => void;
  /** Prometheus metrics, fed from committed data only. */
  metrics?: Metrics;
  /** Runs before the warehouse closes (stops the ETL scheduler that shares it). */
  beforeClose?: () => Promise<void>;
  /** Confluent schema id → schema JSON (GAMESTREAM_AVRO_SCHEMA_DIR). */
  confluentSchemas?: Record<string, string>;
  /** Copies of committed rows for Kafka topics, when configured. */
  outputs?: { publish(files: FlushFiles[]): Promise<void>; close(): Promise<void> };
  /** The dedupe index (not yet opened): every id the warehouse holds within the horizon. */
  index: IdIndex;
  /** Starts a worker thread (default: a real one); tests give a stand-in. */
  spawnThread?: SpawnThread;
  faults?: Faults; // fault injection for tests (default: none)
}

export class Supervisor {
  private readonly o: SupervisorOptions;
  private readonly cfg: Config;
  /** Partitions and worker threads in use: a Kafka topic brings its own partition count. */
  private readonly partitions: number;
  private readonly workers: number;
  private readonly slots: WorkerSlot[];
  private readonly committer: Committer;
  private router!: Router;
  private initial = new Map<number, Checkpoint>();
  private readonly durableNext: Float64Array;
  private readonly wm: WatermarkTracker;
  private seq = 0;
  private readonly cond = new Conditions(() => this.fatal);
  private stopRequested = false;
  private endRequested = false;
  private drainRequested = false;
  private endPosted = false;
  private fatal: unknown = null;
  private readonly starts: WorkerStarts;
  private startedAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private readonly progressLine = new ProgressLine();
  private deltas = new CheckpointDeltas();
  private consuming = false;
  private lastCommitError: string | null = null;
  /** Confluent schema ids known to the workers, or null when framed records are not decoded as Avro. */
  private readonly schemas: ConfluentSchemas | null;
  /** Asks the schema registry for unknown Confluent schema ids before routing (Kafka with framed Avro). */
  private readonly resolver: SchemaResolver | null;
  /** Partitions this daemon runs actors for, and their hand-offs between daemons. */
  private readonly ownership: PartitionOwnership;
  /** The dedupe index, kept in step with the commits and the workers. */
  private readonly index: IndexLink;
  private readonly users: UserLink;
  private readonly flow: Backpressure;
  private telemetry: EngineTelemetry | null = null;
  private readonly stall: StallWatch;

  constructor(opts: SupervisorOptions) {
    this.o = opts;
    this.cfg = opts.config;
    this.partitions = opts.source.partitionedLog?.partitionCount || this.cfg.partitions;
    this.workers = Math.min(this.cfg.workers, this.partitions);
    this.slots = Array.from({ length: this.workers }, (_, i) => new WorkerSlot(i, opts.spawnThread));
    this.stall = new StallWatch(opts.log);
    this.flow = new Backpressure({
      slots: this.slots, maxHeldBytes: this.cfg.maxUncommittedBytes, mailboxBatches: this.cfg.mailboxBatches, log: opts.source.partitionedLog,
      partitionsOf: (w) => this.partitionsOf(w), rereads: !!opts.source.reread,
    });
    this.users = new UserLink({ warehouse: opts.warehouse, source: opts.source.name, log: opts.log, say: opts.say });
    this.index = new IndexLink({
      index: opts.index, warehouse: opts.warehouse, source: opts.source.name, slots: this.slots, log: opts.log, say: opts.say,
      fail: (err) => this.fail(err),
    });
    ({ schemas: this.schemas, resolver: this.resolver } = confluentDecoding({
      registryUrl: this.cfg.schemaRegistryUrl, registryTimeoutMs: this.cfg.schemaRegistryTimeoutMs, schemaDir: opts.confluentSchemas,
      format: opts.source.format, log: opts.log, postToWorkers: (msg) => { for (const s of this.slots) s.post(msg); }, stopped: () => this.stopRequested,
    }));
    const sup = this;
    this.ownership = new PartitionOwnership({
      cfg: this.cfg, source: opts.source, warehouse: opts.warehouse, log: opts.log, partitions: this.partitions,
      get router() { return sup.router; }, get slots() { return sup.slots; }, get committer() { return sup.committer; },
      get durableNext() { return sup.durableNext; }, get partitionWm() { return sup.wm.partitionWm; },
      get initial() { return sup.initial; }, get deltas() { return sup.deltas; },
      claimDelayMs: (opts.faults ?? NO_FAULTS).claimDelayMs,
      waitFor: (cond) => this.cond.until(cond),
      stopRequested: () => this.stopRequested,
      fail: (err) => this.fail(err),
      checkpointsOf: (partitions) => this.checkpointsOf(partitions),
      catchUp: (parts) => this.index.catchUp().then(() => this.users.catchUp(parts)),
    });
    this.durableNext = new Float64Array(this.partitions);
    this.wm = new WatermarkTracker({ partitions: this.partitions, idleTimeoutMs: this.cfg.idleTimeoutMs, startedAt: this.startedAt });
    this.committer = new Committer(opts.warehouse, {
      maxFlushesPerCommit: 64, maxRetries: 8,
      engineWatermark: (checkpoints) =>
        this.wm.durable(checkpoints, this.ownership.owned, (p) => this.checkpointOf(p), this.router.lastRoutedAt, Date.now(), this.inputEnded()),
      endOfInput: () => this.endRequested,
      onCommitted: (r) => this.onCommitted(r),
      ...retryReporting(opts.log, opts.metrics, (e) => (this.lastCommitError = e)),
      onFatal: (err) => this.fail(err),
      beforeCommit: (batch, checkpoints) => this.index.prepare(batch.map((f) => f.idRun), checkpoints),
      afterCommit: opts.outputs ? (files) => opts.outputs!.publish(files) : undefined,
      commitDelayMs: (opts.faults ?? NO_FAULTS).commitDelayMs,
      fence: opts.source.group && opts.warehouse.shared ? (cps) => this.ownership.fence(cps) : undefined,
      partitionedLog: opts.source.partitionedLog,
    });
    this.starts = new WorkerStarts({
      cfg: this.cfg, source: opts.source, warehouse: opts.warehouse, tables: opts.tables, spoolDir: opts.spoolDir, faults: opts.faults,
      schemas: this.schemas, index: this.index, users: this.users, committer: this.committer, ownership: this.ownership,
      partitions: this.partitions, metrics: opts.metrics, log: opts.log, say: opts.say,
      partitionsOf: (w) => this.partitionsOf(w), checkpointsOf: (ps) => this.checkpointsOf(ps), onMessage: (slot, msg) => this.onWorkerMessage(slot, msg),
      fatal: () => this.fatal, fail: (err) => this.fail(err), pumpSlot: (slot) => this.pumpSlot(slot),
      endPosted: () => this.endPosted, drainRequested: () => this.drainRequested, notify: () => this.cond.notify(),
    });
  }

  /** Stop reading, flush what was read, commit, and return (windows stay open; a restart rebuilds them). */
  requestStop(): void {
    this.stopRequested = true;
    this.o.source.interrupt();
    this.cond.notify();
  }

  private fail(err: unknown): void {
    if (!this.fatal) {
      this.fatal = err;
      this.o.metrics?.processorFailed((err as { code?: string })?.code ?? 'internal');
    }
    this.requestStop();
  }

  partitionsOf(worker: number): number[] {
    return partitionsOfWorker(worker, this.partitions, this.workers);
  }

  async run(): Promise<RunTotals> {
    const { source, warehouse, log } = this.o;
    await warehouse.open();
    const stored = await warehouse.loadCheckpoints(source.name, source.group ? [] : undefined);
    this.initial = checkpointsToResume(stored, source.name, this.partitions, this.cfg.windowSizeMs, this.cfg.allowedLatenessMs);
    for (const [p, c] of this.initial) this.durableNext[p] = c.nextOffset;
    this.deltas = new CheckpointDeltas(this.initial.values(), source.partitionedLog?.unreadable);
    await this.index.open();
    await this.users.open();
    this.o.metrics?.setWorkerCount(this.workers);
    const resumeAt = new Map([...this.initial].map(([p, c]) => [p, c.nextOffset]));
    source.partitionedLog?.resumeFrom(resumeAt);
    this.router = new Router(this.partitions, this.workers, this.cfg.batchRecords, resumeAt, source.rereadFromStart ? storedRecords(source.name, this.initial) : undefined);
    if (this.initial.size > 0) log.info({ partitions: this.initial.size }, 'resuming from warehouse checkpoints');
    if (source.group) {
      // The group decides: nothing is owned until the first assignment; unowned partitions hold no watermark back.
      this.wm.partitionWm.fill(Infinity);
      for (let p = 0; p < this.partitions; p++) this.router.setResume(p, Infinity);
      source.group.onAssignment((parts) => this.ownership.assign(parts));
    } else {
      this.ownership.ownAll();
    }
    forwardTableReloads(this.o.tables, this.slots, log);
    try {
      await Promise.all(this.slots.map((s) => this.starts.start(s)));
      this.timers.push(setInterval(() => this.tick(), 1000));
      // A thread that died before it was ready is being started again, or its restarts ran out (crash_loop).
      await this.cond.until(() => this.slots.every((s) => s.ready));
      if (this.cfg.progressIntervalMs > 0) this.timers.push(setInterval(() => this.progress(), this.cfg.progressIntervalMs));
      this.consuming = true;
      if (this.o.metrics) this.telemetry = new EngineTelemetry(this.o.metrics, this.o.source.partitionedLog, this.o.log, () => this.o.index.stats(), this.o.warehouse);
      await this.pump();
      await this.finish();
      // The last line shows the final totals: the final commit may land after the last tick.
      if (this.cfg.progressIntervalMs > 0) this.progress();
    } catch (err) {
      // A source that fails (Kafka unreachable past its retries, a file that cannot be read) is fatal like the
      // rest: the metric and StreamProcessorFailing say so before the daemon stops.
      this.fail(err);
    } finally {
      for (const t of this.timers) clearInterval(t);
      this.telemetry?.close();
      this.o.tables.close();
      await Promise.all(this.slots.map((s) => s.terminate()));
      // After a fatal error commits may still be queued or retrying; none may reach the closing warehouse.
      await this.committer.stop();
      await this.index.close();
      await this.o.beforeClose?.();
      await warehouse.close();
      await this.o.outputs?.close();
    }
    if (this.fatal) throw this.fatal;
    return this.totals();
  }

  private async pump(): Promise<void> {
    const { source } = this.o;
    while (!this.stopRequested) {
      const chunk = await source.next();
      if (!chunk) {
        // An interrupted source is not at its end: its windows stay open for the next start.
        if (!this.stopRequested) this.endRequested = this.router.endOfInput();
        break;
      }
      if (this.resolver && !(await this.resolver.resolve(chunk))) break;
      const now = Date.now();
      for (const b of this.router.route(chunk, now)) await this.send(b, now);
      for (const b of this.router.sealAll()) await this.send(b, now);
    }
  }

  /**
   * Queues a batch for its worker and returns at once unless the supervisor already holds its byte limit
   * (batches kept for replay plus batches waiting). A worker that falls behind only backs up its own queue;
   * with Kafka its partitions are paused meanwhile, so the others keep flowing.
   */
  private async send(batch: SealedBatch, receivedAtMs: number): Promise<void> {
    const slot = this.slots[batch.worker];
    const t0 = Date.now();
    await this.cond.until(() => this.stopRequested || this.flow.admits(batch.bytes, slot));
    const waited = Date.now() - t0;
    if (waited > 50) this.o.log.debug({ worker: slot.index, waited, retainedMB: Math.round(this.flow.heldBytes / 1e6) }, 'source waited');
    if (this.stopRequested && !this.endRequested) return; // not sent: re-read from the checkpoint next start
    slot.enqueue({ seq: ++this.seq, receivedAtMs, batch });
    this.pumpSlot(slot);
  }

  private pumpSlot(slot: WorkerSlot): void {
    // Draining: what is still queued is not sent; it was never durable, so the next start reads it again.
    if (slot.ready && !this.drainRequested) this.flow.pump(slot);
  }

  private async finish(): Promise<void> {
    if (this.fatal) return;
    if (this.endRequested) {
      // Every queued batch must reach its worker before the end of input does.
      await this.cond.until(() => this.slots.every((s) => s.pendingCount === 0));
      this.endPosted = true;
      for (const s of this.slots) if (s.ready) s.post({ t: 'end' });
      await this.cond.until(() => this.slots.every((s) => s.ended));
    } else {
      this.drainRequested = true;
      for (const s of this.slots) if (s.ready) s.post({ t: 'drain' });
      await this.cond.until(() => this.slots.every((s) => s.drained));
    }
    await this.committer.drain();
    this.o.log.debug({ elu: Math.round(performance.eventLoopUtilization().utilization * 100) }, 'supervisor utilisation');
    this.updateEngineWatermark();
    await this.committer.commitMarker();
    // Leaving the group: released partitions start at once elsewhere, without waiting out this daemon's session.
    if (!this.fatal) await this.ownership.releaseAll();
  }

  private onWorkerMessage(slot: WorkerSlot, msg: FromWorker): void {
    switch (msg.t) {
      case 'ready':
        return; // WorkerStarts.start() waits for it
      case 'users-port':
        return this.users.serve(msg.port, msg.flag);
      case 'processed':
        slot.onProcessed(msg.seq, this.router.buffers);
        this.pumpSlot(slot);
        this.cond.notify();
        return;
      case 'flush':
        if (this.fatal) {
          void removeDropped([msg]);
          return;
        }
        this.committer.enqueue({ ...msg, incarnation: slot.incarnation });
        return;
      case 'watermarks':
        for (let i = 0; i < msg.partitions.length; i++) this.wm.partitionWm[msg.partitions[i]] = msg.watermarksMs[i];
        slot.openWindows = msg.openWindows;
        this.telemetry?.workerReport(slot.index, msg.eventLoopLagMs, msg.indexLookups, msg.memory);
        return;
      case 'ended':
      case 'drained':
        slot[msg.t] = true;
        this.cond.notify();
        return;
      case 'revoked':
        return this.ownership.revoked(slot.index);
      case 'fatal': {
        const err = fromWire(msg.error);
        this.o.log.error({ worker: slot.index, code: err.code, err: err.message }, 'worker failed');
        return;
      }
      case 'log':
        this.o.log[msg.level]({ worker: slot.index, ...msg.fields }, msg.msg);
        return;
      default:
        unreachable(msg);
    }
  }

  private onCommitted(r: CommitResult): void {
    this.o.log.debug({ rows: r.rows, partitions: r.checkpoints.length, ms: r.durationMs }, 'committed');
    this.lastCommitError = null;
    this.o.metrics?.recordCommit({
      durationMs: r.durationMs, partitions: this.deltas.next(r.checkpoints), deadLettersByCode: r.deadLetterCodes,
      windowEmitLatencyMs: r.windowEmitLatencyMs, eventFreshness: r.eventFreshness, bytesByTable: r.bytesByTable,
    });
    for (const c of r.checkpoints) this.durableNext[c.partition] = c.nextOffset;
    this.users.committed(r.flushes);
    this.index.register(r);
    this.o.source.partitionedLog?.durable(new Map(r.checkpoints.map((c) => [c.partition, c.nextOffset])));
    for (const s of this.slots) s.release(this.durableNext);
    this.cond.notify();
  }

  /** The input has ended and every worker has flushed it: every window is closed and committed. */
  private inputEnded(): boolean {
    return this.endRequested && this.slots.every((s) => s.ended);
  }

  private updateEngineWatermark(): number[] {
    return this.wm.update(this.router.lastRoutedAt, Date.now(), this.inputEnded() ? this.ownership.owned : null);
  }

  /** A partition's latest durable checkpoint: the last one committed in this run, else the one it started from. */
  private checkpointOf(p: number): Checkpoint | undefined {
    return this.committer.durable.get(p) ?? this.initial.get(p);
  }

  private checkpointsOf(partitions: Iterable<number>): Checkpoint[] {
    return [...partitions].map((p) => this.checkpointOf(p)).filter((c): c is Checkpoint => c !== undefined);
  }

  /** For /readyz. */
  health(): HealthReport {
    const registryProblem = this.resolver?.problem ?? null;
    return engineHealth({ fatal: this.fatal, stopping: this.stopRequested, consuming: this.consuming, registryProblem, lastCommitError: this.lastCommitError });
  }

  private tick(): void {
    this.watchStall();
    const idle = this.updateEngineWatermark();
    this.telemetry?.sample(this.wm.engineWm, this.slots, this.ownership.owned, this.durableNext);
    this.persistWatermark();
    if (!Number.isFinite(this.wm.engineWm) || idle.length === 0) return;
    for (const s of this.slots) if (s.ready) s.post({ t: 'watermark', engineWatermarkMs: this.wm.engineWm, idlePartitions: idle });
  }

  /** When no commit is coming to carry the engine watermark, an empty one records it (WatermarkTracker.markerDue). */
  private persistWatermark(): void {
    if (!this.committer.idle || this.stopRequested || !this.wm.markerDue(Date.now(), this.cfg.flushIntervalMs)) return;
    this.committer.commitMarker().catch((err: unknown) => this.o.log.warn({ err: (err as Error).message }, 'could not record the engine watermark'));
  }

  totals(): RunTotals {
    return runTotals({
      recordsRouted: this.router?.routed ?? 0, recordsSkipped: this.router?.skipped ?? 0, engineWatermarkMs: this.wm.engineWm,
      workerRestarts: this.starts.restarts.count, startedAt: this.startedAt, endOfInput: this.endRequested,
      initial: this.initial, durable: this.committer.durable,
    });
  }

  /** A warning with the engine's state when it holds records and nothing moves (stall-watch.ts). */
  private watchStall(): void {
    const busy = this.slots.some((s) => s.inflight > 0 || s.retained.length > 0 || s.pendingCount > 0) || (this.endRequested && !this.inputEnded());
    const detail = { committer: this.committer.counts, heldMB: Math.round(this.flow.heldBytes / 1e6), endOfInput: this.endRequested, endPosted: this.endPosted, draining: this.drainRequested };
    this.stall.check({ key: `${this.router.routed}/${detail.committer.finished}`, outstanding: busy, detail }, this.slots);
  }

  private progress(): void {
    this.o.say(this.progressLine.next(this.totals(), this.o.source.progress()));
  }
}
