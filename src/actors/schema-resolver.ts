/**
 * Confluent schema ids from the schema registry, resolved on the supervisor thread before records are routed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { SchemaRegistryClient } from '../sources/kafka/schema-registry.ts';
import { ConfluentSchemas } from '../sources/kafka/schemas.ts';
import type { RecordChunk } from '../sources/source.ts';
import type { ToWorker } from './protocol.ts';

/** Backoff between schema registry attempts while it cannot answer. */
const REGISTRY_RETRY_MIN_MS = 250;
const REGISTRY_RETRY_MAX_MS = 10_000;

export interface SchemaResolverOptions {
  log: Logger;
  /** Sends a message to every worker, in mailbox order with the batches. */
  postToWorkers: (msg: ToWorker) => void;
  stopped: () => boolean;
}

export class SchemaResolver {
  private readonly store: ConfluentSchemas;
  private readonly o: SchemaResolverOptions;
  /** Set while records wait for the registry (for /readyz). */
  problem: string | null = null;

  constructor(store: ConfluentSchemas, o: SchemaResolverOptions) {
    this.store = store;
    this.o = o;
  }

  /**
   * Before a chunk is routed, every Confluent schema id in it that the workers do not know is asked of the
   * registry, and the answers reach every worker before the chunk's batches do (same mailbox, in order). So
   * each record is decoded against the same schemas whichever worker or replay handles it. While the registry
   * cannot answer, the chunk waits, and with it the source (backpressure): an outage dead-letters nothing.
   * Returns false when a stop came meanwhile; the chunk is then not routed and is read again on the next start.
   */
  async resolve(chunk: RecordChunk): Promise<boolean> {
    const store = this.store;
    let ids = store.unresolved(chunk.data, chunk.starts, chunk.ends, chunk.count, Date.now());
    let delayMs = REGISTRY_RETRY_MIN_MS;
    for (let attempt = 1; ids.length > 0; attempt++) {
      const r = await store.resolve(ids, Date.now());
      if (Object.keys(r.schemas).length + Object.keys(r.unusable).length > 0) {
        this.o.postToWorkers({ t: 'schemas', schemas: r.schemas, unusable: r.unusable });
      }
      if (Object.keys(r.schemas).length > 0) this.o.log.info({ ids: Object.keys(r.schemas).map(Number) }, 'schemas resolved from the schema registry');
      if (Object.keys(r.unusable).length > 0) {
        this.o.log.warn({ unusable: r.unusable }, 'schema ids that are not usable Avro; their records are dead-lettered as unknown_schema');
      }
      if (r.notFound.length > 0) {
        this.o.log.warn({ ids: r.notFound.slice(0, 20) }, 'schema ids the schema registry does not have; their records are dead-lettered as unknown_schema');
      }
      if (r.failed.length === 0) break;
      const err = r.error as Error;
      this.problem = err?.message ?? String(err);
      this.o.log.warn({ err: this.problem, ids: r.failed.length, attempt, retryInMs: delayMs }, 'schema registry cannot answer; holding records back and retrying');
      for (const until = Date.now() + delayMs; Date.now() < until && !this.o.stopped(); ) await sleep(Math.min(100, until - Date.now()));
      if (this.o.stopped()) return false;
      delayMs = Math.min(delayMs * 2, REGISTRY_RETRY_MAX_MS);
      ids = r.failed;
    }
    if (this.problem) {
      this.problem = null;
      this.o.log.info('the schema registry answers again; records flow');
    }
    return true;
  }
}

/**
 * The schemas a daemon decodes Confluent-framed records with: those of GAMESTREAM_AVRO_SCHEMA_DIR and, with
 * GAMESTREAM_SCHEMA_REGISTRY_URL, those the registry has, asked for as records need them (a resolver, for
 * sources whose records may be framed: JSON, that is Kafka; an Avro file's datums may start with a zero byte
 * too). Both null when neither is configured: a framed Kafka record is then an unknown schema that names the
 * settings (worker-settings.ts).
 */
export function confluentDecoding(
  o: { registryUrl: string | null; registryTimeoutMs: number; schemaDir?: Record<string, string>; format: 'ndjson' | 'avro' } & SchemaResolverOptions,
): { schemas: ConfluentSchemas | null; resolver: SchemaResolver | null } {
  const registry = o.registryUrl ? new SchemaRegistryClient({ url: o.registryUrl, timeoutMs: o.registryTimeoutMs }) : null;
  const schemas = o.schemaDir || registry ? new ConfluentSchemas(o.schemaDir ?? {}, registry) : null;
  const resolver = schemas && o.format === 'ndjson' ? new SchemaResolver(schemas, o) : null;
  if (registry) o.log.info({ url: registry.displayUrl }, 'Confluent-framed Avro: unknown schema ids are asked of the schema registry');
  return { schemas, resolver };
}
