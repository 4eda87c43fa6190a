/** `gamestream run`: the daemon. */
import { setTimeout as sleep } from 'node:timers/promises';
import { NO_FAULTS, type Faults } from '../config/faults.ts';
import type { Config } from '../config/schema.ts';
import type { EtlConfig } from '../etl/config.ts';
import { startObservability, type Metrics, type ObservabilityConfig } from '../observability/index.ts';
import { startScheduler, type Scheduler } from '../etl/scheduler.ts';
import { duckdbEtlWarehouse } from '../sinks/duckdb/etl-warehouse.ts';
import { defaultDeviceTablePath } from '../enrich/devices.ts';
import { defaultGeoIpPath } from '../enrich/geoip.ts';
import { TableFiles } from '../enrich/tables.ts';
import { createLogger, type Logger } from '../log.ts';
import type { TopicSpec } from '../kafka-platformatic/topics.ts';
import { loadSchemaDir } from '../sources/kafka/schemas.ts';
import { Supervisor } from '../actors/supervisor.ts';
import { startBufferCollector } from '../actors/buffer-collector.ts';
import { IdIndex } from '../dedupe/id-index.ts';
import { fmt, processCost } from '../actors/run-totals.ts';
import { DuckDbWarehouse } from '../sinks/duckdb/duckdb-warehouse.ts';
import { HourlyVolume, readStatusView } from '../sinks/duckdb/status-view.ts';
import { AvroFileSource } from '../sources/file-avro.ts';
import { NdjsonFileSource } from '../sources/file-ndjson.ts';
import { GeneratorSource } from '../sources/generator.ts';
import type { Source } from '../sources/source.ts';
import { createSpoolDir, removeSpoolDir } from './spool.ts';
import { makeDir } from '../dirs.ts';
import { onInterrupts, SECOND_SIGNAL_EXIT } from './signals.ts';
import type { Warehouse } from '../sinks/sink.ts';
import type { WarehouseView } from '../observability/status.ts';
import { GamestreamError } from '../errors.ts';
import { duckDbReadOnlyRunner, type HaltableSqlRunner } from '../sinks/duckdb/read-only-query.ts';
import { daemonFilePath, removeDaemonFile, writeDaemonFile } from '../sql/daemon-file.ts';
import { localUrl } from '../sql/loopback.ts';
import { GAMESTREAM_VERSION } from '../version.ts';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

// The Kafka and BigQuery adapters are loaded only when the configuration names them (see their index.ts).
type KafkaAdapter = typeof import('../kafka-platformatic/index.ts');
const loadKafka = (): Promise<KafkaAdapter> => import('../kafka-platformatic/index.ts');
const loadBigQuery = (): Promise<typeof import('../sinks/bigquery/index.ts')> => import('../sinks/bigquery/index.ts');

/** The seed's topic layout with the configured names and partition counts; the raw topic first. */
function topicSpecs(cfg: Config, { SEED_TOPICS }: KafkaAdapter): TopicSpec[] {
  const specs: TopicSpec[] = [{ ...SEED_TOPICS.raw, name: cfg.kafkaTopic, partitions: cfg.kafkaRawPartitions }];
  if (cfg.kafkaEnrichedTopic) specs.push({ ...SEED_TOPICS.enriched, name: cfg.kafkaEnrichedTopic, partitions: cfg.kafkaEnrichedPartitions });
  if (cfg.kafkaDlqTopic) specs.push({ ...SEED_TOPICS.dlq, name: cfg.kafkaDlqTopic, partitions: cfg.kafkaDlqPartitions });
  return specs;
}

type DuckDbConnection = Awaited<ReturnType<DuckDbWarehouse['connect']>>;

/** The metrics once they exist: the source, the warehouse and the outputs are made before them. */
type MetricsLater = () => Metrics | null;

