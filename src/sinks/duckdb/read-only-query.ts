/**
 * Read-only queries of the DuckDB warehouse, for the daemon's POST /sql and for `gamestream sql` on a file no
 * daemon holds. Inside the daemon the query shares the instance that writes, so "read-only" is enforced by
 * DuckDB itself, not by reading the text:
 *
 * 1. The query must parse as exactly one SELECT (json_serialize_sql, DuckDB's own parser, serializes SELECTs only;
 *    DESCRIBE, SHOW, SUMMARIZE, VALUES and FROM-first are SELECTs), or EXPLAIN [ANALYZE] of one. Everything else
 *    (INSERT, COPY, ATTACH, SET, PRAGMA, CHECKPOINT, INSTALL, LOAD, …) is refused before it is prepared.
 * 2. Its parse tree may name only the warehouse's tables and views, no file (`FROM 'x.csv'`), and only table
 *    functions that read DuckDB's own state (range, unnest, duckdb_*, pragma_*, …): `checkpoint()`,
 *    `enable_logging()`, `query('…')`, `read_csv(…)` and the like are refused. So a query reads the warehouse and
 *    nothing else, whatever user sent it.
 * 3. It runs in a READ ONLY transaction, which DuckDB refuses any write in (nextval included), and the
 *    transaction is rolled back after.
 * The instance of the daemon does not install extensions on its own (duckDbSettings), so an unknown function
 * cannot download one either.
 *
 * It runs on a connection of its own: a DuckDB read does not block the commits (MVCC), and one query at a time
 * (sql_busy otherwise) takes at most one of the threads the commits also run on.
 */
import { DuckDBInstance, DuckDBTypeId, JsonDuckDBValueConverter, StatementType, type DuckDBConnection, type DuckDBType, type Json } from '@duckdb/node-api';
import { GamestreamError } from '../../errors.ts';
import { corruptError } from './corrupt.ts';
import { exactNumber, sqlBusyError, sqlTimeoutError, type SqlCell, type SqlLimits, type SqlResult, type SqlRunner } from '../../sql/result.ts';

/** Table functions that read DuckDB's state or make values, besides duckdb_* and pragma_* (minus DENIED). */
const ALLOWED_TABLE_FUNCTIONS = new Set([
  'range', 'generate_series', 'unnest', 'repeat', 'repeat_row', 'json_each', 'json_tree', 'summary', 'histogram',
  'histogram_values', 'icu_calendar_names', 'pg_timezone_names',
]);
/** duckdb_* / pragma_* functions that are not plain reads of the warehouse. */
const DENIED_CATALOG_FUNCTIONS = new Set(['duckdb_secrets', 'duckdb_external_file_cache', 'duckdb_logs', 'duckdb_logs_parsed', 'duckdb_log_contexts']);

function tableFunctionAllowed(name: string): boolean {
  const n = name.toLowerCase();
  if (ALLOWED_TABLE_FUNCTIONS.has(n)) return true;
  return /^(duckdb|pragma)_[a-z_]+$/.test(n) && !DENIED_CATALOG_FUNCTIONS.has(n);
}

const refused = (why: string): GamestreamError => new GamestreamError('sql_refused', `${why}: gamestream sql runs read-only queries (one SELECT, or EXPLAIN of one)`);

/** What a parse tree reads that a query of the warehouse may not: files, and table functions with effects. */
export function forbiddenReads(tree: unknown): string[] {
  const out: string[] = [];
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) {
      for (const x of o) walk(x);
      return;
    }
    if (!o || typeof o !== 'object') return;
    const node = o as { type?: unknown; function?: { function_name?: unknown }; table_name?: unknown };
    if (node.type === 'TABLE_FUNCTION') {
      const name = String(node.function?.function_name ?? '');
      if (!tableFunctionAllowed(name)) out.push(`the table function ${name}()`);
    }
    // A table name with a dot, slash or colon is a file or URL DuckDB would read in its place (a replacement scan).
    if (node.type === 'BASE_TABLE' && /[./\\:]/.test(String(node.table_name ?? ''))) out.push(`the file ${JSON.stringify(node.table_name)}`);
    for (const v of Object.values(o)) walk(v);
  };
  walk(tree);
  return [...new Set(out)];
}

