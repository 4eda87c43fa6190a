/**
 * The daemon's Prometheus metrics, on a private prom-client Registry (never the global one, so two daemons in
 * one test process, or the tracking server beside the daemon, do not share counters).
 *
 * The daemon calls plain methods; nothing here reaches into the engine:
 *
 *   recordCommit(c)          after each warehouse commit, with that commit's exact per-partition deltas and
 *                            dead letters per code. The only source of the record/event/DLQ counters, so they
 *                            count committed data exactly once (use CheckpointDeltas to derive the deltas).
 *   setLag(p, n)             Kafka log-end offset minus the next offset the warehouse holds, partition p (n = null: unknown).
 *   kafkaFetch(records)      one fetched batch;   kafkaOffsetCommit()   one group offset commit;
 *   rebalance()              one consumer-group rebalance (assignment change).
 *   setEngineWatermark(ms)   the engine watermark; watermark delay is computed at scrape time.
 *   setOpenWindows(n)        open windows over all actors.
 *   sinkFlush({sink, durationMs, rowsByTable?, bytesByTable?})  a flush to a sink other than the warehouse
 *                            commit (e.g. copies to Kafka); sinkRetry(sink); sinkRejectedRows(sink, rows).
 *   setWorkerCount(n)        at start: creates the per-worker series at 0, so Prometheus' increase() sees the first restart.
 *   setMailboxDepth(w, n)    batches queued for worker w;  workerRestarted(w)  a worker thread was restarted.
 *   processorFailed(code)    a fatal error that stops the daemon (crash loop, warehouse write failure).
 *   setEventLoopLag(thread, seconds)   per thread ('main', 'worker-0', …), measured by the caller.
 *   etlTask({task, status, durationMs, atMs?})  one finished ETL task attempt; task 'dag' is the whole run.
 *   setEtlEnabled(bool)      etlChecks, dedupe, memory: the ETL's checks, the dedupe index, memory by part (own files).
 *   ingestRequest({status, durationMs, events?, rejectReason?})  one tracking-server request.
 *
 * `state()` returns the plain running totals the alert rules and the status page read (no async registry scan).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { TableKey } from '../sinks/tables.ts';
import { DedupeMetrics } from './dedupe-metrics.ts';
import { EtlCheckMetrics } from './etl-check-metrics.ts';
import { MemoryMetrics } from './memory-metrics.ts';
import { GAMESTREAM_VERSION } from '../version.ts';

export interface PartitionDelta {
  partition: number;
  /** Records read from the source and covered by this commit (offset advance), good or bad. */
  recordsIn: number;
  eventsWritten: number;
  deadLetters: number;
  duplicates: number;
  lateEvents: number;
  windowRows: number;
}

export interface CommitRecord {
  durationMs: number;
  partitions: PartitionDelta[];
  /** Exact dead letters of this commit per code; when absent, the partitions' dead letters count as 'unclassified'. */
  deadLettersByCode?: Record<string, number>;
  /** Rows per table; defaults to the sums over `partitions`. */
  rowsByTable?: Partial<Record<TableKey, number>>;
  /** Bytes per table (e.g. the NDJSON file sizes loaded). */
  bytesByTable?: Partial<Record<TableKey, number>>;
  /** Per committed window: wall clock from its closing to the commit, in ms. */
  windowEmitLatencyMs?: number[];
  /** Wall clock from receiving records to this commit: `records[i]` records took `ms[i]` ms. */
  eventFreshness?: { ms: number[]; records: number[] };
}

export type EtlStatus = 'success' | 'failed' | 'skipped' | 'cancelled';

export interface EtlRunInfo {
  task: string;
  status: EtlStatus;
  atMs: number;
  durationMs: number;
}

