/**
 * A client for the one call gamestream needs from a Confluent-compatible schema registry:
 * `GET <url>/schemas/ids/{id}` → `{"schema": "<schema JSON as a string>", "schemaType"?: "AVRO" | …}`.
 * Credentials come from the URL's userinfo (basic auth) and are never logged: logs show `redactUrl(url)`.
 */
import { avroWriterType } from '../../partition/avro-types.ts';
import { GamestreamError } from '../../errors.ts';

export type RegistryAnswer =
  | { kind: 'found'; schema: string }
  /** The id exists but its schema cannot decode Avro here: ids are immutable, so this is permanent. */
  | { kind: 'unusable'; reason: string }
  /** The registry says it has no schema with this id (Confluent error 40403). */
  | { kind: 'not_found' };

/** The URL without userinfo, query or fragment, and a trailing slash trimmed: safe to log. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    const auth = u.username || u.password ? '***@' : '';
    return `${u.protocol}//${auth}${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '<not a URL>';
  }
}

export interface SchemaRegistryOptions {
  url: string;
  /** Per request, connect to last byte. */
  timeoutMs: number;
}

export class SchemaRegistryClient {
  /** For logs and messages: no credentials. */
  readonly displayUrl: string;
  private readonly base: string;
  private readonly authorization: string | null;
  private readonly timeoutMs: number;

  constructor(o: SchemaRegistryOptions) {
    const u = new URL(o.url);
    this.authorization =
      u.username || u.password
        ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
        : null;
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    this.base = u.toString().replace(/\/+$/, '');
    this.displayUrl = redactUrl(o.url);
    this.timeoutMs = o.timeoutMs;
  }

  /**
   * The schema with this id. Throws a retryable `schema_registry_unavailable` for anything that is not a clear
   * answer about the id (network error, timeout, 5xx, 401/403, a 404 that is not the registry's "schema not
   * found", a body that is not the expected JSON): those must hold records back, never dead-letter them.
   */
  async schemaById(id: number): Promise<RegistryAnswer> {
    const url = `${this.base}/schemas/ids/${id}`;
    const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
    if (this.authorization) headers.authorization = this.authorization;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
      text = await res.text();
    } catch (err) {
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : `${e.message}${causeOf(e)}`;
      throw this.unavailable(`GET schema id ${id}: ${why}`, err);
    }
    const body = parseJson(text);
    if (res.status === 404 && errorCode(body) === 40403) return { kind: 'not_found' };
    if (res.status !== 200) {
      const hint =
        res.status === 401 || res.status === 403
          ? ' (check the credentials in GAMESTREAM_SCHEMA_REGISTRY_URL)'
          : res.status === 404
            ? ' without the registry\'s "schema not found" error 40403 (is the URL the registry\'s Confluent API?)'
            : '';
      throw this.unavailable(`GET schema id ${id}: HTTP ${res.status}${hint}`);
    }
    const schema = (body as { schema?: unknown } | null)?.schema;
    if (typeof schema !== 'string') throw this.unavailable(`GET schema id ${id}: HTTP 200 without a "schema" string`);
    const type = (body as { schemaType?: unknown }).schemaType;
    if (type !== undefined && type !== null && type !== 'AVRO') return { kind: 'unusable', reason: `it is a ${String(type)} schema, not Avro` };
    const refs = (body as { references?: unknown }).references;
    if (Array.isArray(refs) && refs.length > 0) return { kind: 'unusable', reason: 'it references other schemas, which gamestream does not resolve' };
    try {
      avroWriterType(schema);
    } catch (err) {
      return { kind: 'unusable', reason: `the registry's schema is not valid Avro: ${(err as Error).message.slice(0, 200)}` };
    }
    return { kind: 'found', schema };
  }

  private unavailable(message: string, cause?: unknown): GamestreamError {
    return new GamestreamError('schema_registry_unavailable', `schema registry ${this.displayUrl}: ${message}`, { retryable: true, cause });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorCode(body: unknown): unknown {
  return body && typeof body === 'object' ? (body as { error_code?: unknown }).error_code : undefined;
}

/** fetch() says only "fetch failed"; the cause says ECONNREFUSED and the like. */
function causeOf(e: Error): string {
  const c = e.cause as { code?: unknown; message?: unknown } | undefined;
  if (!c) return '';
  return ` (${typeof c.code === 'string' ? c.code : String(c.message ?? c)})`;
}