/** `kafka`: the Kafka adapter, loaded when the source is Kafka. */
function makeSource(cfg: Config, log: Logger, metrics: MetricsLater, kafka: KafkaAdapter | null): Source {
  switch (cfg.source.kind) {
    case 'kafka': {
      if (!kafka) throw new GamestreamError('internal', 'the Kafka adapter was not loaded for a Kafka source');
      return new kafka.KafkaSource({
        brokers: cfg.kafkaBrokers,
        topic: cfg.kafkaTopic,
        groupId: cfg.kafkaGroup,
        clientId: cfg.kafkaClientId,
        stop: cfg.kafkaStop,
        sessionTimeoutMs: cfg.kafkaSessionTimeoutMs,
        rebalanceTimeoutMs: cfg.kafkaRebalanceTimeoutMs ?? cfg.kafkaSessionTimeoutMs,
        ensure: cfg.kafkaCreateTopics ? topicSpecs(cfg, kafka) : [],
        hooks: {
          fetched: (n) => metrics()?.kafkaFetch(n),
          committed: () => metrics()?.kafkaOffsetCommit(),
          rebalanced: () => metrics()?.rebalance(),
        },
        log,
      });
    }
    case 'generator':
      return new GeneratorSource({
        seed: cfg.generatorSeed ?? Math.floor(Math.random() * 2 ** 32),
        rate: cfg.generatorRate,
        total: cfg.generatorEvents,
        badShare: cfg.generatorBadShare,
      });
    case 'file':
      return cfg.source.format === 'avro' ? new AvroFileSource(cfg.source.path, log) : new NdjsonFileSource(cfg.source.path, cfg.maxEventBytes);
  }
}