/** Plain running totals, read synchronously by alerts and the status page. */
export interface MetricsState {
  startedAtMs: number;
  recordsIn: number;
  eventsWritten: number;
  deadLetters: number;
  duplicates: number;
  lateEvents: number;
  windowRows: number;
  commits: number;
  lastRecordAtMs: number | null;
  lag: Map<number, number>;
  engineWatermarkMs: number | null;
  openWindows: number;
  mailboxDepth: Map<number, number>;
  workerRestartsMs: number[];
  workerRestarts: number;
  fatal: { code: string; atMs: number } | null;
  etlEnabled: boolean;
  etlLastRun: EtlRunInfo | null;
  /** The day the ETL waits for, and what for. */
  etlWaiting: { day: string; waitingFor: string[] } | null;
  etlLastSuccessMs: number | null;
}

export interface MetricsOptions {
  now?: () => number;
  /** prom-client's process metrics (CPU, memory, GC, handles), prefixed gamestream_. Default true. */
  defaultMetrics?: boolean;
  /** False for the tracking server: its start time as the last commit would hide a stopped daemon from NoEvents. */
  daemon?: boolean;
}

const SINK_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Event freshness and window emit latency: 0.05 s steps to 0.5 s, 0.1 s to 2 s (a p99 of 1 s and 2 s apart), then coarser. */
const LATENCY_SECONDS = [
  0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2,
  2.5, 3, 4, 5, 7.5, 10, 15, 30, 60, 90, 120, 180, 300, 600, 1800, 3600,
];
const ETL_SECONDS = [1, 5, 15, 60, 300, 900, 1800, 3600, 7200];
const INGEST_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const RESTART_MEMORY = 1000;

/** Keeps label values low-cardinality whatever the caller passes. */
function label(s: string): string {
  return /^[a-z0-9_.-]{1,48}$/i.test(s) ? s : 'other';
}

/**
 * An unlabelled histogram that takes many observations of one value at once (prom-client's observes one value
 * per call, and a commit may cover a million records). The registry exposes it as it does prom-client's own.
 */
class WeightedHistogram {
  readonly name: string;
  private readonly help: string;
  private readonly bounds: readonly number[];
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(name: string, help: string, bounds: readonly number[], registry: Registry) {
    [this.name, this.help, this.bounds, this.counts] = [name, help, bounds, new Float64Array(bounds.length)];
    registry.registerMetric(this as unknown as Metric);
  }

  /** `n` observations of `value`. */
  observe(value: number, n: number): void {
    if (!(n > 0) || !Number.isFinite(value)) return;
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    if (i < this.counts.length) this.counts[i] += n;
    this.sum += value * n;
    this.count += n;
  }