const EXPLAIN = /^\s*EXPLAIN(?:\s+ANALYZE)?\s+/i;

/** Throws sql_refused unless `sql` is one SELECT (or EXPLAIN of one) that reads the warehouse only. */
async function checkReadOnly(conn: DuckDBConnection, sql: string): Promise<void> {
  const serialize = async (text: string): Promise<{ error?: boolean; error_message?: string; statements?: unknown[] }> =>
    JSON.parse(String((await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [text])).getRows()[0]![0]));
  let tree = await serialize(sql);
  if (tree.error && /Only SELECT statements/i.test(tree.error_message ?? '') && EXPLAIN.test(sql)) tree = await serialize(sql.replace(EXPLAIN, ''));
  if (tree.error) {
    const msg = tree.error_message ?? 'cannot parse';
    if (/Only SELECT statements/i.test(msg)) throw refused('not a SELECT');
    throw new GamestreamError('sql_failed', msg);
  }
  const n = tree.statements?.length ?? 0;
  if (n === 0) throw refused('no statement');
  if (n > 1) throw refused(`${n} statements; send one at a time`);
  const bad = forbiddenReads(tree.statements);
  if (bad.length > 0) throw refused(`it reads ${bad.join(', ')}, not the warehouse's tables`);
}

/** Cells of one chunk as JSON, numbers as numbers where a double holds them exactly (see exactNumber). */
function jsonRows(rows: (Json | null)[][], types: DuckDBType[]): SqlCell[][] {
  const numeric = types.map((t) => [DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT, DuckDBTypeId.DECIMAL].includes(t.typeId));
  return rows.map((row) => row.map((v, i) => (numeric[i] && typeof v === 'string' ? exactNumber(v) : (v as SqlCell))));
}

/** A runner that can be halted: the query running now is stopped, and halt() resolves once it has ended. */
export type HaltableSqlRunner = SqlRunner & { halt(): Promise<void> };

/**
 * A runner over `conn`, which must be a connection of its own: the queries' transactions are begun and rolled
 * back on it. Close the connection only after halt(): closed under a running query, the process cannot exit
 * (DuckDB's query thread holds it).
 */
