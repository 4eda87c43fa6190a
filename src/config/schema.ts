/**
 * Every env var gamestream reads, parsed once at start. Errors name the variable, the value and what is allowed;
 * all of them are reported together so a bad deployment is fixed in one go.
 */
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import { LOG_FORMATS, type LogFormat } from '../log.ts';
import { GamestreamError } from '../errors.ts';
import { boolFlag, brokerList, byteSize, duration, fmtMs, fraction, httpUrlOrEmpty, integer, kafkaTopic, nonEmpty, oneOf, sizeSetting, ValueError, zeroIsOff } from './parsers.ts';
import { parseFaults } from './faults.ts';
import { parseVars, type VarSpec } from './vars.ts';

export type SourceConfig =
  | { kind: 'generator' }
  | { kind: 'file'; path: string; format: 'ndjson' | 'avro' }
  | { kind: 'kafka' };

export type WarehouseConfig = { kind: 'duckdb'; path: string } | { kind: 'bigquery'; project: string; dataset: string };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export interface Config {
  source: SourceConfig;
  warehouse: WarehouseConfig;
  partitions: number;
  workers: number;
  geoipDb: string | null; // null: enrichment off; 'default': the shipped database
  deviceTable: string | null;
  tableReloadIntervalMs: number;
  windowSizeMs: number;
  maxOutOfOrdernessMs: number;
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  dedupeHorizonMs: number;
  /** null: the default beside the warehouse. */
  dedupeDir: string | null;
  dedupeFilterBytes: number;
  userStateCache: number;
  futureToleranceMs: number;
  maxEventBytes: number;
  flushRows: number;
  flushIntervalMs: number;
  batchRecords: number;
  mailboxBatches: number;
  maxUncommittedBytes: number;
  spoolDir: string | null;
  duckdbThreads: number;
  duckdbMemoryLimit: number;
  progressIntervalMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  logFormat: LogFormat;
  shutdownTimeoutMs: number;
  restartLimit: number;
  restartWindowMs: number;
  generatorRate: number;
  generatorEvents: number;
  generatorSeed: number | null;
  generatorBadShare: number;
  kafkaBrokers: string[];
  kafkaTopic: string;
  kafkaGroup: string;
  kafkaClientId: string;
  kafkaStop: 'never' | 'caught-up';
  kafkaSessionTimeoutMs: number;
  /** null: the session timeout. */
  kafkaRebalanceTimeoutMs: number | null;
  avroSchemaDir: string | null;
  schemaRegistryUrl: string | null;
  schemaRegistryTimeoutMs: number;
  kafkaCreateTopics: boolean;
  kafkaRawPartitions: number;
  kafkaEnrichedPartitions: number;
  kafkaDlqPartitions: number;
  kafkaEnrichedTopic: string | null;
  kafkaDlqTopic: string | null;
  bigqueryEndpoint: string | null;
  bigqueryWriteEndpoint: string | null;
  bigqueryLocation: string;
  bigqueryPartitionExpirationDays: number | null;
  bigqueryRequirePartitionFilter: boolean;
  bigqueryWriters: number;
  bigqueryEncodeThreads: number;
  bigqueryMaxRequestBytes: number;
  bigqueryTimeoutMs: number;
  bigqueryRetryForMs: number;
  sqlEndpoint: boolean;
  sqlTimeoutMs: number;
  sqlMaxRows: number;
}

function v<K extends keyof Config>(spec: VarSpec<Config, K>): VarSpec<Config, K> {
  return spec;
}

function parseSource(raw: string): SourceConfig {
  const s = raw.trim();
  if (s === 'generator') return { kind: 'generator' };
  if (s.startsWith('file:') && s.length > 5) {
    const path = resolve(s.slice(5));
    return { kind: 'file', path, format: path.toLowerCase().endsWith('.avro') ? 'avro' : 'ndjson' };
  }
  if (s === 'kafka') return { kind: 'kafka' };
  throw new ValueError('generator, kafka, or file:<path> (NDJSON, or Avro when the path ends in .avro)');
}

function parseWarehouse(raw: string): WarehouseConfig {
  const s = raw.trim();
  if (s.startsWith('duckdb:') && s.length > 7) return { kind: 'duckdb', path: resolve(s.slice(7)) };
  if (s.startsWith('bigquery:')) {
    const rest = s.slice(9);
    const dot = rest.lastIndexOf('.');
    const project = rest.slice(0, dot);
    const dataset = rest.slice(dot + 1);
    // Project ids may carry a domain prefix (example.com:my-project); dataset ids are letters, digits and _.
    if (dot > 0 && /^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{3,61}[a-z0-9]$/.test(project) && /^[A-Za-z0-9_]{1,1024}$/.test(dataset)) {
      return { kind: 'bigquery', project, dataset };
    }
  }
  throw new ValueError('duckdb:<path> (for example duckdb:./data/gamestream.duckdb) or bigquery:<project>.<dataset> (for example bigquery:my-project.game_analytics)');
}