  async get() {
    const bucket = `${this.name}_bucket`;
    let below = 0;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] =
      this.bounds.map((le, i) => ({ labels: { le }, value: (below += this.counts[i]), metricName: bucket }));
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: bucket }, { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = this.count = 0;
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly etlChecks = new EtlCheckMetrics(this.registry);
  readonly dedupe = new DedupeMetrics(this.registry);
  readonly memory = new MemoryMetrics(this.registry);
  private readonly now: () => number;
  private readonly s: MetricsState;

  readonly recordsIn: Counter<'partition'>;
  readonly eventsWritten: Counter<'partition'>;
  readonly deadLetters: Counter<'code'>;
  readonly lateEvents: Counter<'partition'>;
  readonly duplicates: Counter<'partition'>;
  readonly windowRows: Counter;
  readonly lag: Gauge<'partition'>;
  readonly fetches: Counter;
  readonly fetchedRecords: Counter;
  readonly offsetCommits: Counter;
  readonly warehouseCommits: Counter;
  readonly rebalances: Counter;
  readonly windowEmitLatency: Histogram;
  readonly eventFreshness: WeightedHistogram;
  readonly openWindows: Gauge;
  readonly sinkFlushDuration: Histogram<'sink'>;
  readonly sinkRows: Counter<'sink' | 'table'>;
  readonly sinkBytes: Counter<'sink' | 'table'>;
  readonly sinkRetries: Counter<'sink'>;
  private readonly sinkRejected: Counter<'sink'>;
  readonly mailboxDepth: Gauge<'worker'>;
  readonly workerRestarts: Counter<'worker'>;
  readonly processorFailedGauge: Gauge;
  readonly eventLoopLag: Gauge<'thread'>;
  readonly etlDuration: Histogram<'task'>;
  readonly etlRuns: Counter<'task' | 'status'>;
  readonly etlLastSuccess: Gauge<'task'>;
  readonly etlLastRunSuccess: Gauge<'task'>;
  readonly etlEnabled: Gauge;
  readonly ingestRequests: Counter<'status'>;
  readonly ingestEvents: Counter;
  readonly ingestRejects: Counter<'reason'>;
  readonly ingestRateLimited: Counter<'app'>;
  readonly ingestAuthThrottled: Counter;
  readonly ingestLatency: Histogram;
  readonly alertFiring: Gauge<'alert' | 'severity'>;
  readonly alertWebhookFailures: Counter;

  constructor(opts: MetricsOptions = {}) {
    this.now = opts.now ?? Date.now;
    const now = this.now();
    this.s = {
      startedAtMs: now, recordsIn: 0, eventsWritten: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0,
      commits: 0, lastRecordAtMs: null, lag: new Map(), engineWatermarkMs: null, openWindows: 0, mailboxDepth: new Map(),
      workerRestartsMs: [], workerRestarts: 0, fatal: null, etlEnabled: false, etlLastRun: null, etlWaiting: null, etlLastSuccessMs: null,
    };
    const registers = [this.registry];
    const self = this;
    const c = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Counter<L>({ name, help, labelNames, registers });
    const g = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
    const h = <L extends string>(name: string, help: string, buckets: number[], labelNames: L[] = []) =>
      new Histogram<L>({ name, help, buckets, labelNames, registers });

    g('gamestream_build_info', 'Always 1; the version label says which build runs.', ['version']).set({ version: GAMESTREAM_VERSION }, 1);
    g('gamestream_start_time_seconds', 'Unix time the daemon started.').set(now / 1000);
    this.recordsIn = c('gamestream_records_in_total', 'Source records covered by a warehouse commit (good or bad), per source partition.', ['partition']);
    this.eventsWritten = c('gamestream_events_written_total', 'Events committed to the warehouse events table, per source partition.', ['partition']);
    this.deadLetters = c('gamestream_dead_letters_total', 'Records committed to the dead-letter table, per error code.', ['code']);
    this.lateEvents = c('gamestream_late_events_total', 'Events that arrived after their window was emitted (written, not counted in the window), per partition.', ['partition']);
    this.duplicates = c('gamestream_duplicates_dropped_total', 'Client retries dropped by the duplicate detector, per partition.', ['partition']);
    this.windowRows = c('gamestream_window_rows_written_total', 'Rows committed to events_agg_1min.');
    if (opts.daemon !== false) new Gauge({
      name: 'gamestream_last_record_timestamp_seconds', help: 'Unix time of the last commit that covered at least one record (the daemon start until then).', registers,
      collect() { this.set((self.s.lastRecordAtMs ?? self.s.startedAtMs) / 1000); },
    });
    this.lag = g('gamestream_kafka_consumer_lag', 'Kafka log-end offset minus the next offset the warehouse holds, per partition this daemon owns (messages).', ['partition']);
    this.fetches = c('gamestream_kafka_fetches_total', 'Record batches fetched from Kafka.');
    this.fetchedRecords = c('gamestream_kafka_fetched_records_total', 'Records fetched from Kafka (before the warehouse has them; may repeat after a rebalance).');
    this.offsetCommits = c('gamestream_kafka_offset_commits_total', 'Consumer-group offset commits (made after warehouse commits).');
    this.warehouseCommits = c('gamestream_warehouse_commits_total', 'Warehouse transactions committed (rows plus checkpoints).');
    this.rebalances = c('gamestream_kafka_rebalances_total', 'Consumer-group rebalances seen by this daemon.');
    new Gauge({
      name: 'gamestream_engine_watermark_timestamp_seconds', help: 'The engine watermark (minimum over non-idle partitions), Unix time; absent before the first.', registers,
      collect() { this.reset(); if (self.s.engineWatermarkMs !== null) this.set(self.s.engineWatermarkMs / 1000); },
    });
    new Gauge({
      name: 'gamestream_watermark_delay_seconds', help: 'Wall clock minus the engine watermark; absent before the first watermark.', registers,
      collect() { this.reset(); if (self.s.engineWatermarkMs !== null) this.set((self.now() - self.s.engineWatermarkMs) / 1000); },
    });
    this.windowEmitLatency = h('gamestream_window_emit_latency_seconds', 'From the moment a partition\'s watermark passed a window\'s end plus the allowed lateness (the window closed) to the warehouse commit of its rows, wall clock; one observation per window and partition.', LATENCY_SECONDS);
    this.eventFreshness = new WeightedHistogram('gamestream_event_freshness_seconds', 'From when a source record was received (Kafka: its record batch\'s timestamp, set by the producer when it sent the batch; other sources: when the daemon read it) to the warehouse commit that covered it (its row queryable), wall clock; one observation per record, good or bad.', LATENCY_SECONDS, this.registry);
    this.openWindows = g('gamestream_open_windows', 'Windows held open over all partition actors.');
    this.sinkFlushDuration = h('gamestream_sink_flush_duration_seconds', 'Duration of a flush to a sink: the warehouse commit, or a copy to Kafka.', SINK_SECONDS, ['sink']);
    this.sinkRows = c('gamestream_sink_rows_total', 'Rows written to a sink, per table.', ['sink', 'table']);
    this.sinkBytes = c('gamestream_sink_bytes_total', 'Bytes written to a sink, per table.', ['sink', 'table']);
    this.sinkRetries = c('gamestream_sink_retries_total', 'Retried sink operations (warehouse commits, Kafka publishes).', ['sink']);
    this.sinkRejected = c('gamestream_sink_rejected_rows_total', 'Rows a sink refused and that were skipped (e.g. over the topic\'s max.message.bytes).', ['sink']);
    this.mailboxDepth = g('gamestream_mailbox_depth', 'Batches in flight or queued for a worker thread.', ['worker']);
    this.workerRestarts = c('gamestream_worker_restarts_total', 'Worker threads restarted after a crash.', ['worker']);
    this.processorFailedGauge = g('gamestream_processor_failed', '1 after a fatal error that stops the daemon (crash loop, warehouse write failure), else 0.');
    this.processorFailedGauge.set(0);
    this.eventLoopLag = g('gamestream_event_loop_lag_seconds', 'Longest event-loop delay per thread since its previous report (about every second).', ['thread']);
    this.etlDuration = h('gamestream_etl_task_duration_seconds', 'Duration of a finished ETL task attempt; task "dag" is the whole daily run.', ETL_SECONDS, ['task']);
    this.etlRuns = c('gamestream_etl_task_runs_total', 'Finished ETL task attempts per status.', ['task', 'status']);
    this.etlLastSuccess = g('gamestream_etl_last_success_timestamp_seconds', 'Unix time of the last successful run of an ETL task.', ['task']);
    this.etlLastRunSuccess = g('gamestream_etl_last_run_success', '1 if the latest finished run of the ETL task succeeded (or was skipped), 0 if it failed.', ['task']);
    this.etlEnabled = g('gamestream_etl_enabled', '1 when the daily ETL scheduler runs in this process.');
    this.etlEnabled.set(0);
    this.ingestRequests = c('gamestream_ingest_requests_total', 'Tracking-server requests per HTTP status.', ['status']);
    this.ingestEvents = c('gamestream_ingest_events_total', 'Events accepted by the tracking server (acknowledged by Kafka).');
    this.ingestRejects = c('gamestream_ingest_rejects_total', 'Tracking-server requests refused, per reason.', ['reason']);
    this.ingestRateLimited = c('gamestream_ingest_rate_limited_total', 'Tracking-server requests refused with 429 by their API key\'s rate limit, per app.', ['app']);
    this.ingestAuthThrottled = c('gamestream_ingest_auth_throttled_total', 'Tracking-server requests refused with 429 because their client address failed authentication too often.');
    this.ingestLatency = h('gamestream_ingest_request_duration_seconds', 'Tracking-server request duration, until the answer is sent.', INGEST_SECONDS);
    this.alertFiring = g('gamestream_alert_firing', '1 while an in-process alert is firing.', ['alert', 'severity']);
    this.alertWebhookFailures = c('gamestream_alert_webhook_failures_total', 'Alert webhook POSTs that failed.');
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'gamestream_' });
  }

  /** After each warehouse commit: the commit's exact deltas. */
  recordCommit(c: CommitRecord): void {
    const rows = { events: 0, dlq: 0, agg: 0 };
    let recordsIn = 0;
    for (const p of c.partitions) {
      const l = { partition: String(p.partition) };
      if (p.recordsIn > 0) this.recordsIn.inc(l, p.recordsIn);
      if (p.eventsWritten > 0) this.eventsWritten.inc(l, p.eventsWritten);
      if (p.duplicates > 0) this.duplicates.inc(l, p.duplicates);
      if (p.lateEvents > 0) this.lateEvents.inc(l, p.lateEvents);
      recordsIn += p.recordsIn;
      rows.events += p.eventsWritten;
      rows.dlq += p.deadLetters;
      rows.agg += p.windowRows;
      this.s.duplicates += p.duplicates;
      this.s.lateEvents += p.lateEvents;
    }
    let dlq = 0;
    if (c.deadLettersByCode) {
      for (const [code, n] of Object.entries(c.deadLettersByCode)) {
        if (n > 0) this.deadLetters.inc({ code: label(code) }, n);
        dlq += n;
      }
    } else {
      dlq = rows.dlq;
      if (dlq > 0) this.deadLetters.inc({ code: 'unclassified' }, dlq);
    }
    const byTable = { ...rows, ...c.rowsByTable };
    if (byTable.agg > 0) this.windowRows.inc(byTable.agg);
    for (const t of ['events', 'dlq', 'agg'] as const) {
      if (byTable[t] > 0) this.sinkRows.inc({ sink: 'warehouse', table: t }, byTable[t]);
      const b = c.bytesByTable?.[t];
      if (b && b > 0) this.sinkBytes.inc({ sink: 'warehouse', table: t }, b);
    }
    this.sinkFlushDuration.observe({ sink: 'warehouse' }, c.durationMs / 1000);
    for (const ms of c.windowEmitLatencyMs ?? []) this.windowEmitLatency.observe(ms / 1000);
    // A producer clock ahead of this one would give negative times: they count as 0.
    const f = c.eventFreshness;
    if (f) for (let i = 0; i < f.ms.length; i++) this.eventFreshness.observe(Math.max(0, f.ms[i]) / 1000, f.records[i]);
    this.warehouseCommits.inc();
    this.s.commits++;
    this.s.recordsIn += recordsIn;
    this.s.eventsWritten += byTable.events;
    this.s.deadLetters += dlq;
    this.s.windowRows += byTable.agg;
    if (recordsIn > 0) this.s.lastRecordAtMs = this.now();
  }

  setLag(partition: number, messages: number | null): void {
    if (messages === null) {
      this.lag.remove({ partition: String(partition) });
      this.s.lag.delete(partition);
      return;
    }
    const n = Math.max(0, messages);
    this.lag.set({ partition: String(partition) }, n);
    this.s.lag.set(partition, n);
  }

  /** Drops lag series of partitions this daemon no longer owns (after a rebalance). */
  retainLagPartitions(owned: Iterable<number>): void {
    const keep = new Set(owned);
    for (const p of [...this.s.lag.keys()]) if (!keep.has(p)) this.setLag(p, null);
  }

  kafkaFetch(records: number): void {
    this.fetches.inc();
    if (records > 0) this.fetchedRecords.inc(records);
  }

  kafkaOffsetCommit(): void { this.offsetCommits.inc(); }

  rebalance(): void { this.rebalances.inc(); }

  setEngineWatermark(ms: number | null): void {
    this.s.engineWatermarkMs = ms !== null && Number.isFinite(ms) ? ms : null;
  }

  setOpenWindows(n: number): void {
    this.s.openWindows = n;
    this.openWindows.set(n);
  }

  sinkFlush(f: { sink: string; durationMs: number; rowsByTable?: Record<string, number>; bytesByTable?: Record<string, number> }): void {
    const sink = label(f.sink);
    this.sinkFlushDuration.observe({ sink }, f.durationMs / 1000);
    for (const [t, n] of Object.entries(f.rowsByTable ?? {})) if (n > 0) this.sinkRows.inc({ sink, table: label(t) }, n);
    for (const [t, n] of Object.entries(f.bytesByTable ?? {})) if (n > 0) this.sinkBytes.inc({ sink, table: label(t) }, n);
  }

  sinkRetry(sink: string): void {
    this.sinkRetries.inc({ sink: label(sink) });
  }

  sinkRejectedRows(sink: string, rows: number): void {
    if (rows > 0) this.sinkRejected.inc({ sink: label(sink) }, rows);
  }

  setMailboxDepth(worker: number, batches: number): void {
    this.s.mailboxDepth.set(worker, batches);
    this.mailboxDepth.set({ worker: String(worker) }, batches);
  }

  setWorkerCount(workers: number): void {
    for (let w = 0; w < workers; w++) {
      this.workerRestarts.inc({ worker: String(w) }, 0);
      this.mailboxDepth.set({ worker: String(w) }, this.s.mailboxDepth.get(w) ?? 0);
    }
  }

  workerRestarted(worker: number): void {
    this.workerRestarts.inc({ worker: String(worker) });
    this.s.workerRestarts++;
    this.s.workerRestartsMs.push(this.now());
    if (this.s.workerRestartsMs.length > RESTART_MEMORY) this.s.workerRestartsMs.shift();
  }

  processorFailed(code: string): void {
    if (!this.s.fatal) this.s.fatal = { code: label(code), atMs: this.now() };
    this.processorFailedGauge.set(1);
  }

  setEventLoopLag(thread: string, seconds: number): void {
    this.eventLoopLag.set({ thread: label(thread) }, seconds);
  }

  setEtlWaiting(w: { day: string; waitingFor: string[] } | null): void { this.s.etlWaiting = w; }

  setEtlEnabled(enabled: boolean): void {
    this.s.etlEnabled = enabled;
    this.etlEnabled.set(enabled ? 1 : 0);
  }

  etlTask(t: { task: string; status: EtlStatus; durationMs: number; atMs?: number }): void {
    const task = label(t.task);
    const atMs = t.atMs ?? this.now();
    this.etlRuns.inc({ task, status: t.status });
    this.etlDuration.observe({ task }, t.durationMs / 1000);
    if (t.status === 'success') this.etlLastSuccess.set({ task }, atMs / 1000);
    // A cancelled attempt (shutdown) says nothing about the ETL's health.
    if (t.status !== 'cancelled') this.etlLastRunSuccess.set({ task }, t.status === 'failed' ? 0 : 1);
    if (task === 'dag') {
      if (t.status !== 'cancelled') this.s.etlLastRun = { task, status: t.status, atMs, durationMs: t.durationMs };
      if (t.status === 'success') this.s.etlLastSuccessMs = atMs;
    }
  }

  ingestRequest(r: { status: number; durationMs: number; events?: number; rejectReason?: string }): void {
    this.ingestRequests.inc({ status: String(r.status) });
    this.ingestLatency.observe(r.durationMs / 1000);
    if (r.events && r.status >= 200 && r.status < 300) this.ingestEvents.inc(r.events);
    if (r.rejectReason) this.ingestRejects.inc({ reason: label(r.rejectReason) });
  }

  setAlertFiring(alert: string, severity: string, firing: boolean): void {
    this.alertFiring.set({ alert, severity }, firing ? 1 : 0);
  }

  alertWebhookFailed(): void { this.alertWebhookFailures.inc(); }

  state(): Readonly<MetricsState> {
    return this.s;
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
