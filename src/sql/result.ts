/**
 * What a read-only query returns, the same from the daemon's POST /sql, from a DuckDB file opened read-only and
 * from BigQuery, and the bounds every such query runs under (GAMESTREAM_SQL_TIMEOUT, GAMESTREAM_SQL_MAX_ROWS).
 * The warehouse adapters make the runners (sinks/duckdb/read-only-query.ts, sinks/bigquery/read-only-query.ts).
 */
import { GamestreamError } from '../errors.ts';

export interface SqlLimits {
  timeoutMs: number;
  maxRows: number;
}

export interface SqlColumn {
  name: string;
  /** The warehouse's own type name (DuckDB's `BIGINT`, `DECIMAL(38,6)`; BigQuery's `INTEGER`, `NUMERIC`). */
  type: string;
}

/** A cell as JSON carries it: see jsonCell for the rule. */
export type SqlCell = string | number | boolean | null | SqlCell[] | { [key: string]: SqlCell };

export interface SqlResult {
  columns: SqlColumn[];
  rows: SqlCell[][];
  /** The query had more rows than `limits.maxRows`; `rows` holds the first ones. */
  truncated: boolean;
  /** The bounds the query ran under (the daemon's may be lower than the ones asked for). */
  limits: SqlLimits;
  elapsedMs: number;
}

/**
 * Runs one read-only query within the limits, or throws sql_refused, sql_failed, sql_timeout or sql_busy. An
 * aborted `signal` (the client went away) stops the query as the time limit would.
 */
export type SqlRunner = (sql: string, limits: SqlLimits, signal?: AbortSignal) => Promise<SqlResult>;

/** The lower of two sets of bounds: a client may ask for less than the daemon allows, never more. */
export function lowerLimits(a: SqlLimits, b: Partial<SqlLimits>): SqlLimits {
  const lower = (x: number, y: number | undefined): number => (typeof y === 'number' && Number.isFinite(y) && y > 0 ? Math.min(x, Math.floor(y)) : x);
  return { timeoutMs: lower(a.timeoutMs, b.timeoutMs), maxRows: lower(a.maxRows, b.maxRows) };
}

/**
 * A number as JSON: a JSON number when a double holds it exactly (counts, most sums and ratios), else its exact
 * decimal text (a BIGINT past 2^53, a wide DECIMAL such as 12345678901234.123456), so nothing is rounded silently.
 */
export function exactNumber(text: string): number | string {
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  const canon = (s: string): string => {
    // Both sides as plain decimals without a sign of zero, trailing fraction zeros, or leading zeros.
    let t = s.trim();
    const neg = t.startsWith('-');
    if (neg || t.startsWith('+')) t = t.slice(1);
    let [int, frac = ''] = t.split('.');
    int = int!.replace(/^0+(?=\d)/, '');
    frac = frac.replace(/0+$/, '');
    const body = frac ? `${int}.${frac}` : int!;
    return neg && body !== '0' ? `-${body}` : body;
  };
  // Exponent forms (1e21) are not exact decimals to compare; keep the text.
  if (/e/i.test(text) || /e/i.test(String(n))) return text;
  return canon(String(n)) === canon(text) ? n + 0 : text;
}

export const sqlTimeoutError = (ms: number): GamestreamError =>
  new GamestreamError('sql_timeout', `the query ran longer than ${ms} ms and was stopped (GAMESTREAM_SQL_TIMEOUT; raise it, or narrow the query: a date filter, fewer columns)`);

export const sqlBusyError = (): GamestreamError =>
  new GamestreamError('sql_busy', 'another query is running; the daemon runs one at a time, so queries never take more than one of the threads its commits use. Retry when it ends', { retryable: true });
