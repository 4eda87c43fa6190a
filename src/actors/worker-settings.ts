/** What a worker thread is told at its start (the 'init' message), from the configuration and the source. */
import type { Faults } from '../config/faults.ts';
import type { Config } from '../config/schema.ts';
import { actorRules } from '../contract/rules.ts';
import type { ConfluentSchemas } from '../sources/kafka/schemas.ts';
import type { Source } from '../sources/source.ts';
import type { WorkerIndex, WorkerSettings } from './protocol.ts';

export interface WorkerStart {
  cfg: Config;
  source: Source;
  /** Confluent schema ids known now, or null when framed records are not decoded as Avro. */
  schemas: ConfluentSchemas | null;
  spoolDir: string;
  worker: number;
  /** 1 for the first thread of this worker, 2 after its first restart, … */
  incarnation: number;
  index: WorkerIndex;
  /** The users the warehouse may have (src/users/known-users.ts). */
  knownUsers: SharedArrayBuffer;
  /** Fault injection for tests: a worker that crashes after some batches. */
  crash: Faults['crashWorker'];
}

/**
 * A worker blocks while it reads user states; past this it gives up, dies and is restarted from the warehouse
 * (the warehouse adapters retry on their own first, within their timeouts).
 */
const USER_LOOKUP_TIMEOUT_MS = 60_000;

const NO_SCHEMA_SOURCE = 'no schema source is configured: set GAMESTREAM_SCHEMA_REGISTRY_URL or GAMESTREAM_AVRO_SCHEMA_DIR to read Confluent-framed Avro (the records dead-lettered so far stay in events_dlq)';

export function workerSettings(w: WorkerStart): WorkerSettings {
  const { cfg, source, schemas, crash } = w;
  return {
    workerIndex: w.worker,
    source: source.name,
    format: source.format,
    avroWriterSchema: source.avroWriterSchema,
    cutsOversized: source.cutsOversized === true,
    confluent: schemas
      ? { schemas: schemas.schemas, unusable: schemas.unusable, unknownHint: schemas.unknownHint }
      // A Kafka record that starts with a zero byte is Confluent-framed Avro (JSON never does): without a schema
      // source it is an unknown schema that says what to set, not "not valid JSON".
      : source.partitionedLog && source.format === 'ndjson' ? { schemas: {}, unusable: {}, unknownHint: NO_SCHEMA_SOURCE } : null,
    spoolDir: w.spoolDir,
    ...actorRules(cfg),
    flushRows: cfg.flushRows,
    flushIntervalMs: cfg.flushIntervalMs,
    // Fault injection fires in the first incarnation only (so the restarted worker can finish), unless the test
    // wants a crash loop.
    crashAfterBatches: crash && crash.worker === w.worker && (w.incarnation === 1 || crash.always) ? crash.afterBatches : null,
    logLevel: cfg.logLevel,
    index: w.index,
    knownUsers: w.knownUsers,
    userCache: Math.ceil(cfg.userStateCache / cfg.workers),
    userLookupTimeoutMs: USER_LOOKUP_TIMEOUT_MS,
  };
}
