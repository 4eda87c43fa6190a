/**
 * `gamestream sql "<query>"`: one read-only query of the warehouse in GAMESTREAM_WAREHOUSE, while the daemon
 * runs or not.
 * - DuckDB, a daemon holds the file: through that daemon's POST /sql (DuckDB lets one process open a file, so
 *   this command cannot open it, not even read-only). The daemon is found by `<file>.daemon.json`, which names
 *   its PID and URL; the request names the warehouse, and a daemon holding another one refuses it.
 * - DuckDB, no daemon: the file opened READ_ONLY here, with the same checks and limits.
 * - BigQuery: BigQuery directly, with this user's credentials (dry run first: only a SELECT runs).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, type Config } from '../config/schema.ts';
import { errorCode, GamestreamError, isErrorCode } from '../errors.ts';
import { processAlive } from '../pid.ts';
import { duckDbSettings } from '../sinks/duckdb/settings.ts';
import { openDuckDbReadOnly } from '../sinks/duckdb/read-only-query.ts';
import { daemonFilePath, readDaemonFile, type DaemonFile } from '../sql/daemon-file.ts';
import { formatResult, SQL_FORMATS, type SqlFormat } from '../sql/format.ts';
import { isLoopback } from '../sql/loopback.ts';
import type { SqlLimits, SqlResult } from '../sql/result.ts';
import type { EtlIo } from './etl.ts';

const USAGE = `Usage:
  gamestream sql "<query>" [--format table|ndjson|csv]
  gamestream sql [--format …] < query.sql
Runs one read-only query (a SELECT, or EXPLAIN of one) on the warehouse in GAMESTREAM_WAREHOUSE:
  DuckDB with a daemon on it: through that daemon (POST /sql on its GAMESTREAM_METRICS_PORT, loopback only)
  DuckDB without one: the file, opened read-only
  BigQuery: BigQuery itself, with your credentials (a dry run first: only a SELECT runs)
At most GAMESTREAM_SQL_MAX_ROWS rows (10000), for at most GAMESTREAM_SQL_TIMEOUT (30s).
--format: table on a terminal, ndjson otherwise (one JSON object a row); csv has a header line.`;

export interface SqlIo extends EtlIo {
  stdout: EtlIo['stdout'] & { isTTY?: boolean };
  /** The query when none is given as an argument (a pipe); null at a terminal. */
  stdin: () => Promise<string | null>;
}

function processIo(): SqlIo {
  return {
    stdout: process.stdout, stderr: process.stderr, env: process.env,
    stdin: async () => {
      if (process.stdin.isTTY) return null;
      let s = '';
      for await (const chunk of process.stdin) s += String(chunk);
      return s;
    },
  };
}

function parseArgs(args: string[]): { query: string | null; format: SqlFormat | null } {
  let format: SqlFormat | null = null;
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--format(?:=(.*))?$/.exec(a);
    if (m) {
      const v = m[1] ?? args[++i];
      if (!(SQL_FORMATS as readonly string[]).includes(v ?? '')) throw new GamestreamError('config_invalid', `--format=${JSON.stringify(v ?? '')} is not valid: expected ${SQL_FORMATS.join(' | ')}\n${USAGE}`);
      format = v as SqlFormat;
    } else if (/^--[a-z]/.test(a)) {
      throw new GamestreamError('config_invalid', `unknown option ${a}\n${USAGE}`);
    } else {
      words.push(a);
    }
  }
  return { query: words.length > 0 ? words.join(' ') : null, format };
}

/** The setting that decides how this command reaches a daemon, for the errors. */
const PORT_FIX = 'GAMESTREAM_METRICS_PORT (the daemon\'s HTTP server; 9464 by default, off turns it off)';

type Answer = { result: SqlResult } | { unreachable: string };

/**
 * How long past the time limit an answer may take. The daemon stops the query at the limit and answers at once;
 * this is for a daemon that never does (stopped, hung).
 */
const ANSWER_MARGIN_MS = 10_000;

/**
 * The query sent to the daemon of `d`; a daemon that does not answer (or holds another warehouse) is unreachable.
 * The daemon runs one query at a time: while another runs, this one waits its turn, within its time limit; so it
 * does while the daemon is starting or stopping (then it answers, or stops answering and the file is free).
 */
async function viaDaemon(d: DaemonFile & { url: string }, warehouse: string, sql: string, limits: SqlLimits): Promise<Answer> {
  const deadline = Date.now() + limits.timeoutMs;
  for (;;) {
    const a = await askDaemon(d, warehouse, sql, limits);
    if (!('busy' in a)) return a;
    if (Date.now() + 200 >= deadline) throw a.busy;
    await sleep(200);
  }
}

