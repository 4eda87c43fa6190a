/** Avro schemas for Confluent-framed Kafka records, read once at start from `<id>.avsc` files. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { avroWriterType } from '../../partition/avro-types.ts';
import { GamestreamError } from '../../errors.ts';
import type { RegistryAnswer } from './schema-registry.ts';

export function loadSchemaDir(dir: string): Record<string, string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new GamestreamError('config_invalid', `GAMESTREAM_AVRO_SCHEMA_DIR=${dir} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const out: Record<string, string> = {};
  for (const name of names) {
    const m = /^(\d+)\.avsc$/.exec(name);
    if (!m) continue;
    const text = readFileSync(join(dir, name), 'utf8');
    try {
      avroWriterType(text);
    } catch (err) {
      throw new GamestreamError('config_invalid', `${join(dir, name)} is not a valid Avro schema: ${(err as Error).message}`, { cause: err });
    }
    out[m[1]] = text;
  }
  if (Object.keys(out).length === 0) {
    throw new GamestreamError('config_invalid', `GAMESTREAM_AVRO_SCHEMA_DIR=${dir} has no <schema id>.avsc files`);
  }
  return out;
}

/** How many registry requests may be open at once while resolving one chunk's ids. */
const MAX_PARALLEL = 8;
/** A "not found" answer is believed this long; then the id is asked again (it may have been registered since). */
const NOT_FOUND_TTL_MS = 10_000;
/** Bound on remembered "not found" ids (junk records can carry any id). */
const NOT_FOUND_MAX = 100_000;

/** What one resolution round learned; `failed` ids are still unknown because the registry could not answer. */
export interface Resolved {
  schemas: Record<string, string>;
  unusable: Record<string, string>;
  notFound: number[];
  failed: number[];
  error: unknown;
}

/** The registry call (SchemaRegistryClient; tests wrap it to count requests). */
export interface SchemaLookup {
  readonly displayUrl: string;
  schemaById(id: number): Promise<RegistryAnswer>;
}

/**
 * The supervisor's view of Confluent schema ids: the schema directory's, plus every id resolved from the
 * registry (kept forever: an id never changes its schema). The directory wins over the registry for an id it has.
 */
export class ConfluentSchemas {
  readonly schemas: Record<string, string>;
  readonly unusable: Record<string, string> = {};
  private readonly registry: SchemaLookup | null;
  /** For dead-letter messages: where an unknown id was looked for. */
  readonly unknownHint: string;
  private readonly notFoundAt = new Map<number, number>();

  constructor(dirSchemas: Record<string, string>, registry: SchemaLookup | null) {
    this.schemas = { ...dirSchemas };
    this.registry = registry;
    const dir = Object.keys(dirSchemas).length > 0 ? 'not in GAMESTREAM_AVRO_SCHEMA_DIR' : '';
    this.unknownHint = registry ? `${dir ? `${dir}, and ` : ''}the schema registry answered "not found"` : dir || 'no schema source is configured';
  }

  /**
   * Distinct schema ids of Confluent-framed records in a chunk that still need a registry answer, in first-seen
   * order. Framing is tested as ConfluentAvro.isFramed tests it in the decoding actor.
   */
  unresolved(data: Uint8Array, starts: Uint32Array, ends: Uint32Array, count: number, nowMs: number): number[] {
    if (!this.registry) return [];
    const out: number[] = [];
    let seen: Set<number> | null = null;
    for (let i = 0; i < count; i++) {
      const s = starts[i];
      if (ends[i] - s < 5 || data[s] !== 0) continue;
      const id = ((data[s + 1] << 24) | (data[s + 2] << 16) | (data[s + 3] << 8) | data[s + 4]) >>> 0;
      if (this.schemas[id] !== undefined || this.unusable[id] !== undefined) continue;
      const nf = this.notFoundAt.get(id);
      if (nf !== undefined && nowMs - nf < NOT_FOUND_TTL_MS) continue;
      seen ??= new Set();
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(id);
    }
    return out;
  }

  /** Asks the registry for these ids, a few at a time; answers are remembered, failures are returned. */
  async resolve(ids: number[], nowMs: number): Promise<Resolved> {
    const r: Resolved = { schemas: {}, unusable: {}, notFound: [], failed: [], error: null };
    const registry = this.registry;
    if (!registry) return r;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++];
        try {
          const a = await registry.schemaById(id);
          if (a.kind === 'found') r.schemas[id] = a.schema;
          else if (a.kind === 'unusable') r.unusable[id] = a.reason;
          else r.notFound.push(id);
        } catch (err) {
          r.failed.push(id);
          r.error ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_PARALLEL, ids.length) }, worker));
    Object.assign(this.schemas, r.schemas);
    Object.assign(this.unusable, r.unusable);
    for (const id of r.notFound) {
      this.notFoundAt.delete(id);
      this.notFoundAt.set(id, nowMs);
    }
    while (this.notFoundAt.size > NOT_FOUND_MAX) this.notFoundAt.delete(this.notFoundAt.keys().next().value!);
    for (const id of [...Object.keys(r.schemas), ...Object.keys(r.unusable)]) this.notFoundAt.delete(Number(id));
    return r;
  }
}
