/**
 * Read-only queries of a BigQuery warehouse for `gamestream sql`, with the caller's own credentials (BigQuery
 * serves any number of readers while daemons write, so nothing goes through a daemon). Read-only is BigQuery's
 * word, not a reading of the text: a dry run first returns the statement's type, and only a `SELECT` runs. A
 * SELECT job without a destination table writes nothing but its own temporary result; DML, DDL, scripts
 * (several statements) and EXPORT DATA are refused before anything runs.
 *
 * GAMESTREAM_SQL_TIMEOUT bounds the dry run and the job together: the job gets it as its jobTimeoutMs, and one
 * still running then is cancelled. GAMESTREAM_SQL_MAX_ROWS rows at most are fetched (the first page only).
 */
import type { BigQuery, Job } from '@google-cloud/bigquery';
import { GamestreamError } from '../../errors.ts';
import { exactNumber, sqlTimeoutError, type SqlCell, type SqlLimits, type SqlResult, type SqlRunner } from '../../sql/result.ts';
import type { BigQueryTarget } from './client.ts';

interface Field { name?: string | null; type?: string | null; mode?: string | null; fields?: Field[] | null }

/** One value from the client as JSON: exact numbers (exactNumber), times as BigQuery's text, bytes as base64. */
function cell(v: unknown): SqlCell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return exactNumber(String(v));
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(cell);
  if (typeof v === 'object') {
    const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
    const value = (v as { value?: unknown }).value;
    if (ctor === 'BigQueryInt' && value !== undefined) return exactNumber(String(value));
    // NUMERIC and BIGNUMERIC arrive as a Big.
    if (ctor === 'Big') return exactNumber(String(v));
    if (typeof value === 'string' && /^BigQuery/.test(ctor ?? '')) return value;
    const out: Record<string, SqlCell> = {};
    for (const [k, x] of Object.entries(v)) out[k] = cell(x);
    return out;
  }
  return String(v);
}

const typeName = (f: Field): string => {
  const base = f.type === 'RECORD' || f.type === 'STRUCT' ? `STRUCT<${(f.fields ?? []).map((x) => `${x.name} ${typeName(x)}`).join(', ')}>` : String(f.type ?? 'UNKNOWN');
  return f.mode === 'REPEATED' ? `ARRAY<${base}>` : base;
};

function failed(err: unknown): GamestreamError {
  if (err instanceof GamestreamError) return err;
  return new GamestreamError('sql_failed', `BigQuery: ${(err as Error).message ?? String(err)}`, { cause: err });
}

export function bigQueryReadOnlyRunner(bq: BigQuery, target: BigQueryTarget): SqlRunner {
  return async (sql: string, limits: SqlLimits): Promise<SqlResult> => {
    const t0 = Date.now();
    const base = { query: sql, useLegacySql: false, location: target.location, defaultDataset: { projectId: target.project, datasetId: target.dataset } };
    let job: Job | null = null;
    let gaveUp = false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        gaveUp = true;
        // A job still running is cancelled, not left to spend slots and money after the command gave up.
        void job?.cancel().catch(() => undefined);
        reject(sqlTimeoutError(limits.timeoutMs));
      }, limits.timeoutMs);
    });
    const run = async (): Promise<SqlResult> => {
      const [dry] = await bq.createQueryJob({ ...base, dryRun: true }).catch((err: unknown) => {
        throw failed(err);
      });
      const type = (dry.metadata as { statistics?: { query?: { statementType?: string } } })?.statistics?.query?.statementType;
      if (type !== 'SELECT') {
        throw new GamestreamError('sql_refused', `${type ? `statement type ${type}` : 'a statement BigQuery gave no type for'}, not a SELECT: gamestream sql runs read-only queries (one SELECT)`);
      }
      if (gaveUp) throw sqlTimeoutError(limits.timeoutMs);
      [job] = await bq.createQueryJob({ ...base, jobTimeoutMs: Math.max(1000, limits.timeoutMs - (Date.now() - t0)) });
      if (gaveUp) void job.cancel().catch(() => undefined);
      // BigQuery cuts a page by its bytes too (about 10 MB): pages are read until the row limit or the end.
      const list: Record<string, unknown>[] = [];
      let ask: Record<string, unknown> | null = { maxResults: limits.maxRows, autoPaginate: false, wrapIntegers: true };
      let response: unknown;
      while (ask !== null && list.length < limits.maxRows && !gaveUp) {
        const answer: unknown[] = await job.getQueryResults(ask);
        const next = answer[1] as Record<string, unknown> | null | undefined;
        response ??= answer[2];
        list.push(...(answer[0] as Record<string, unknown>[]));
        ask = next ? { ...next, maxResults: limits.maxRows - list.length, autoPaginate: false, wrapIntegers: true } : null;
      }
      list.length = Math.min(list.length, limits.maxRows);
      const fields = ((response as { schema?: { fields?: Field[] } } | undefined)?.schema?.fields ?? []) as Field[];
      const names = fields.map((f) => String(f.name));
      const total = Number((response as { totalRows?: unknown } | undefined)?.totalRows ?? list.length);
      return {
        columns: fields.map((f) => ({ name: String(f.name), type: typeName(f) })),
        rows: list.map((r) => names.map((n) => cell(r[n]))),
        truncated: total > list.length,
        limits,
        elapsedMs: Date.now() - t0,
      };
    };
    try {
      return await Promise.race([run().catch((err: unknown) => Promise.reject(failed(err))), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}