/** `source`: a source made by the caller (a dead-letter replay's) instead of the one GAMESTREAM_SOURCE names. */
export async function runDaemon(cfg: Config, etl: EtlConfig, observability: ObservabilityConfig, faults: Faults = NO_FAULTS, given?: Source): Promise<number> {
  const log = createLogger(cfg.logLevel, cfg.logFormat);
  const say = (line: string): void => void process.stdout.write(`[gamestream] ${line}\n`);
  let metricsReady: Metrics | null = null;
  const metrics: MetricsLater = () => metricsReady;
  const wc = cfg.warehouse;
  // The adapters the settings name, loaded before anything is opened that a failed load would leave open.
  const copiesToKafka = cfg.kafkaBrokers.length > 0 && (cfg.kafkaEnrichedTopic || cfg.kafkaDlqTopic);
  const kafka = (cfg.source.kind === 'kafka' && !given) || copiesToKafka ? await loadKafka() : null;
  const bigquery = wc.kind === 'bigquery' ? await loadBigQuery() : null;
  const source = given ?? makeSource(cfg, log, metrics, kafka);
  await source.open();
  const tables = await TableFiles.open({
    geoipPath: cfg.geoipDb === 'default' ? defaultGeoIpPath() : cfg.geoipDb,
    devicePath: cfg.deviceTable === 'default' ? defaultDeviceTablePath() : cfg.deviceTable,
    pollIntervalMs: cfg.tableReloadIntervalMs,
  });
  const bqTarget = bigquery?.bigQueryTargetOf(cfg) ?? null;
  const bqTables = { partitionExpirationDays: cfg.bigqueryPartitionExpirationDays, requirePartitionFilter: cfg.bigqueryRequirePartitionFilter };
  const duck = wc.kind === 'duckdb'
    ? new DuckDbWarehouse({ path: wc.path, source: source.name, maxEventBytes: cfg.maxEventBytes, threads: cfg.duckdbThreads, memoryLimitBytes: cfg.duckdbMemoryLimit })
    : null;
  const big = bigquery && bqTarget
    ? new bigquery.BigQueryWarehouse({
        target: bqTarget,
        source: source.name,
        tables: bqTables,
        writers: cfg.bigqueryWriters, encodeThreads: cfg.bigqueryEncodeThreads, maxRequestBytes: cfg.bigqueryMaxRequestBytes, timeoutMs: cfg.bigqueryTimeoutMs, retryForMs: cfg.bigqueryRetryForMs,
        onRetry: (what, err, attempt) => {
          metrics()?.sinkRetry('bigquery');
          log.warn({ err: (err as Error).message, attempt }, `BigQuery: retrying ${what}`);
        },
        onRejected: (table, rows) => {
          metrics()?.sinkRejectedRows(`bigquery_${table}`, rows);
          log.warn({ table, rows }, 'BigQuery refused rows; they were written to events_dlq with error_code warehouse_rejected');
        },
        member: () => source.group?.memberId() ?? null,
        killAfterCommitRecord: faults.killAfterCommitRecord,
        stopBeforeCommitRecord: faults.stopBeforeCommitRecord,
        onCompacted: (rows, err) => {
          if (err) log.warn({ err: err.message }, 'BigQuery: could not clean up old gamestream_commits rows; retried in six hours');
          else if (rows > 0) log.info({ rows }, 'BigQuery: old gamestream_commits rows deleted');
        },
        onDdl: (r) => {
          for (const name of r.created) say(`BigQuery: created ${name}`);
          for (const u of r.updated) say(`BigQuery: updated ${u.table}: ${u.change}`);
        },
      })
    : null;
  const warehouse: Warehouse = (duck ?? big)!;
  const spool = createSpoolDir(cfg.spoolDir, wc.kind === 'duckdb' ? join(dirname(wc.path), '.spool') : tmpdir(), { maxUncommittedBytes: cfg.maxUncommittedBytes });
  if (spool.warning) log.warn({ spoolDir: spool.dir }, spool.warning);
  // The nightly DAG writes its features there: a folder that cannot be made stops this start, not the 02:00 run.
  if (etl.enabled && duck) makeDir(etl.exportDir, 'GAMESTREAM_ETL_EXPORT_DIR');
  const spoolDir = spool.dir;
  const outputs =
    kafka && copiesToKafka
      ? new kafka.KafkaOutputs({
          brokers: cfg.kafkaBrokers, clientId: cfg.kafkaClientId, enrichedTopic: cfg.kafkaEnrichedTopic,
          dlqTopic: cfg.kafkaDlqTopic, source: source.name, log,
          onPublished: (p) => {
            metrics()?.sinkFlush({ sink: 'kafka', durationMs: p.durationMs, rowsByTable: { events: p.sent.enriched, dlq: p.sent.dlq } });
            for (const kind of ['enriched', 'dlq'] as const) metrics()?.sinkRejectedRows(`kafka_${kind}`, p.skipped[kind]);
          },
        })
      : undefined;
  const confluentSchemas = cfg.avroSchemaDir ? loadSchemaDir(cfg.avroSchemaDir) : undefined;
  const index = new IdIndex({
    dir: cfg.dedupeDir ?? (wc.kind === 'duckdb' ? `${wc.path}.dedupe` : resolve('data', 'dedupe', `${wc.project}.${wc.dataset}`)),
    setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: cfg.dedupeHorizonMs, filterBytes: cfg.dedupeFilterBytes, log,
  });
  let sup: Supervisor | null = null;
  let buffers: { stop(): void } | null = null;
  let scheduler: Scheduler | null = null;
  let etlConnection: DuckDbConnection | null = null;
  let statusConnection: DuckDbConnection | null = null;
  // The status page's events per hour, counted on from one read to the next.
  const statusVolume = new HourlyVolume();
  // POST /sql's own connection: its reads never queue behind the commits, nor the commits behind them.
  let sqlConnection: DuckDbConnection | null = null;
  let sqlRunner: HaltableSqlRunner | null = null;
  const daemonFile = wc.kind === 'duckdb' ? daemonFilePath(wc.path) : null;
  const stopEtl = async (): Promise<void> => {
    await scheduler?.stop();
    scheduler = null;
    etlConnection?.closeSync();
    etlConnection = null;
    await obs.status.stopped();
    statusConnection?.closeSync();
    statusConnection = null;
    // A query still running is stopped, and the connection closed only once it has ended.
    const runner = sqlRunner;
    sqlRunner = null;
    await runner?.halt();
    sqlConnection?.closeSync();
    sqlConnection = null;
  };
  const obs = await startObservability({
    config: observability,
    log,
    health: () => sup?.health() ?? { source: { ok: false, detail: 'starting' }, warehouse: { ok: false, detail: 'starting' } },
    warehouse: async (): Promise<WarehouseView> => {
      if (big) return bigquery!.readBigQueryStatusView(big.bq, `\`${big.name.slice('bigquery:'.length)}\``);
      if (!statusConnection) throw new Error('the warehouse is not open yet');
      return readStatusView(statusConnection, Date.now(), statusVolume);
    },
    sql: {
      warehouse: warehouse.name,
      limits: { timeoutMs: cfg.sqlTimeoutMs, maxRows: cfg.sqlMaxRows },
      off: !cfg.sqlEndpoint
        ? 'POST /sql is off in this daemon (GAMESTREAM_SQL_ENDPOINT=off): set it to on and restart the daemon, or stop the daemon and query the file'
        : big ? `this daemon writes to BigQuery (${big.name}): gamestream sql queries BigQuery directly, with your own credentials` : null,
      run: (sql, limits, signal) => {
        if (!sqlRunner) throw new GamestreamError('warehouse_unavailable', 'the warehouse is not open yet (the daemon is starting or stopping); retry in a moment', { retryable: true });
        return sqlRunner(sql, limits, signal);
      },
    },
  });
  // A signal before the supervisor exists (a slow warehouse open) is kept for it: it then starts stopped.
  let stopAsked = false;
  const onSignal = onInterrupts((sig) => {
    say(`${sig}: draining (stop reading, flush, commit); press Ctrl-C again to exit at once`);
    stopAsked = true;
    sup?.requestStop();
    setTimeout(() => {
      // The ETL's statement in flight holds the stop too: say so, rather than blame the stream's drain.
      const etlDay = scheduler?.state().running;
      const what = etlDay ? `the ETL run of ${etlDay} (its statement in flight) and the drain took` : 'the drain took';
      say(`${what} longer than GAMESTREAM_SHUTDOWN_TIMEOUT (${cfg.shutdownTimeoutMs / 1000}s); exiting; the next start resumes from the last commit${etlDay ? `, and the ETL day ${etlDay} stays not done` : ''}`);
      process.exit(1);
    }, cfg.shutdownTimeoutMs).unref();
  }, (sig) => {
    say(`${sig} again: exiting without draining; the next start resumes from the last commit`);
    process.exit(SECOND_SIGNAL_EXIT);
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Test hook: a handle nobody closes, as a library might leave; main() must exit anyway.
  if (faults.leakHandle) setInterval(() => undefined, 1 << 30);
  // Everything started from here on is stopped in the finally, also when start-up itself fails.
  try {
    metricsReady = obs.metrics;
    if (obs.server) say(`metrics, health and status page on ${obs.server.url}`);
    if (faults.openDelayMs > 0) await sleep(faults.openDelayMs);
    // The daily ETL runs on its own connection to the same database, so the stream never waits on it.
    await warehouse.open();
    if (duck) {
      statusConnection = await duck.connect();
      if (cfg.sqlEndpoint) {
        sqlConnection = await duck.connect();
        sqlRunner = duckDbReadOnlyRunner(sqlConnection);
      }
      // The daemon holds the file's lock from here on: `gamestream sql` finds it by this file (sql/daemon-file.ts).
      writeDaemonFile(daemonFile!, {
        pid: process.pid, warehouse: duck.name, url: obs.server ? localUrl(obs.server.host, obs.server.port) : null,
        startedAt: new Date().toISOString(), version: GAMESTREAM_VERSION,
      });
    }
    void obs.status.readWarehouse();
    obs.metrics.setEtlEnabled(etl.enabled);
    if (etl.enabled && duck) {
      etlConnection = await duck.connect();
      scheduler = startScheduler({
        warehouse: duckdbEtlWarehouse(etlConnection), config: etl, log,
        onTask: (t) => obs.metrics.etlTask(t), onChecks: (day, c) => obs.metrics.etlChecks.set(day, c), ownSource: source.name, onWait: (w) => obs.metrics.setEtlWaiting(w), retryTables: true,
      });
    }
    if (etl.enabled && bigquery && big && bqTarget) {
      // The ETL's SQL runs in BigQuery, as jobs on the warehouse's REST client; the stream's writes never wait on it.
      if (etl.exportUri === null) say('ETL: export_features is skipped on BigQuery until GAMESTREAM_ETL_EXPORT_URI names a gs:// location');
      scheduler = startScheduler({
        warehouse: bigquery.bigQueryEtlWarehouse({ bq: big.bq, target: bqTarget, tables: bqTables }), config: etl, log,
        onTask: (t) => obs.metrics.etlTask(t), onChecks: (day, c) => obs.metrics.etlChecks.set(day, c), ownSource: source.name, onWait: (w) => obs.metrics.setEtlWaiting(w), retryTables: true,
      });
    }
    // Dead ArrayBuffers on this thread are collected once they pile up (see buffer-collector.ts).
    buffers = startBufferCollector({
      growthBytes: 128 * 2 ** 20, intervalMs: 1000,
      onCollect: (before, after, ms) => log.debug({ beforeMB: Math.round(before / 1e6), afterMB: Math.round(after / 1e6), ms: Math.round(ms) }, 'collected dead buffers'),
    });
    sup = new Supervisor({
      config: cfg, faults, source, warehouse, tables, spoolDir, log, say, outputs, confluentSchemas, metrics: obs.metrics, index,
      beforeClose: stopEtl,
    });
    if (stopAsked) sup.requestStop();
    const partitions = source.partitionedLog?.partitionCount || cfg.partitions;
    say(`source ${source.name} → ${warehouse.name}; ${partitions} partitions on ${Math.min(cfg.workers, partitions)} worker thread(s)`);
    const t = await sup.run();
    const secs = t.elapsedMs / 1000;
    say(
      `${t.endOfInput ? 'end of input' : 'stopped'}: ${fmt(t.recordsRouted)} records in ${secs.toFixed(1)}s ` +
        `(${fmt(Math.round(t.recordsRouted / Math.max(secs, 0.001)))}/s)` +
        (t.recordsSkipped > 0 ? `, ${fmt(t.recordsSkipped)} already in the warehouse were skipped` : '') +
        `; warehouse totals for this source: events ${fmt(t.events)}, dead letters ${fmt(t.deadLetters)}, ` +
        `duplicates dropped ${fmt(t.duplicates)}, late events ${fmt(t.lateEvents)}, window rows ${fmt(t.windowRows)}` +
        (t.workerRestarts > 0 ? `; worker restarts ${t.workerRestarts}` : '') +
        `; ${processCost(t.recordsRouted)}`,
    );
    const lost = source.lostNote?.() ?? null;
    if (lost) {
      log.warn({ source: source.name }, lost);
      say(lost);
    }
    const tail = t.endOfInput ? (source.unreadTail?.() ?? 0) : 0;
    if (tail > 0) {
      const msg = `the last line of the input has no newline and is not whole JSON (${fmt(tail)} bytes): it was not read, as its writer may not be done; a later run reads it once it ends with a newline or parses (add the newline to have it read, or dead-lettered, as it is)`;
      log.warn({ source: source.name, bytes: tail }, msg);
      say(msg);
    }
    return 0;
  } finally {
    if (daemonFile) removeDaemonFile(daemonFile);
    buffers?.stop();
    await stopEtl();
    // The supervisor closes the warehouse when it ran; this closes it also when start-up failed before that (a
    // dedupe directory that cannot be made). Closing twice is harmless.
    await warehouse.close().catch(() => undefined);
    await obs.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    removeSpoolDir(spoolDir);
    await source.close();
    tables.close();
  }
}
