/**
 * The two Google clients the BigQuery warehouse uses: `@google-cloud/bigquery` (REST) for DDL and queries,
 * and the Storage Write API's managed writer (gRPC) for rows. In production both use Application Default
 * Credentials. With an explicit endpoint (an emulator) they get a dummy token and plaintext gRPC:
 * `BIGQUERY_EMULATOR_HOST` is not used, the Node client mishandles it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BigQuery } from '@google-cloud/bigquery';
import { managedwriter } from '@google-cloud/bigquery-storage';
import { credentials } from '@grpc/grpc-js';
import { OAuth2Client } from 'google-auth-library';
import type { Config } from '../../config/schema.ts';
import { GamestreamError } from '../../errors.ts';

export interface BigQueryTarget {
  project: string;
  dataset: string;
  /** REST base URL, or null for Google's. */
  endpoint: string | null;
  /** Storage Write API URL (http:// = plaintext gRPC), or null for Google's. */
  writeEndpoint: string | null;
  location: string;
}

/** The dataset GAMESTREAM_WAREHOUSE names and how to reach it (GAMESTREAM_BIGQUERY_*); null for a DuckDB warehouse. */
export function bigQueryTargetOf(cfg: Config): BigQueryTarget | null {
  const wc = cfg.warehouse;
  if (wc.kind !== 'bigquery') return null;
  return { project: wc.project, dataset: wc.dataset, endpoint: cfg.bigqueryEndpoint, writeEndpoint: cfg.bigqueryWriteEndpoint, location: cfg.bigqueryLocation };
}

export interface BigQueryClients {
  /** For the ETL and the status page: the client library's own retries (back-offs from 2 s up). */
  bq: BigQuery;
  /**
   * For the engine, whose every call is wrapped in withRetries: no retries of its own, so that a 503 or 429 is
   * retried after withRetries' 200 ms back-off instead of the library's 2 s, 4 s, 8 s (at a 30% error rate the
   * start-up took a minute).
   */
  engineBq: BigQuery;
  writer: managedwriter.WriterClient;
}

const NO_LIBRARY_RETRIES = { retryOptions: { autoRetry: false } };

function dummyAuth(): OAuth2Client {
  const auth = new OAuth2Client();
  // No expiry: the client never tries to refresh it.
  auth.setCredentials({ access_token: 'gamestream-emulator' });
  return auth;
}

export function createClients(t: BigQueryTarget): BigQueryClients {
  if (t.endpoint === null) {
    const bq = new BigQuery({ projectId: t.project, location: t.location });
    const engineBq = new BigQuery({ projectId: t.project, location: t.location, ...NO_LIBRARY_RETRIES });
    const writer = new managedwriter.WriterClient({ projectId: t.project });
    return { bq, engineBq, writer };
  }
  const authClient = dummyAuth();
  const bq = new BigQuery({ projectId: t.project, location: t.location, apiEndpoint: t.endpoint, authClient });
  const engineBq = new BigQuery({ projectId: t.project, location: t.location, apiEndpoint: t.endpoint, authClient, ...NO_LIBRARY_RETRIES });
  const w = new URL(t.writeEndpoint ?? '');
  const secure = w.protocol === 'https:';
  const writer = new managedwriter.WriterClient({
    projectId: t.project,
    apiEndpoint: w.hostname,
    port: Number(w.port || (secure ? 443 : 80)),
    sslCreds: secure ? credentials.createSsl() : credentials.createInsecure(),
    // The managed writer's own google-auth-library is a different copy; it only needs getRequestHeaders.
    authClient: authClient as never,
  });
  return { bq, engineBq, writer };
}

// ---- errors and retries ---------------------------------------------------------------------------------

/** gRPC status codes worth retrying: the call may well succeed a moment later. */
const TRANSIENT_GRPC = new Set([4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);
const TRANSIENT_NET = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** Whether a BigQuery or Storage Write error is transient (retry) or permanent (report). */
export function isTransient(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; status?: unknown; message?: unknown; errors?: { reason?: string }[]; retryable?: unknown; cause?: unknown };
  if (e.retryable === true) return true;
  if (typeof e.code === 'number') {
    if (TRANSIENT_GRPC.has(e.code)) return true;
    if (e.code === 429 || (e.code >= 500 && e.code < 600)) return true;
  }
  if (typeof e.status === 'number' && (e.status === 429 || e.status >= 500)) return true;
  if (typeof e.code === 'string' && TRANSIENT_NET.has(e.code)) return true;
  if (e.errors?.some((x) => x.reason === 'backendError' || x.reason === 'rateLimitExceeded' || x.reason === 'internalError')) return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  if (/socket hang up|ECONNRESET|ECONNREFUSED|network|timed? ?out|Retry-After|503|429/i.test(msg)) return true;
  return e.cause !== undefined && e.cause !== err ? isTransient(e.cause) : false;
}

export interface RetryPolicy {
  /** First back-off; it doubles per attempt up to maxDelayMs, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Give up after this long of transient failures (Infinity: retry until stopped). */
  giveUpAfterMs: number;
  /** Stops retrying at once when it returns true (shutdown). */
  stopped: () => boolean;
  onRetry: (what: string, err: unknown, attempt: number) => void;
}

/**
 * Runs `fn` until it succeeds, retrying transient failures with capped exponential back-off and full jitter,
 * so that many writers do not hammer a recovering service in step. Permanent failures throw at once.
 */
export async function withRetries<T>(what: string, policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const elapsed = Date.now() - started;
      if (!isTransient(err) || policy.stopped() || elapsed >= policy.giveUpAfterMs) {
        const why = isTransient(err) ? (policy.stopped() ? ' (stopping)' : ` (still failing after ${Math.round(elapsed / 1000)} s)`) : '';
        throw new GamestreamError('warehouse_write_failed', `BigQuery: ${what} failed${why}: ${(err as Error).message}`, {
          cause: err,
          retryable: false,
        });
      }
      policy.onRetry(what, err, attempt);
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 20));
      await sleep(cap / 2 + Math.random() * (cap / 2));
    }
  }
}

/** Rejects after `ms`, as a transient error: a hung call must not hang the commit. */
export async function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GamestreamError('warehouse_write_failed', `${what} timed out after ${ms} ms`, { retryable: true })), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A query job, created and then awaited. Not `bq.query()`: an emulator that answers a failed statement with
 * HTTP 200 and `errors` in the body makes `bq.query()` return no rows instead of failing, and an empty
 * checkpoint read would replay a topic from the start.
 */
export interface QueryOptions {
  params?: Record<string, unknown>;
  location?: string;
  /** Unqualified table names resolve here. */
  defaultDataset?: { projectId: string; datasetId: string };
  /** Bounds the job on the server (a client-side timeout would fail on the first poll that finds it running). */
  jobTimeoutMs?: number;
}

export async function runQuery(bq: BigQuery, sql: string, o: QueryOptions = {}): Promise<Record<string, unknown>[]> {
  const [job] = await bq.createQueryJob({ query: sql, ...o });
  const [rows] = await job.getQueryResults();
  return rows as Record<string, unknown>[];
}

export function tablePath(t: BigQueryTarget, table: string): string {
  return `projects/${t.project}/datasets/${t.dataset}/tables/${table}`;
}

export function quotedDataset(t: BigQueryTarget): string {
  return `\`${t.project}.${t.dataset}\``;
}