function pathOrOff(raw: string): string | null {
  const s = nonEmpty(raw);
  if (s === 'off') return null;
  if (s === 'default') return 'default';
  return resolve(s);
}



/** An http(s) URL without query or fragment: they would end up inside every request path. */
function registryUrl(raw: string): string | null {
  const url = httpUrlOrEmpty(raw);
  if (url && (url.includes('?') || url.includes('#'))) throw new ValueError('an http(s) URL without ?query or #fragment, or empty');
  return url;
}

/** Errors may name the URL as given, never its password. */
function showRegistryUrl(raw: string): string {
  return JSON.stringify(raw.replace(/^([^:/?#]+:\/\/[^:/?#@]*:)[^/?#]*@/, '$1***@'));
}

function topicOrOff(raw: string): string | null {
  return raw.trim() === 'off' ? null : kafkaTopic(raw);
}


export const ENV_VARS = [
  v({ name: 'GAMESTREAM_SOURCE', key: 'source', default: 'generator', allowed: 'generator | kafka | file:<path>',
    doc: 'Where events come from. file: reads NDJSON, or an Avro object container file when the path ends in .avro; one file, not compressed (a gzip file is refused: decompress it first); at the end of the file every open window is written as it stands (a later run over the grown file completes it) and the process exits 0. kafka: the GAMESTREAM_KAFKA_* settings.', parse: parseSource }),
  v({ name: 'GAMESTREAM_WAREHOUSE', key: 'warehouse', default: 'duckdb:./data/gamestream.duckdb', allowed: 'duckdb:<path> | bigquery:<project>.<dataset>',
    doc: 'Where rows are written. DuckDB: the file and its folder are created when missing. BigQuery: the dataset and tables are created when missing and verified when present (the GAMESTREAM_BIGQUERY_* settings).', parse: parseWarehouse }),
  v({ name: 'GAMESTREAM_PARTITIONS', key: 'partitions', default: '64', allowed: '1–4096',
    doc: 'Partition count for non-Kafka sources; records are placed as Kafka\'s default partitioner would place them by user_id.', parse: integer(1, 4096) }),
  v({ name: 'GAMESTREAM_WORKERS', key: 'workers', default: () => String(Math.max(1, availableParallelism() - 1)), allowed: '1–64',
    doc: 'Worker threads hosting the partition actors. Default: the number of cores less one (at least one), which leaves a core to the supervisor and DuckDB: on 2 cores one worker used 12% less CPU than two for the same throughput (docs/PERFORMANCE.md).', parse: integer(1, 64) }),
  v({ name: 'GAMESTREAM_GEOIP_DB', key: 'geoipDb', default: 'default', allowed: 'a path to a .mmdb (or .mmdb.gz) file | default | off',
    doc: 'MaxMind DB for country/region/city. Official GeoIP2/GeoLite2 City or Country layout, or the flat @ip-location-db layout. default: the bundled CC0 country database.', parse: pathOrOff }),
  v({ name: 'GAMESTREAM_DEVICE_TABLE', key: 'deviceTable', default: 'default', allowed: 'a path to a CSV file | default | off',
    doc: 'CSV with the header device_model,category,performance_tier. default: assets/devices.csv.', parse: pathOrOff }),
  v({ name: 'GAMESTREAM_TABLE_RELOAD_INTERVAL', key: 'tableReloadIntervalMs', default: '5s', allowed: '100ms–1h',
    doc: 'How often the GeoIP and device files are checked for changes; a changed file is reloaded without a restart.', parse: duration(100, 3_600_000) }),
  v({ name: 'GAMESTREAM_WINDOW_SIZE', key: 'windowSizeMs', default: '60s', allowed: '1s–1d, dividing one day',
    doc: 'Tumbling window size in event time. A source keeps the size its windows were cut by: a start with another size for a source the warehouse has is refused.', parse: duration(1000, 86_400_000) }),
  v({ name: 'GAMESTREAM_MAX_OUT_OF_ORDERNESS', key: 'maxOutOfOrdernessMs', default: '10s', allowed: '0–1h',
    doc: 'Bounded out-of-orderness: a partition\'s watermark is its maximum event time minus this.', parse: duration(0, 3_600_000) }),
  v({ name: 'GAMESTREAM_ALLOWED_LATENESS', key: 'allowedLatenessMs', default: '60s', allowed: '0–1d',
    doc: 'A window is emitted when the watermark passes its end plus this; later events for it are counted as late.', parse: duration(0, 86_400_000) }),
  v({ name: 'GAMESTREAM_IDLE_TIMEOUT', key: 'idleTimeoutMs', default: '60s', allowed: '1s–1d',
    doc: 'A partition with no records for this long (wall clock) is idle and no longer holds back the engine watermark.', parse: duration(1000, 86_400_000) }),
  v({ name: 'GAMESTREAM_DEDUPE_HORIZON', key: 'dedupeHorizonMs', default: '7d', allowed: '0–365d',
    doc: 'Event-time horizon within which an event id the warehouse already holds (from any source, path, topic or run) is dropped as a duplicate. The ids are kept on disk in the dedupe index (GAMESTREAM_DEDUPE_DIR), 32 bytes each.', parse: duration(0, 365 * 86_400_000) }),
  v({ name: 'GAMESTREAM_DEDUPE_DIR', key: 'dedupeDir', default: '', allowed: 'a directory path, or empty for the default',
    doc: 'Where the dedupe index lives; one daemon per directory. Default: beside the DuckDB file (<file>.dedupe), or ./data/dedupe/<project>.<dataset> with BigQuery. Deleting it is safe: it is rebuilt from the warehouse at the next start.', parse: (raw) => (raw.trim() === '' ? null : resolve(raw.trim())) }),
  v({ name: 'GAMESTREAM_DEDUPE_FILTER_MEMORY', key: 'dedupeFilterBytes', default: '256MiB', allowed: '64KiB–16GiB',
    doc: 'The most memory the dedupe index\'s filter may take (it answers "new id" without a disk read; it starts at 1 MiB and grows with the index). At 16 bits per id in the horizon, disk reads for new ids stay near 0.1%; with more ids they grow, and duplicates are still all found.', parse: byteSize(64 * 1024, 16 * 1024 ** 3) }),
  v({ name: 'GAMESTREAM_USER_STATE_CACHE', key: 'userStateCache', default: '250000', allowed: '1000–100000000',
    doc: 'User states (install time, first purchase) the daemon keeps in memory, shared over the worker threads, about 150 bytes each with UUID ids (98 of V8\'s heap and 45 in typed arrays). A user not kept is read from the warehouse\'s users table when its next event comes, so this bounds memory, not what is remembered.', parse: integer(1000, 100_000_000) }),
  v({ name: 'GAMESTREAM_FUTURE_TOLERANCE', key: 'futureToleranceMs', default: '1h', allowed: '0–7d',
    doc: 'Events further ahead of the wall clock are dead-lettered as future_timestamp.', parse: duration(0, 7 * 86_400_000) }),
  v({ name: 'GAMESTREAM_MAX_EVENT_BYTES', key: 'maxEventBytes', default: '1MiB', allowed: '1KiB–64MiB',
    doc: 'Larger records are dead-lettered as too_large, keeping only their first 64 KiB (or this limit, if smaller), size and SHA-256.', parse: byteSize(1024, 64 * 1024 ** 2) }),
  v({ name: 'GAMESTREAM_FLUSH_ROWS', key: 'flushRows', default: '200000', allowed: '1–10000000',
    doc: 'A worker flushes to the warehouse when this many rows are buffered…', parse: integer(1, 10_000_000) }),
  v({ name: 'GAMESTREAM_FLUSH_INTERVAL', key: 'flushIntervalMs', default: '1s', allowed: '10ms–5m',
    doc: '…or when this much time has passed since its last flush (and, at most every 100 ms, as soon as windows have closed). At a steady 50k events/s the 1s default met the freshness targets in the latest runs, and 500ms cost 20–27% more CPU (PERFORMANCE.md).', parse: duration(10, 300_000) }),
  v({ name: 'GAMESTREAM_BATCH_RECORDS', key: 'batchRecords', default: '4096', allowed: '1–1000000',
    doc: 'Records per batch handed from the source to a worker thread.', parse: integer(1, 1_000_000) }),
  v({ name: 'GAMESTREAM_MAILBOX_BATCHES', key: 'mailboxBatches', default: '32', allowed: '1–1024',
    doc: 'Batches sent to a worker thread that it has not processed yet. More wait in the supervisor; with Kafka, once a whole mailbox more waits, that worker\'s partitions pause until it catches up (backpressure). All of it counts against GAMESTREAM_MAX_UNCOMMITTED_BYTES. An NDJSON file (or a dead-letter replay) keeps at most 8 unread batches ahead of each worker whatever this is.', parse: integer(1, 1024) }),
  v({ name: 'GAMESTREAM_MAX_UNCOMMITTED_BYTES', key: 'maxUncommittedBytes', default: '256MiB', allowed: '1MiB–16GiB',
    doc: 'Source bytes not yet durably in the warehouse (kept for replay, or waiting for a worker); when reached, the source waits. An NDJSON file\'s batches (and a dead-letter replay\'s) and Kafka\'s count too, though once read they are kept as file positions or offsets and read or fetched again after a worker crash.', parse: byteSize(1024 ** 2, 16 * 1024 ** 3) }),
  v({ name: 'GAMESTREAM_SPOOL_DIR', key: 'spoolDir', default: '', allowed: 'a directory path, or empty for the default',
    doc: 'Scratch space for the row files workers hand to the warehouse; they wait there for their commit: the rows of the records not yet committed, about 1.5 times GAMESTREAM_MAX_UNCOMMITTED_BYTES at most. Default: /dev/shm when it has that much room free, else a folder beside the DuckDB file (the system temporary folder with BigQuery), with a warning. A spool that fills up makes its worker fail with spool_full and start again; the daemon stops (crash_loop) when that repeats.', parse: (raw) => (raw.trim() === '' ? null : resolve(raw.trim())) }),
  v({ name: 'GAMESTREAM_DUCKDB_THREADS', key: 'duckdbThreads', default: '1', allowed: '1–256',
    doc: 'Threads DuckDB may use for loading rows and for queries. One leaves the other cores to the workers: with two, loads used 40% more CPU on 2 cores for no gain (docs/PERFORMANCE.md).', parse: integer(1, 256) }),
  v({ name: 'GAMESTREAM_DUCKDB_MEMORY_LIMIT', key: 'duckdbMemoryLimit', default: '128MiB', allowed: '64MiB–1024GiB',
    doc: 'The most memory DuckDB\'s buffer manager may hold (its own default is 80% of the machine\'s RAM). It keeps the blocks it wrote until this limit makes it evict them, so a long-running daemon holds all of it; loads need little of it (at 50k events/s, 256 MiB against 1 GiB cost no CPU or freshness and held 740–850 MB less RSS, and 128 MiB against 256 MiB held 65–136 MB less but, in two pairs of 30-minute soaks, used 3.6–3.8% more CPU, more as the table grew: 256MiB suits a long-running daemon at a high rate, docs/PERFORMANCE.md). A query that needs more spills to a folder beside the DuckDB file, or fails with DuckDB\'s out-of-memory error when it cannot spill: raise it for large ad-hoc queries or a daily ETL that fails so (the ETL in the daemon and `gamestream sql` share it). It is what DuckDB has for its own work: the daemon adds 112 bytes for each player in the users table and raises the limit as players arrive, since DuckDB holds that table\'s key index (about 90 bytes a player) in memory whole and cannot evict it (with 128 MiB alone, about 1.3 million players failed every commit); gamestream_duckdb_memory_limit_bytes shows the limit in force. It must be at least GAMESTREAM_DUCKDB_THREADS × 32MiB + 32MiB (more with GAMESTREAM_MAX_EVENT_BYTES over 7.5MiB: DuckDB\'s reader takes twice the largest row per thread), which is checked at start.', parse: byteSize(64 * 1024 ** 2, 1024 ** 4) }),
  v({ name: 'GAMESTREAM_PROGRESS_INTERVAL', key: 'progressIntervalMs', default: '5s', allowed: '0 (off) or 100ms–1h',
    doc: 'How often the progress line is printed.', parse: (raw) => (raw.trim() === '0' ? 0 : duration(100, 3_600_000)(raw)) }),
  v({ name: 'GAMESTREAM_LOG_LEVEL', key: 'logLevel', default: 'info', allowed: LOG_LEVELS.join(' | '),
    doc: 'Level of the logs on stderr.', parse: oneOf(LOG_LEVELS) }),
  v({ name: 'GAMESTREAM_LOG_FORMAT', key: 'logFormat', default: 'auto', allowed: LOG_FORMATS.join(' | '),
    doc: 'The logs on stderr: json (one pino JSON object a line, for log collectors), text (one readable line an entry), or auto: text on a terminal, json otherwise.', parse: oneOf(LOG_FORMATS) }),
  v({ name: 'GAMESTREAM_SHUTDOWN_TIMEOUT', key: 'shutdownTimeoutMs', default: '30s', allowed: '1s–1h',
    doc: 'After SIGTERM/SIGINT, how long the drain (flush, commit, leave the Kafka group) may take before the process exits with code 1; the next start resumes from the last commit either way.', parse: duration(1000, 3_600_000) }),
  v({ name: 'GAMESTREAM_RESTART_LIMIT', key: 'restartLimit', default: '5', allowed: '0–1000',
    doc: 'Crash-loop guard: at most this many worker restarts within GAMESTREAM_RESTART_WINDOW, then the daemon stops with an error.', parse: integer(0, 1000) }),
  v({ name: 'GAMESTREAM_RESTART_WINDOW', key: 'restartWindowMs', default: '60s', allowed: '1s–1d',
    doc: 'The window of the crash-loop guard.', parse: duration(1000, 86_400_000) }),
  v({ name: 'GAMESTREAM_GENERATOR_RATE', key: 'generatorRate', default: '20000', allowed: '1–10000000',
    doc: 'Events per second from the generator source.', parse: integer(1, 10_000_000) }),
  v({ name: 'GAMESTREAM_GENERATOR_EVENTS', key: 'generatorEvents', default: '0', allowed: '0 (endless) or a count',
    doc: 'Stop the generator after this many events and finish like the end of a file.', parse: integer(0, Number.MAX_SAFE_INTEGER) }),
  v({ name: 'GAMESTREAM_GENERATOR_SEED', key: 'generatorSeed', default: '', allowed: 'empty (random) or a whole number',
    doc: 'Seed of the generator, for reproducible demos.', parse: (raw) => (raw.trim() === '' ? null : integer(0, 2 ** 32 - 1)(raw)) }),
  v({ name: 'GAMESTREAM_GENERATOR_BAD_SHARE', key: 'generatorBadShare', default: '0.005', allowed: '0–1',
    doc: 'Share of generated records that are defective (bad JSON, missing fields, bad timestamps, …).', parse: fraction() }),
  v({ name: 'GAMESTREAM_KAFKA_BROKERS', key: 'kafkaBrokers', default: '', allowed: 'host:port[,host:port…]',
    doc: 'Kafka bootstrap servers; required when GAMESTREAM_SOURCE=kafka.', parse: brokerList }),
  v({ name: 'GAMESTREAM_KAFKA_TOPIC', key: 'kafkaTopic', default: 'game-events-raw', allowed: 'a Kafka topic name',
    doc: 'The topic of raw events.', parse: kafkaTopic }),
  v({ name: 'GAMESTREAM_KAFKA_GROUP', key: 'kafkaGroup', default: 'gamestream', allowed: 'a consumer group id',
    doc: 'Consumer group. Daemons in one group share the partitions.', parse: nonEmpty }),
  v({ name: 'GAMESTREAM_KAFKA_CLIENT_ID', key: 'kafkaClientId', default: () => `gamestream-${hostname()}`, allowed: 'a client id',
    doc: 'Kafka client id, shown in broker logs and quotas. Default: gamestream-<hostname>.', parse: nonEmpty }),
  v({ name: 'GAMESTREAM_KAFKA_SESSION_TIMEOUT', key: 'kafkaSessionTimeoutMs', default: '30s', allowed: '6s–5m (the broker\'s group session limits apply)',
    doc: 'How long the group waits for a silent member (a killed daemon) before giving its partitions to the others.', parse: duration(6000, 300_000) }),
  v({ name: 'GAMESTREAM_KAFKA_REBALANCE_TIMEOUT', key: 'kafkaRebalanceTimeoutMs', default: '', allowed: 'empty (the session timeout) or 1s–5m',
    doc: 'How long a rebalance waits for the members to rejoin. A member that stalls (SIGSTOP, a frozen VM) right after it rejoined is only dropped once this has passed and then its session has run out, so this bounds how long its partitions wait: they move within this plus GAMESTREAM_KAFKA_SESSION_TIMEOUT. A daemon rejoins within a heartbeat (a tenth of the session timeout), so the default is ample.',
    parse: (raw) => (raw.trim() === '' ? null : duration(1000, 300_000)(raw)) }),
  v({ name: 'GAMESTREAM_AVRO_SCHEMA_DIR', key: 'avroSchemaDir', default: '', allowed: 'a directory of <schema id>.avsc files, or empty',
    doc: 'Kafka records in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body) are decoded with <id>.avsc from this folder; JSON records on the same topic are read as JSON.', parse: (raw) => (raw.trim() === '' ? null : resolve(raw.trim())) }),
  v({ name: 'GAMESTREAM_SCHEMA_REGISTRY_URL', key: 'schemaRegistryUrl', default: '', allowed: 'an http(s) URL of a Confluent-compatible schema registry API, or empty',
    doc: 'Confluent-framed Avro records whose schema id is not in GAMESTREAM_AVRO_SCHEMA_DIR (which wins when both are set) are decoded with the schema from GET <url>/schemas/ids/<id>, fetched once per id. Basic auth: https://user:password@host/… (never logged). While the registry cannot answer, records wait and the source backs off; an id it answers "not found" for is dead-lettered as unknown_schema.',
    parse: registryUrl, show: showRegistryUrl }),
  v({ name: 'GAMESTREAM_SCHEMA_REGISTRY_TIMEOUT', key: 'schemaRegistryTimeoutMs', default: '10s', allowed: '100ms–5m',
    doc: 'Time limit of one schema registry request; a request that exceeds it is retried with backoff like an outage.', parse: duration(100, 300_000) }),
  v({ name: 'GAMESTREAM_KAFKA_CREATE_TOPICS', key: 'kafkaCreateTopics', default: 'on', allowed: 'on | off',
    doc: 'At start, create the raw, enriched and dead-letter topics when missing (partitions below, retention 7, 3 and 30 days as in the seed) and verify them when present: fewer partitions than configured stops the daemon.', parse: boolFlag }),
  v({ name: 'GAMESTREAM_KAFKA_RAW_PARTITIONS', key: 'kafkaRawPartitions', default: '64', allowed: '1–10000',
    doc: 'Partitions of GAMESTREAM_KAFKA_TOPIC when it is created or verified.', parse: integer(1, 10_000) }),
  v({ name: 'GAMESTREAM_KAFKA_ENRICHED_PARTITIONS', key: 'kafkaEnrichedPartitions', default: '64', allowed: '1–10000',
    doc: 'Partitions of the enriched topic when it is created or verified.', parse: integer(1, 10_000) }),
  v({ name: 'GAMESTREAM_KAFKA_DLQ_PARTITIONS', key: 'kafkaDlqPartitions', default: '8', allowed: '1–10000',
    doc: 'Partitions of the dead-letter topic when it is created or verified.', parse: integer(1, 10_000) }),
  v({ name: 'GAMESTREAM_KAFKA_ENRICHED_TOPIC', key: 'kafkaEnrichedTopic', default: 'game-events-enriched', allowed: 'a topic name | off',
    doc: 'When GAMESTREAM_KAFKA_BROKERS is set, every event written to the warehouse is also published here as its JSON row, key user_id (at least once while the daemon runs, not across a crash: docs/ARCHITECTURE.md, "Copies to Kafka").', parse: topicOrOff }),
  v({ name: 'GAMESTREAM_KAFKA_DLQ_TOPIC', key: 'kafkaDlqTopic', default: 'game-events-dlq', allowed: 'a topic name | off',
    doc: 'When GAMESTREAM_KAFKA_BROKERS is set, every dead letter is also published here: the raw record (IPs masked) as the value, the reason in headers (at least once while the daemon runs, not across a crash).', parse: topicOrOff }),
  v({ name: 'GAMESTREAM_KAFKA_STOP', key: 'kafkaStop', default: 'never', allowed: 'never | caught-up',
    doc: 'caught-up: once every partition of the topic has reached the end offset it had at start (partitions held by another member count by the warehouse checkpoints), finish like the end of a file (write every open window, commit, exit 0; a later run on more records completes those windows). For backfills and tests by one daemon.', parse: oneOf(['never', 'caught-up'] as const) }),
  v({ name: 'GAMESTREAM_BIGQUERY_ENDPOINT', key: 'bigqueryEndpoint', default: '', allowed: 'empty (Google, with Application Default Credentials) or an http(s) URL',
    doc: 'BigQuery REST endpoint. Set it (with GAMESTREAM_BIGQUERY_WRITE_ENDPOINT) for an emulator: the clients then send a dummy token instead of credentials.', parse: httpUrlOrEmpty }),
  v({ name: 'GAMESTREAM_BIGQUERY_WRITE_ENDPOINT', key: 'bigqueryWriteEndpoint', default: '', allowed: 'empty (Google) or an http:// (plaintext gRPC) or https:// URL',
    doc: 'Storage Write API (gRPC) endpoint of an emulator, for example http://127.0.0.1:9060.', parse: httpUrlOrEmpty }),
  v({ name: 'GAMESTREAM_BIGQUERY_LOCATION', key: 'bigqueryLocation', default: 'US', allowed: 'a BigQuery location (US, EU, europe-west1, …)',
    doc: 'Where the dataset is created when it is missing, and where queries run.', parse: nonEmpty }),
  v({ name: 'GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS', key: 'bigqueryPartitionExpirationDays', default: '365', allowed: '1–36500, or 0 (partitions never expire)',
    doc: 'partition_expiration_days of events, events_dlq, events_agg_1min, level_metrics, user_daily_metrics and revenue_daily; an existing table is updated to it at start.', parse: zeroIsOff(integer(0, 36_500)) }),
  v({ name: 'GAMESTREAM_BIGQUERY_REQUIRE_PARTITION_FILTER', key: 'bigqueryRequirePartitionFilter', default: 'on', allowed: 'on | off',
    doc: 'require_partition_filter of the same tables: queries must filter on the partition column, so nobody scans a year by accident.', parse: boolFlag }),
  v({ name: 'GAMESTREAM_BIGQUERY_WRITERS', key: 'bigqueryWriters', default: '4', allowed: '1–64',
    doc: 'Storage Write streams (each on its own connection) that may carry one table\'s rows of a commit in parallel; a connection carries about 10 MB/s.', parse: integer(1, 64) }),
  v({ name: 'GAMESTREAM_BIGQUERY_ENCODE_THREADS', key: 'bigqueryEncodeThreads', default: '1', allowed: '0–16 (0: on the supervisor thread)',
    doc: 'Threads (a piscina pool) that turn the workers\' row files into Storage Write rows, about 6–7 µs a row, so that this CPU work stays off the supervisor thread.', parse: integer(0, 16) }),
  v({ name: 'GAMESTREAM_BIGQUERY_MAX_REQUEST_BYTES', key: 'bigqueryMaxRequestBytes', default: '8MiB', allowed: '256KiB–19MiB',
    doc: 'Rows per AppendRows request are capped at this size (the API refuses requests over 20 MB).', parse: byteSize(256 * 1024, 19 * 1024 ** 2) }),
  v({ name: 'GAMESTREAM_BIGQUERY_TIMEOUT', key: 'bigqueryTimeoutMs', default: '60s', allowed: '1s–10m',
    doc: 'Deadline of one BigQuery call (an append, a stream commit, a query); a call that takes longer is retried.', parse: duration(1000, 600_000) }),
  v({ name: 'GAMESTREAM_BIGQUERY_RETRY_FOR', key: 'bigqueryRetryForMs', default: 'forever', allowed: 'forever | 1s–7d',
    doc: 'How long transient BigQuery failures (UNAVAILABLE, 429, 5xx, timeouts) are retried, with capped exponential back-off and jitter, before the daemon stops with an error. Meanwhile the partitions pause, so memory stays bounded.', parse: (raw) => (raw.trim() === 'forever' ? Infinity : duration(1000, 7 * 86_400_000)(raw)) }),
  v({ name: 'GAMESTREAM_SQL_ENDPOINT', key: 'sqlEndpoint', default: 'on', allowed: 'on | off',
    doc: 'POST /sql on the observability server (GAMESTREAM_METRICS_PORT): read-only queries of a DuckDB warehouse while the daemon holds it, for `gamestream sql`. Answers loopback clients only, never a browser. off: the endpoint answers 404 and `gamestream sql` says to stop the daemon or turn it on.', parse: boolFlag }),
  v({ name: 'GAMESTREAM_SQL_TIMEOUT', key: 'sqlTimeoutMs', default: '30s', allowed: '100ms–10m',
    doc: 'Longest a `gamestream sql` query (or POST /sql) may run; then it is interrupted (on BigQuery: the job is cancelled) and the command fails with sql_timeout. The daemon applies the lower of its own value and the one the command sends.', parse: duration(100, 600_000) }),
  v({ name: 'GAMESTREAM_SQL_MAX_ROWS', key: 'sqlMaxRows', default: '10000', allowed: '1–1000000',
    doc: 'Most rows a `gamestream sql` query returns; a longer result is cut there and the command says so on stderr. The daemon applies the lower of its own value and the one the command sends.', parse: integer(1, 1_000_000) }),
] as const;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { values, problems } = parseVars<Config>(ENV_VARS as readonly VarSpec<Config, keyof Config>[], env);
  // The test-only fault variables are checked here too, so that every problem is reported at once.
  problems.push(...parseFaults(env, (values.workers as number | undefined) ?? Number.MAX_SAFE_INTEGER).problems);
  if (problems.length === 0) problems.push(...crossFieldProblems(values as Config));
  if (problems.length > 0) {
    throw new GamestreamError('config_invalid', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return values as Config;
}

function crossFieldProblems(c: Config): string[] {
  const out: string[] = [];
  if (86_400_000 % c.windowSizeMs !== 0) {
    out.push(`GAMESTREAM_WINDOW_SIZE=${fmtMs(c.windowSizeMs)} must divide one day exactly, so that windows never straddle midnight (e.g. 10s, 1m, 5m, 1h)`);
  }
  if (c.source.kind === 'kafka' && c.kafkaBrokers.length === 0) {
    out.push('GAMESTREAM_SOURCE=kafka needs GAMESTREAM_KAFKA_BROKERS (for example 127.0.0.1:9092)');
  }
  if (c.source.kind !== 'kafka' && c.workers > c.partitions) {
    out.push(`GAMESTREAM_WORKERS=${c.workers} exceeds GAMESTREAM_PARTITIONS=${c.partitions}: a worker would have no partition`);
  }
  if (c.idleTimeoutMs <= c.flushIntervalMs) {
    out.push(`GAMESTREAM_IDLE_TIMEOUT=${fmtMs(c.idleTimeoutMs)} must be longer than GAMESTREAM_FLUSH_INTERVAL=${fmtMs(c.flushIntervalMs)}`);
  }
  if (c.maxUncommittedBytes < 4 * c.maxEventBytes) {
    out.push(`GAMESTREAM_MAX_UNCOMMITTED_BYTES (${c.maxUncommittedBytes}) must be at least 4 × GAMESTREAM_MAX_EVENT_BYTES (${c.maxEventBytes})`);
  }
  if ((c.bigqueryEndpoint === null) !== (c.bigqueryWriteEndpoint === null)) {
    out.push('GAMESTREAM_BIGQUERY_ENDPOINT and GAMESTREAM_BIGQUERY_WRITE_ENDPOINT go together: set both (an emulator) or neither (Google)');
  }
  if (c.warehouse.kind !== 'bigquery' && (c.bigqueryEndpoint !== null || c.bigqueryWriteEndpoint !== null)) {
    out.push(`GAMESTREAM_BIGQUERY_ENDPOINT is set, but GAMESTREAM_WAREHOUSE=${c.warehouse.kind}:…; use GAMESTREAM_WAREHOUSE=bigquery:<project>.<dataset>`);
  }
  const load = duckDbLoadBytes(c.duckdbThreads, c.maxEventBytes);
  if (c.warehouse.kind === 'duckdb' && c.duckdbMemoryLimit < load.need) {
    out.push(`GAMESTREAM_DUCKDB_MEMORY_LIMIT=${sizeSetting(c.duckdbMemoryLimit)} is too small for GAMESTREAM_DUCKDB_THREADS=${c.duckdbThreads} and GAMESTREAM_MAX_EVENT_BYTES=${sizeSetting(c.maxEventBytes)}: `
      + `each DuckDB thread that loads rows takes ${sizeSetting(load.perThread)} (twice the largest row it may read, 32MiB at least) and a commit needs 32MiB more, so every commit would fail. `
      + `Set it to at least ${sizeSetting(load.need)}, or lower GAMESTREAM_DUCKDB_THREADS or GAMESTREAM_MAX_EVENT_BYTES`);
  }
  if (c.warehouse.kind === 'bigquery' && c.bigqueryMaxRequestBytes < 2 * c.maxEventBytes + 128 * 1024) {
    out.push(`GAMESTREAM_BIGQUERY_MAX_REQUEST_BYTES (${c.bigqueryMaxRequestBytes}) must be at least 2 × GAMESTREAM_MAX_EVENT_BYTES + 128KiB (${2 * c.maxEventBytes + 128 * 1024}), so that any row fits a request`);
  }
  return out;
}

const MIB = 2 ** 20;

/**
 * The memory DuckDB's loads need under its limit: its JSON reader takes a buffer of twice the largest object it may
 * read (the warehouse reads rows of up to 2 × GAMESTREAM_MAX_EVENT_BYTES + 1 MiB), 32 MiB at least, for each
 * thread, and a commit needs about 32 MiB besides. Measured with DuckDB 1.5: one thread loads at 64 MiB and two at
 * 96 MiB, but two at 64 MiB, or 32 MiB events at 128 MiB, failed every commit with DuckDB's out-of-memory error.
 */
export function duckDbLoadBytes(threads: number, maxEventBytes: number): { perThread: number; need: number } {
  const perThread = Math.max(32 * MIB, 2 * (2 * maxEventBytes + MIB));
  return { perThread, need: threads * perThread + 32 * MIB };
}
