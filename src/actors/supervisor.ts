/**
 * The supervisor: places one actor per partition on a few worker threads, feeds them batches with
 * backpressure, commits their flushes, and restarts a worker that dies, rebuilding its actors from the
 * warehouse and replaying what was not yet durable. Nothing is lost and nothing is counted twice.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Config } from '../config/schema.ts';
import type { TableFiles } from '../enrich/tables.ts';
import { fromWire, GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Warehouse } from '../sinks/sink.ts';
import type { Source } from '../sources/source.ts';
import { ConfluentSchemas } from '../sources/kafka/schemas.ts';
import { SchemaRegistryClient } from '../sources/kafka/schema-registry.ts';
import { Committer, removeDropped, type CommitResult } from './committer.ts';
import type { IdIndex } from '../dedupe/id-index.ts';
import { actorRules } from '../partition/actor.ts';
import { PartitionOwnership } from './ownership.ts';
import { SchemaResolver } from './schema-resolver.ts';
import { resumableCheckpoints } from '../partition/stored-checkpoint.ts';
import type { Checkpoint, FlushFiles, FromWorker } from './protocol.ts';
import { Router, type SealedBatch } from './router.ts';
import { WorkerSlot } from './worker-slot.ts';
import { engineWatermark } from '../windows/watermark.ts';
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
  private readonly partitionWm: Float64Array;
  private engineWm = -Infinity;
  /** The engine watermark the last commit recorded, and when a watermark-only commit last ran. */
  private persistedWm = -Infinity;
  private markerAt = 0;
  private seq = 0;
  private waiters: (() => void)[] = [];
  private stopRequested = false;
  private endRequested = false;
  private drainRequested = false;
  private endPosted = false;
  private fatal: unknown = null;
  private restarts: number[] = [];
  private restartCount = 0;
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
  private get owned(): Set<number> {
    return this.ownership.owned;
  }

  constructor(opts: SupervisorOptions) {
    this.o = opts;
    this.cfg = opts.config;
    this.partitions = opts.source.partitionCount || this.cfg.partitions;
    this.workers = Math.min(this.cfg.workers, this.partitions);
    this.slots = Array.from({ length: this.workers }, (_, i) => new WorkerSlot(i));
    const registry = this.cfg.schemaRegistryUrl
      ? new SchemaRegistryClient({ url: this.cfg.schemaRegistryUrl, timeoutMs: this.cfg.schemaRegistryTimeoutMs })
      : null;
    this.schemas = opts.confluentSchemas || registry ? new ConfluentSchemas(opts.confluentSchemas ?? {}, registry) : null;
    // Only JSON-or-framed sources (Kafka) decode framing; an Avro file's datums may start with a zero byte too.
    this.resolver = this.schemas && opts.source.format === 'ndjson'
      ? new SchemaResolver(this.schemas, {
          log: opts.log,
          postToWorkers: (msg) => { for (const s of this.slots) s.post(msg); },
          stopped: () => this.stopRequested,
        })
      : null;
    if (registry) opts.log.info({ url: registry.displayUrl }, 'Confluent-framed Avro: unknown schema ids are asked of the schema registry');
    const sup = this;
    this.ownership = new PartitionOwnership({
      cfg: this.cfg, source: opts.source, warehouse: opts.warehouse, log: opts.log, partitions: this.partitions,
      get router() { return sup.router; },
      get slots() { return sup.slots; },
      get committer() { return sup.committer; },
      get durableNext() { return sup.durableNext; },
      get partitionWm() { return sup.partitionWm; },
      get initial() { return sup.initial; },
      get deltas() { return sup.deltas; },
      waitFor: (cond) => this.waitFor(cond),
      stopRequested: () => this.stopRequested,
      fail: (err) => this.fail(err),
      checkpointsOf: (partitions) => this.checkpointsOf(partitions),
      catchUpIndex: () => this.catchUpIndex(),
    });
    this.durableNext = new Float64Array(this.partitions);
    this.partitionWm = new Float64Array(this.partitions).fill(-Infinity);
    this.committer = new Committer(opts.warehouse, {
      maxFlushesPerCommit: 64,
      maxRetries: 8,
      engineWatermark: (checkpoints) => {
        const wm = this.durableEngineWatermark(checkpoints);
        this.persistedWm = wm;
        return Number.isFinite(wm) ? wm : null;
      },
      endOfInput: () => this.endRequested,
      onCommitted: (r) => this.onCommitted(r),
      onRetry: (err, attempt) => {
        this.lastCommitError = (err as Error)?.message ?? String(err);
        this.o.metrics?.sinkRetry('warehouse');
        this.o.log.warn({ err, attempt }, 'warehouse commit failed; retrying');
      },
      onFatal: (err) => this.fail(err),
      beforeCommit: (batch, checkpoints) => opts.index.prepare(opts.source.name, batch.map((f) => f.idRun), checkpoints),
      afterCommit: opts.outputs ? (files) => opts.outputs!.publish(files) : undefined,
      commitDelayMs: opts.config.testCommitDelayMs,
      fence: opts.source.leaseExpiresAt && opts.warehouse.fencedPartitions ? (cps) => this.ownership.fence(cps) : undefined,
    });
  }

  /** Stop reading, flush what was read, commit, and return (windows stay open; a restart rebuilds them). */
  requestStop(): void {
    this.stopRequested = true;
    this.o.source.interrupt?.();
    this.notify();
  }

  private fail(err: unknown): void {
    if (!this.fatal) {
      this.fatal = err;
      this.o.metrics?.processorFailed((err as { code?: string })?.code ?? 'internal');
    }
    this.stopRequested = true;
    this.o.source.interrupt?.();
    this.notify();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitFor(cond: () => boolean): Promise<void> {
    while (!cond()) {
      if (this.fatal) throw this.fatal;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.fatal) throw this.fatal;
  }

  partitionsOf(worker: number): number[] {
    const out: number[] = [];
    for (let p = worker; p < this.partitions; p += this.workers) out.push(p);
    return out;
  }

  async run(): Promise<RunTotals> {
    const { source, warehouse, log } = this.o;
    await warehouse.open();
    this.initial = resumableCheckpoints(await warehouse.loadCheckpoints(source.name), this.cfg.windowSizeMs, this.cfg.allowedLatenessMs);
    for (const [p, c] of this.initial) if (p < this.partitions) this.durableNext[p] = c.nextOffset;
    const maxKnown = Math.max(-1, ...this.initial.keys());
    if (maxKnown >= this.partitions) {
      throw new GamestreamError('config_invalid', `the warehouse has checkpoints for partition ${maxKnown} of ${source.name}, but it now has ${this.partitions} partitions; use the partition count of the earlier runs`);
    }
    this.deltas = new CheckpointDeltas(this.initial.values());
    await this.openIndex();
    this.o.metrics?.setWorkerCount(this.workers);
    const resumeAt = new Map([...this.initial].map(([p, c]) => [p, c.nextOffset]));
    source.resumeFrom?.(resumeAt);
    this.router = new Router(this.partitions, this.workers, this.cfg.batchRecords, resumeAt);
    if (this.initial.size > 0) log.info({ partitions: this.initial.size }, 'resuming from warehouse checkpoints');
    if (source.onAssignment) {
      // The group decides: nothing is owned until the first assignment, and unowned partitions hold no
      // watermark back.
      this.partitionWm.fill(Infinity);
      for (let p = 0; p < this.partitions; p++) this.router.setResume(p, Infinity);
      source.onAssignment((parts) => this.ownership.assign(parts));
    } else {
      this.ownership.ownAll();
    }
    this.o.tables.watch((snapshot) => {
      log.info({ version: snapshot.version }, 'enrichment tables reloaded');
      for (const s of this.slots) s.post({ t: 'tables', tables: snapshot });
    }, (err, kind) => log.warn({ err: err.message, kind }, 'enrichment table reload failed; keeping the previous table'));
    await Promise.all(this.slots.map((s) => this.startWorker(s)));
    this.timers.push(setInterval(() => this.tick(), 1000));
    if (this.cfg.progressIntervalMs > 0) this.timers.push(setInterval(() => this.progress(), this.cfg.progressIntervalMs));
    this.consuming = true;
    this.loopDelay.enable();
    try {
      await this.pump();
      await this.finish();
    } finally {
      for (const t of this.timers) clearInterval(t);
      this.loopDelay.disable();
      this.o.tables.close();
      await Promise.all(this.slots.map((s) => s.terminate()));
      // After a fatal error commits may still be queued or retrying; none may reach the closing warehouse.
      await this.committer.stop();
      await this.o.index.close();
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
        if (!this.stopRequested) this.endRequested = true;
        break;
      }
      if (this.resolver && !(await this.resolver.resolve(chunk))) break;
      const now = Date.now();
      for (const b of this.router.route(chunk, now)) await this.send(b, now);
      for (const b of this.router.sealAll()) await this.send(b, now);
    }
  }

  private heldBytes(): number {
    return this.slots.reduce((a, s) => a + s.retainedBytes + s.pendingBytes, 0);
  }

  /**
   * Queues a batch for its worker and returns at once unless the supervisor already holds its byte limit
   * (batches kept for replay plus batches waiting). A worker that falls behind only backs up its own queue;
   * with Kafka its partitions are paused meanwhile, so the others keep flowing.
   */
  private async send(batch: SealedBatch, receivedAtMs: number): Promise<void> {
    const slot = this.slots[batch.worker];
    const t0 = Date.now();
    // An oversized batch still goes through once nothing else is held, or it would wait forever.
    await this.waitFor(() => this.stopRequested || this.heldBytes() === 0 || this.heldBytes() + batch.bytes <= this.cfg.maxUncommittedBytes);
    const waited = Date.now() - t0;
    if (waited > 50) this.o.log.debug({ worker: slot.index, waited, retainedMB: Math.round(this.heldBytes() / 1e6) }, 'source waited');
    if (this.stopRequested && !this.endRequested) return; // not sent: re-read from the checkpoint next start
    slot.enqueue({ seq: ++this.seq, receivedAtMs, batch });
    this.pumpSlot(slot);
  }

  /** Moves queued batches into the worker's mailbox while it has room, and pauses or resumes its partitions. */
  private pumpSlot(slot: WorkerSlot): void {
    // Draining: what is still queued is not sent; it was never durable, so the next start reads it again.
    if (!slot.ready || this.drainRequested) return;
    while (slot.inflight < this.cfg.mailboxBatches) {
      const r = slot.dequeue();
      if (!r) break;
      slot.retain(r);
      slot.sendBatch(r);
    }
    const { pause, resume } = this.o.source;
    if (!pause || !resume) return;
    // Hysteresis: pause when a whole mailbox more is waiting, resume once nothing waits and the mailbox is half
    // empty. Not sooner: kafkajs drops what it fetched for a paused partition and fetches it again on resume,
    // so pausing at every full mailbox cost a third of the Kafka throughput (docs/PERFORMANCE.md).
    if (!slot.paused && slot.pendingCount > this.cfg.mailboxBatches) {
      slot.paused = true;
      pause.call(this.o.source, this.partitionsOf(slot.index));
    } else if (slot.paused && slot.pendingCount === 0 && slot.inflight <= this.cfg.mailboxBatches / 2) {
      slot.paused = false;
      resume.call(this.o.source, this.partitionsOf(slot.index));
    }
  }

  private async finish(): Promise<void> {
    if (this.fatal) return;
    if (this.endRequested) {
      // Every queued batch must reach its worker before the end of input does.
      await this.waitFor(() => this.slots.every((s) => s.pendingCount === 0));
      this.endPosted = true;
      for (const s of this.slots) if (s.ready) s.post({ t: 'end' });
      await this.waitFor(() => this.slots.every((s) => s.ended));
    } else {
      this.drainRequested = true;
      for (const s of this.slots) if (s.ready) s.post({ t: 'drain' });
      await this.waitFor(() => this.slots.every((s) => s.drained));
    }
    await this.committer.drain();
    this.o.log.debug({ elu: Math.round(performance.eventLoopUtilization().utilization * 100) }, 'supervisor utilisation');
    this.updateEngineWatermark();
    await this.committer.commitMarker();
    // Leaving the group: released partitions start at once on the daemons that get them, without waiting out
    // this daemon's session.
    if (!this.fatal) await this.ownership.releaseAll();
  }

  private async startWorker(slot: WorkerSlot): Promise<void> {
    const partitions = this.partitionsOf(slot.index).filter((p) => this.owned.has(p));
    // Inside exclusive(): every flush queued before the crash is committed first, so these are final.
    const restore = await this.committer.exclusive(() => {
      return this.o.warehouse.loadRestore(this.o.source.name, this.checkpointsOf(partitions), { windowSizeMs: this.cfg.windowSizeMs });
    });
    const readyOnce = new Promise<void>((resolve) => {
      slot.spawn(
        (msg) => {
          if (msg.t === 'ready') resolve();
          this.onWorkerMessage(slot, msg);
        },
        (code, err) => this.onWorkerExit(slot, code, err),
      );
    });
    const crash = this.cfg.testCrashWorker;
    slot.post({
      t: 'init',
      tables: this.o.tables.snapshot(),
      settings: {
        workerIndex: slot.index,
        source: this.o.source.name,
        format: this.o.source.format,
        avroWriterSchema: this.o.source.avroWriterSchema,
        confluent: this.schemas
          ? { schemas: this.schemas.schemas, unusable: this.schemas.unusable, unknownHint: this.schemas.unknownHint }
          : null,
        spoolDir: this.o.spoolDir,
        ...actorRules(this.cfg),
        flushRows: this.cfg.flushRows,
        flushIntervalMs: this.cfg.flushIntervalMs,
        // Fault injection fires in the first incarnation only (so the restarted worker can finish), unless
        // the test wants a crash loop.
        crashAfterBatches: crash && crash.worker === slot.index && (slot.incarnation === 1 || crash.always) ? crash.afterBatches : null,
        logLevel: this.cfg.logLevel,
        index: { ...this.o.index.handle(this.o.source.name), runPrefix: this.o.index.runPrefix(slot.index) },
      },
    });
    slot.post({ t: 'start-actors', partitions, restore });
    await readyOnce;
    slot.ready = true;
    // A revoke the crashed incarnation never acknowledged: its actors were just rebuilt, so revoke them again.
    const pendingRevoke = this.ownership.pendingRevoke(slot.index);
    if (pendingRevoke) slot.post({ t: 'revoke', partitions: pendingRevoke });
    // Replay everything sent to this worker that is not yet durable; actors skip what they already have.
    for (const r of slot.retained) slot.sendBatch(r);
    this.pumpSlot(slot);
    if (this.endPosted) slot.post({ t: 'end' });
    else if (this.drainRequested) slot.post({ t: 'drain' });
    this.notify();
  }

  private onWorkerMessage(slot: WorkerSlot, msg: FromWorker): void {
    switch (msg.t) {
      case 'processed':
        slot.inflight--;
        this.pumpSlot(slot);
        this.notify();
        return;
      case 'flush':
        if (this.fatal) {
          void removeDropped([msg]);
          return;
        }
        this.committer.enqueue({
          workerIndex: msg.workerIndex, flushSeq: msg.flushSeq, files: msg.files, idRun: msg.idRun, rows: msg.rows, checkpoints: msg.checkpoints,
          deadLetterCodes: msg.deadLetterCodes, windowsClosedAtMs: msg.windowsClosedAtMs,
        });
        return;
      case 'watermarks':
        for (let i = 0; i < msg.partitions.length; i++) this.partitionWm[msg.partitions[i]] = msg.watermarksMs[i];
        slot.openWindows = msg.openWindows;
        this.o.metrics?.setEventLoopLag(`worker-${slot.index}`, msg.eventLoopLagMs / 1000);
        return;
      case 'ended':
        slot.ended = true;
        this.notify();
        return;
      case 'drained':
        slot.drained = true;
        this.notify();
        return;
      case 'revoked':
        this.ownership.revoked(slot.index);
        return;
      case 'fatal': {
        const err = fromWire(msg.error);
        this.o.log.error({ worker: slot.index, code: err.code, err: err.message }, 'worker failed');
        return;
      }
      case 'log':
        this.o.log[msg.level]({ worker: slot.index, ...msg.fields }, msg.msg);
        return;
      default:
        return;
    }
  }

  private onWorkerExit(slot: WorkerSlot, code: number, err: Error | null): void {
    slot.ready = false;
    if (slot.stopping || this.fatal) return;
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < this.cfg.restartWindowMs);
    this.restarts.push(now);
    if (this.restarts.length > this.cfg.restartLimit) {
      this.fail(new GamestreamError('crash_loop', `worker ${slot.index} crashed ${this.restarts.length} times within ${this.cfg.restartWindowMs / 1000}s (GAMESTREAM_RESTART_LIMIT=${this.cfg.restartLimit}); stopping. Last error: ${err?.message ?? `exit code ${code}`}`, { cause: err ?? undefined }));
      return;
    }
    this.restartCount++;
    this.o.metrics?.workerRestarted(slot.index);
    const why = err?.message ?? `exit code ${code}`;
    this.o.log.error({ worker: slot.index, err: why }, 'worker crashed; restarting');
    this.startWorker(slot).then(
      () => this.o.say(`worker ${slot.index} crashed (${why}); restarted it from the warehouse checkpoints and replayed ${slot.retained.length} batch(es) that were not yet durable`),
      (e: unknown) => this.fail(e),
    );
  }

  private onCommitted(r: CommitResult): void {
    this.o.log.debug({ rows: r.rows, partitions: r.checkpoints.length, ms: r.durationMs }, 'committed');
    this.lastCommitError = null;
    this.o.metrics?.recordCommit({
      durationMs: r.durationMs, partitions: this.deltas.next(r.checkpoints), deadLettersByCode: r.deadLetterCodes,
      windowEmitLatencyMs: r.windowEmitLatencyMs, bytesByTable: r.bytesByTable,
    });
    for (const c of r.checkpoints) this.durableNext[c.partition] = c.nextOffset;
    this.registerInIndex(r);
    this.o.source.durable?.(new Map(r.checkpoints.map((c) => [c.partition, c.nextOffset])));
    for (const s of this.slots) s.release(this.durableNext);
    this.notify();
  }

  /**
   * Opens the dedupe index and brings it up to what the warehouse holds; from then on every change to it
   * (runs added or merged, a rebuilt filter) reaches the workers.
   */
  private async openIndex(): Promise<void> {
    const { index, warehouse, log } = this.o;
    index.open(await warehouse.identity(), this.o.source.name);
    // Every worker thread that has been given its start (not only the ready ones): a worker starting now got the
    // index as it was at its 'init', and what changes after that reaches it next, in order.
    index.onChange((c) => {
      for (const s of this.slots) s.post({ t: 'index', add: c.add, remove: c.remove, filter: c.filter, releasedSeq: null });
    });
    await this.catchUpIndex();
    log.info({ ...index.stats(), horizonMs: index.horizonMs }, 'dedupe index ready');
  }

  /** Ids the warehouse committed that the index lacks (every source), read back from the warehouse. */
  private async catchUpIndex(): Promise<void> {
    const { index, warehouse, log } = this.o;
    // As the warehouse has them now (at a hand-over, another daemon committed since this one started). Read
    // only: this daemon's own source was just loaded (and, on BigQuery, rolled forward) by its caller.
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

  /** Committed flushes join the dedupe index; then their workers may forget the ids they kept meanwhile. */
  private registerInIndex(r: CommitResult): void {
    if (r.flushes.length === 0) return;
    try {
      this.o.index.register(this.o.source.name, r.flushes.map((f) => f.idRun), r.checkpoints);
    } catch (err) {
      this.fail(new GamestreamError('dedupe_index_unavailable', `could not add committed ids to the dedupe index (the warehouse has them; the next start reads them back): ${(err as Error).message}`, { cause: err }));
      return;
    }
    const released = new Map<number, number>();
    for (const f of r.flushes) released.set(f.workerIndex, Math.max(released.get(f.workerIndex) ?? 0, f.flushSeq));
    for (const [w, seq] of released) {
      const slot = this.slots[w];
      if (slot?.ready) slot.post({ t: 'index', add: [], remove: [], filter: null, releasedSeq: seq });
    }
  }

  private updateEngineWatermark(): number[] {
    const e = engineWatermark(this.partitionWm, this.router.lastRoutedAt, Date.now(), this.cfg.idleTimeoutMs, this.engineWm, this.startedAt);
    this.engineWm = e.watermarkMs;
    if (this.endRequested && this.slots.every((s) => s.ended)) {
      // After the end of input every window is closed: the watermark is as far as any partition got.
      let max = -Infinity;
      for (const p of this.owned) if (this.partitionWm[p]! > max) max = this.partitionWm[p]!;
      if (Number.isFinite(max) && max > this.engineWm) this.engineWm = max;
    }
    return e.idlePartitions;
  }

  /** A partition's latest durable checkpoint: the last one committed in this run, else the one it started from. */
  private checkpointOf(p: number): Checkpoint | undefined {
    return this.committer.durable.get(p) ?? this.initial.get(p);
  }

  private checkpointsOf(partitions: Iterable<number>): Checkpoint[] {
    return [...partitions].map((p) => this.checkpointOf(p)).filter((c): c is Checkpoint => c !== undefined);
  }

  /**
   * The engine watermark that a commit of `checkpoints` may record: computed like the live one, but from each
   * partition's watermark as of its last committed flush (this batch's included). The live watermark also
   * covers records whose rows still sit in a worker or in the commit queue, and the ETL takes a day as complete
   * from the recorded one, so recording the live one could run the day before all its rows are in.
   */
  private durableEngineWatermark(checkpoints: Checkpoint[]): number {
    // After the end of input everything is flushed and committed: the live watermark is durable.
    if (this.endRequested && this.slots.every((s) => s.ended)) return this.engineWm;
    const batch = new Map(checkpoints.map((c) => [c.partition, c]));
    const wm = new Float64Array(this.partitions).fill(Infinity);
    for (const p of this.owned) {
      const c = batch.get(p) ?? this.checkpointOf(p);
      wm[p] = c?.watermarkMs ?? -Infinity;
    }
    const e = engineWatermark(wm, this.router.lastRoutedAt, Date.now(), this.cfg.idleTimeoutMs, this.persistedWm, this.startedAt);
    return Math.min(e.watermarkMs, this.engineWm);
  }

  private lagAt = 0;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });

  /** Consumer lag (log-end minus what the warehouse holds), every 10 s: it costs a broker round trip. */
  private refreshLag(m: Metrics): void {
    const source = this.o.source;
    if (!source.endOffsets || Date.now() - this.lagAt < 10_000) return;
    this.lagAt = Date.now();
    source.endOffsets().then(
      (ends) => {
        for (const [p, end] of ends) if (this.owned.has(p)) m.setLag(p, Math.max(0, end - this.durableNext[p]));
      },
      (err: Error) => this.o.log.debug({ err: err.message }, 'could not read log-end offsets for the lag metric'),
    );
  }

  /** For /readyz: the source is being read and the warehouse takes commits. */
  health(): HealthReport {
    const fatal = this.fatal ? ((this.fatal as Error).message ?? String(this.fatal)) : null;
    return {
      source: {
        ok: this.consuming && !this.stopRequested && !this.resolver?.problem,
        detail: fatal ?? (this.stopRequested ? 'stopping' : this.resolver?.problem ? `waiting for the schema registry: ${this.resolver.problem}` : this.consuming ? 'consuming' : 'starting'),
      },
      warehouse: { ok: this.lastCommitError === null && !fatal, detail: this.lastCommitError ?? fatal ?? 'committing' },
    };
  }

  private tick(): void {
    const idle = this.updateEngineWatermark();
    const m = this.o.metrics;
    if (m) {
      m.setEngineWatermark(Number.isFinite(this.engineWm) ? this.engineWm : null);
      for (const s of this.slots) m.setMailboxDepth(s.index, s.inflight + s.pendingCount);
      m.setOpenWindows(this.slots.reduce((a, s) => a + s.openWindows, 0));
      m.setEventLoopLag('main', this.loopDelay.max / 1e9);
      this.loopDelay.reset();
      this.refreshLag(m);
    }
    this.persistWatermark();
    if (!Number.isFinite(this.engineWm) || idle.length === 0) return;
    for (const s of this.slots) if (s.ready) s.post({ t: 'watermark', engineWatermarkMs: this.engineWm, idlePartitions: idle });
  }

  /**
   * A quiet stream still moves the engine watermark (idle partitions, the last events' out-of-orderness), and
   * the daily ETL's sensor reads it from the warehouse: when no commit is coming to carry it, an empty commit
   * records it, at most once per flush interval.
   */
  private persistWatermark(): void {
    const now = Date.now();
    if (!(this.engineWm > this.persistedWm) || !this.committer.idle || this.stopRequested || now - this.markerAt < this.cfg.flushIntervalMs) return;
    this.markerAt = now;
    this.committer.commitMarker().catch((err: unknown) => this.o.log.warn({ err: (err as Error).message }, 'could not record the engine watermark'));
  }

  totals(): RunTotals {
    return runTotals({
      recordsRouted: this.router?.routed ?? 0, recordsSkipped: this.router?.skipped ?? 0, engineWatermarkMs: this.engineWm,
      workerRestarts: this.restartCount, startedAt: this.startedAt, endOfInput: this.endRequested,
      initial: this.initial, durable: this.committer.durable,
    });
  }

  private progress(): void {
    this.o.say(this.progressLine.next(this.totals(), this.o.source.progress()));
  }
}