export function duckDbReadOnlyRunner(conn: DuckDBConnection): HaltableSqlRunner {
  /** The query running now (one at a time): how to stop it, and when it has ended. */
  let current: { halt(): void; ended: Promise<void> } | null = null;
  const run = async (sql: string, limits: SqlLimits, signal?: AbortSignal): Promise<SqlResult> => {
    if (current) throw sqlBusyError();
    const t0 = Date.now();
    let timedOut = false;
    // DuckDB drops an interrupt that comes between two statements (during the checks, before the query has
    // started), so once the query must stop it is interrupted again every 50 ms until it has.
    let interrupting: NodeJS.Timeout | undefined;
    const stop = (): void => {
      conn.interrupt();
      interrupting ??= setInterval(() => conn.interrupt(), 50);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, limits.timeoutMs);
    const abandon = (): void => stop();
    signal?.addEventListener('abort', abandon);
    let halted = false;
    let ended!: () => void;
    current = {
      halt: () => {
        halted = true;
        stop();
      },
      ended: new Promise<void>((r) => (ended = r)),
    };
    const stopped = (): void => {
      if (timedOut) throw sqlTimeoutError(limits.timeoutMs);
      if (signal?.aborted) throw new GamestreamError('sql_failed', 'the query was stopped: its client went away');
      if (halted) throw new GamestreamError('sql_failed', 'the query was stopped: the daemon is stopping');
    };
    let begun = false;
    try {
      await checkReadOnly(conn, sql);
      await conn.run('BEGIN TRANSACTION READ ONLY');
      begun = true;
      const prepared = await conn.prepare(sql);
      if (prepared.statementType !== StatementType.SELECT && prepared.statementType !== StatementType.EXPLAIN) throw refused('not a SELECT');
      stopped();
      const result = await prepared.stream();
      const types = result.columnTypes();
      const columns = result.columnNames().map((name, i) => ({ name, type: types[i]!.toString() }));
      const rows: SqlCell[][] = [];
      let truncated = false;
      // Only as many chunks as the limit needs: the rest is not fetched (nor, in a streaming plan, computed).
      while (!truncated) {
        const chunk = await result.fetchChunk();
        stopped();
        if (!chunk || chunk.rowCount === 0) break;
        for (const row of jsonRows(chunk.convertRows(JsonDuckDBValueConverter), types)) {
          if (rows.length === limits.maxRows) {
            truncated = true;
            break;
          }
          rows.push(row);
        }
      }
      return { columns, rows, truncated, limits, elapsedMs: Date.now() - t0 };
    } catch (err) {
      if (timedOut) throw sqlTimeoutError(limits.timeoutMs);
      if (signal?.aborted) throw new GamestreamError('sql_failed', 'the query was stopped: its client went away', { cause: err });
      if (halted) throw new GamestreamError('sql_failed', 'the query was stopped: the daemon is stopping', { cause: err });
      if (err instanceof GamestreamError) throw err;
      // DuckDB's own words: a missing table, a type error, a read refused by the READ ONLY transaction.
      const msg = (err as Error).message;
      if (/read-only mode|read-only transaction/i.test(msg)) throw new GamestreamError('sql_refused', `${msg}: gamestream sql runs read-only queries`, { cause: err });
      throw new GamestreamError('sql_failed', msg, { cause: err });
    } finally {
      clearTimeout(timer);
      clearInterval(interrupting);
      signal?.removeEventListener('abort', abandon);
      // The next statement on the connection also ends a stream left unread (a result cut at the row limit).
      if (begun) await conn.run('ROLLBACK').catch(() => conn.run('ROLLBACK').catch(() => undefined));
      current = null;
      ended();
    }
  };
  return Object.assign(run, {
    async halt(): Promise<void> {
      const c = current;
      if (!c) return;
      c.halt();
      await c.ended;
    },
  });
}

/** The PID DuckDB names as holding a file's lock, when it does. */
export function lockHolder(message: string): number | null {
  const m = /Conflicting lock is held in .*\(PID (\d+)\)/i.exec(message);
  return m ? Number(m[1]) : null;
}

export type ReadOnlyOpen =
  | { locked: null; run: SqlRunner; close(): void }
  /** Another process holds the file: its PID as DuckDB reports it (null when DuckDB does not say), and DuckDB's words. */
  | { locked: { pid: number | null; message: string } };

/** The warehouse file opened READ_ONLY by this process, for when no daemon holds it; or who holds it. */
export async function openDuckDbReadOnly(path: string, settings: Record<string, string> = {}): Promise<ReadOnlyOpen> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, { ...settings, access_mode: 'READ_ONLY', autoinstall_known_extensions: 'false' });
  } catch (err) {
    const msg = (err as Error).message;
    const pid = lockHolder(msg);
    if (pid !== null || /Could not set lock/i.test(msg)) return { locked: { pid, message: msg } };
    const missing = /does not exist/i.test(msg) ? ' (is GAMESTREAM_WAREHOUSE the daemon\'s? the daemon makes the file when it first starts)' : '';
    throw corruptError(err, path) ?? new GamestreamError('warehouse_unavailable', `cannot open the DuckDB warehouse ${path} read-only${missing}: ${msg}`, { cause: err });
  }
  const conn = await instance.connect();
  return {
    locked: null,
    run: duckDbReadOnlyRunner(conn),
    close: () => {
      conn.closeSync();
      instance.closeSync();
    },
  };
}