async function askDaemon(d: DaemonFile & { url: string }, warehouse: string, sql: string, limits: SqlLimits): Promise<Answer | { busy: GamestreamError }> {
  let res: Response;
  try {
    res = await fetch(`${d.url}/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql, warehouse, maxRows: limits.maxRows, timeoutMs: limits.timeoutMs }),
      signal: AbortSignal.timeout(limits.timeoutMs + ANSWER_MARGIN_MS),
    });
  } catch (err) {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${Math.round((limits.timeoutMs + ANSWER_MARGIN_MS) / 1000)} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { unreachable: `${d.url} did not answer (${why})` };
  }
  let body: { error?: string; code?: string } & Partial<SqlResult>;
  try {
    body = (await res.json()) as typeof body;
  } catch {
    return { unreachable: `${d.url} answered HTTP ${res.status} with no JSON: not a gamestream daemon` };
  }
  if (res.status === 409) return { unreachable: `${d.url} holds another warehouse: ${body.error ?? ''}` };
  if (res.ok && Array.isArray(body.rows)) return { result: body as SqlResult };
  const code = typeof body.code === 'string' && isErrorCode(body.code) ? body.code : 'sql_failed';
  const err = new GamestreamError(code, `${body.error ?? `HTTP ${res.status}`}${res.status === 404 || res.status === 403 ? '' : ` (the daemon, PID ${d.pid}, at ${d.url})`}`);
  // Busy with another query, or starting or stopping (the warehouse not open): its turn, or its end, comes soon.
  if (code === 'sql_busy' || res.status === 503) return { busy: err };
  throw err;
}

async function duckDbQuery(cfg: Config & { warehouse: { kind: 'duckdb' } }, sql: string, limits: SqlLimits): Promise<SqlResult> {
  const path = cfg.warehouse.path;
  const warehouse = `duckdb:${path}`;
  const file = daemonFilePath(path);
  const d = readDaemonFile(file);
  let unreachable: string | null = null;
  if (d && d.pid !== process.pid && processAlive(d.pid)) {
    if (d.url === null) {
      throw new GamestreamError('warehouse_unavailable', `the daemon holding ${path} (PID ${d.pid}) runs without its HTTP server (GAMESTREAM_METRICS_PORT=off), so it cannot be queried while it runs: restart it with ${PORT_FIX} set, or stop it and run gamestream sql again`);
    }
    const host = new URL(d.url).hostname.replace(/^\[|\]$/g, '');
    if (!isLoopback(host)) {
      throw new GamestreamError('warehouse_unavailable', `the daemon holding ${path} (PID ${d.pid}) listens on ${d.url} only (GAMESTREAM_METRICS_HOST=${host}), and POST /sql answers loopback clients only: set GAMESTREAM_METRICS_HOST to 127.0.0.1 (or 0.0.0.0 to serve other hosts too) and restart it`);
    }
    const a = await viaDaemon({ ...d, url: d.url }, warehouse, sql, limits);
    if ('result' in a) return a.result;
    unreachable = a.unreachable;
  }
  // No daemon (or one that has just stopped): the file itself, read-only.
  const opened = await openDuckDbReadOnly(path, duckDbSettings({ threads: cfg.duckdbThreads, memoryLimitBytes: cfg.duckdbMemoryLimit }));
  if (opened.locked) {
    const pid = opened.locked.pid === null ? 'another process' : `PID ${opened.locked.pid}`;
    const why = unreachable !== null
      ? `${path} is held by ${pid}, whose daemon file (${file}) says it serves ${d!.url}, but ${unreachable}. If the daemon is starting, retry in a moment; if it hangs, stop it; check that its ${PORT_FIX} is the one in the file`
      : `${path} is held by ${pid}, which left no ${file}: a gamestream daemon still opening the file (retry in a moment), another gamestream command (etl, dlq), an older gamestream, the duckdb CLI or another program. Wait for it, or stop it, and run gamestream sql again`;
    throw new GamestreamError('warehouse_unavailable', `${why} (DuckDB: ${opened.locked.message.split('\n')[0]})`);
  }
  try {
    return await opened.run(sql, limits);
  } finally {
    opened.close();
  }
}

async function bigQueryQuery(cfg: Config, sql: string, limits: SqlLimits): Promise<SqlResult> {
  // The BigQuery adapter is loaded only for a BigQuery warehouse (its index.ts says why).
  const { bigQueryReadOnlyRunner, bigQueryTargetOf, createClients } = await import('../sinks/bigquery/index.ts');
  const target = bigQueryTargetOf(cfg);
  if (!target) throw new Error('not a BigQuery warehouse');
  // Only the REST client is used; the Storage Write client is closed unused.
  const { bq, writer } = createClients(target);
  try {
    return await bigQueryReadOnlyRunner(bq, target)(sql, limits);
  } finally {
    writer.close();
  }
}

export async function sqlCommand(args: string[], io: SqlIo = processIo()): Promise<number> {
  if (args[0] === 'help' || args[0] === '--help' || args[0] === '-h') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const parsed = parseArgs(args);
    const query = parsed.query ?? (await io.stdin());
    if (query === null || query.trim() === '') throw new GamestreamError('config_invalid', `no query given\n${USAGE}`);
    const cfg = loadConfig(io.env);
    const limits: SqlLimits = { timeoutMs: cfg.sqlTimeoutMs, maxRows: cfg.sqlMaxRows };
    const result = cfg.warehouse.kind === 'duckdb'
      ? await duckDbQuery(cfg as Config & { warehouse: { kind: 'duckdb' } }, query, limits)
      : await bigQueryQuery(cfg, query, limits);
    io.stdout.write(formatResult(result, parsed.format ?? (io.stdout.isTTY ? 'table' : 'ndjson')));
    if (result.truncated) {
      io.stderr.write(`gamestream sql: only the first ${result.rows.length} rows are shown; the result has more (GAMESTREAM_SQL_MAX_ROWS, of the daemon when it answered: add a LIMIT, narrow the query, or raise it)\n`);
    }
    return 0;
  } catch (err) {
    io.stderr.write(`gamestream sql: ${errorCode(err)}: ${(err as Error).message}\n`);
    return errorCode(err) === 'config_invalid' ? 2 : 1;
  }
}
