/**
 * POST /sql on the observability server: a read-only query of the warehouse this daemon holds, for
 * `gamestream sql` while the daemon runs (a second process cannot open the DuckDB file then, not even read-only).
 *
 * Request: `Content-Type: application/json`, `{"sql": "...", "warehouse": "duckdb:/abs/path", "maxRows": n,
 * "timeoutMs": n}`; all but `sql` optional. The limits asked for are lowered to the daemon's own
 * (GAMESTREAM_SQL_MAX_ROWS, GAMESTREAM_SQL_TIMEOUT), never raised. Answer: the SqlResult as JSON, or
 * `{"error", "code"}`.
 *
 * Who may ask: a client on this machine (the socket's remote address is loopback, whatever address the server
 * listens on) that is not a browser (no Origin header, and a JSON content type, which a page cannot send to
 * another origin without a preflight this server never grants). So a web page open on the same machine cannot
 * query the warehouse, nor can a page whose DNS name was rebound to 127.0.0.1.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorCode } from '../errors.ts';
import { isLoopback } from '../sql/loopback.ts';
import { lowerLimits, type SqlLimits, type SqlRunner } from '../sql/result.ts';

export interface SqlEndpointOptions {
  /** The warehouse this daemon holds, as it names it (`duckdb:<path>`): a request naming another is refused. */
  warehouse: string;
  limits: SqlLimits;
  /** Why the endpoint is not offered here (off by setting, a BigQuery warehouse), or null when it is. */
  off: string | null;
  run: SqlRunner;
}

/** The longest SQL text accepted. */
export const SQL_MAX_BODY_BYTES = 1 << 20;

const STATUS: Record<string, number> = {
  sql_refused: 403, sql_failed: 400, sql_timeout: 504, sql_busy: 429, warehouse_unavailable: 503, warehouse_corrupt: 503,
};

type Json = (res: ServerResponse, status: number, body: unknown, head: boolean, headers?: Record<string, string>) => void;

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The refusal for a socket that is not on this machine, or null when it is. */
export function notLocal(remoteAddress: string | undefined): string | null {
  if (isLoopback(remoteAddress)) return null;
  return `POST /sql answers clients on the daemon's own machine only (over loopback, 127.0.0.1 or ::1); this request came from ${remoteAddress ?? 'an unknown address'}. Run gamestream sql on the daemon's host`;
}

export async function handleSql(req: IncomingMessage, res: ServerResponse, o: SqlEndpointOptions, json: Json, idleTimeoutMs: number): Promise<void> {
  const refuse = (status: number, error: string, headers?: Record<string, string>): void => json(res, status, { error, code: 'sql_refused' }, false, headers);
  const remote = notLocal(req.socket.remoteAddress);
  if (remote) return refuse(403, remote);
  if (req.headers.origin !== undefined) return refuse(403, 'POST /sql does not answer browsers (the request has an Origin header): use gamestream sql, or a client on this machine');
  if (req.method !== 'POST') return refuse(405, 'use POST /sql with a JSON body {"sql": "..."}', { allow: 'POST' });
  if (o.off) return json(res, 404, { error: o.off, code: 'sql_refused' }, false);
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return refuse(415, 'the body must be JSON, with Content-Type: application/json: {"sql": "..."}');
  const body = await readBody(req, SQL_MAX_BODY_BYTES);
  if (body === null) return refuse(413, `the request is over ${SQL_MAX_BODY_BYTES} bytes`);
  let ask: { sql?: unknown; warehouse?: unknown; maxRows?: unknown; timeoutMs?: unknown };
  try {
    ask = JSON.parse(body.toString('utf8')) as typeof ask;
  } catch {
    return refuse(400, 'the body is not JSON: expected {"sql": "..."}');
  }
  if (!ask || typeof ask !== 'object' || typeof ask.sql !== 'string') return refuse(400, 'the body needs "sql", the query as a string');
  if (ask.warehouse !== undefined && ask.warehouse !== o.warehouse) {
    return json(res, 409, { error: `this daemon holds ${o.warehouse}, not ${String(ask.warehouse)}`, code: 'warehouse_unavailable', warehouse: o.warehouse }, false);
  }
  const limits = lowerLimits(o.limits, { maxRows: ask.maxRows as number | undefined, timeoutMs: ask.timeoutMs as number | undefined });
  // The server closes a connection idle for idleTimeoutMs; a query may take longer before anything is sent.
  req.socket.setTimeout(Math.max(idleTimeoutMs, limits.timeoutMs + 10_000));
  res.once('finish', () => req.socket.setTimeout(idleTimeoutMs));
  // A client that goes away (Ctrl-C on gamestream sql) frees the daemon's one query at once.
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  try {
    const result = await o.run(ask.sql, limits, gone.signal);
    return json(res, 200, { ...result, warehouse: o.warehouse }, false);
  } catch (err) {
    const code = errorCode(err);
    const status = STATUS[code] ?? 500;
    return json(res, status, { error: (err as Error).message, code }, false, status === 429 ? { 'retry-after': '1' } : {});
  }
}
