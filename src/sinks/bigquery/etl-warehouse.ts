/**
 * The ETL on BigQuery: an EtlWarehouse whose SQL runs as BigQuery query jobs in the gamestream dataset (its
 * default dataset, so the ETL's unqualified table names resolve there), in GoogleSQL (dialect.ts).
 *
 * - A whole `BEGIN TRANSACTION; DELETE …; INSERT …; COMMIT;` goes as one multi-statement job: BigQuery applies it
 *   atomically and rolls it back when a statement fails, which is how a day's rows are replaced.
 * - `exec` calls are queued, one job at a time, like the DuckDB adapter: the DAG's parallel tasks would
 *   otherwise run concurrent DML on etl_runs, which BigQuery may abort ("concurrent update"). Queries
 *   (SELECTs) do not conflict and run at once.
 * - Jobs are created and then awaited (createQueryJob + getQueryResults), not run through `bq.query()`: against
 *   the emulator `bq.query()` returns no rows instead of an error for a failing statement, and a failure that
 *   looks like success would turn a broken day into a "successful" run.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import { GamestreamError } from '../../errors.ts';
import { ensureSchema, type TableOptions } from './ddl.ts';
import { runQuery, type BigQueryTarget } from './client.ts';
import { ENGINE_TABLES, ETL_TABLES, VIEWS } from './tables.ts';
import { BIGQUERY } from '../../etl/dialect.ts';
import { serialQueue, type EtlWarehouse } from '../../etl/warehouse.ts';

export interface BigQueryEtlOptions {
  bq: BigQuery;
  target: BigQueryTarget;
  /** Partition expiration and require_partition_filter of level_metrics and user_daily_metrics (as the engine's). */
  tables: TableOptions;
  /** Longest a single statement may run before the job is abandoned (and the task retried). */
  jobTimeoutMs?: number;
}

const DEFAULT_JOB_TIMEOUT_MS = 30 * 60_000;

/**
 * The client's cell objects to plain values, as the DuckDB adapter returns them: DATE as 'YYYY-MM-DD', TIMESTAMP as
 * a Date, numbers as numbers (the client already parses INT64 to a JS number; the ETL's values fit a double).
 */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date) return v;
  const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
  const value = (v as { value?: unknown }).value;
  if (ctor === 'BigQueryTimestamp' && typeof value === 'string') return new Date(value);
  if ((ctor === 'BigQueryDate' || ctor === 'BigQueryDatetime' || ctor === 'BigQueryTime') && typeof value === 'string') return value;
  if (ctor === 'BigQueryInt' && (typeof value === 'string' || typeof value === 'number')) return Number(value);
  return v;
}

export function bigQueryEtlWarehouse(o: BigQueryEtlOptions): EtlWarehouse {
  const { bq, target } = o;
  const timeoutMs = o.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;

  const run = async (sql: string): Promise<Record<string, unknown>[]> => {
    try {
      const rows = await runQuery(bq, sql, {
        defaultDataset: { projectId: target.project, datasetId: target.dataset },
        location: target.location,
        jobTimeoutMs: timeoutMs,
      });
      return rows.map((row) => {
        const out: Record<string, unknown> = {};
        for (const [k, val] of Object.entries(row)) out[k] = plain(val);
        return out;
      });
    } catch (err) {
      const e = err as { code?: unknown; message?: string };
      // 5xx, 429 and lost connections are worth the task's retry; a SQL error is not going to change.
      const status = typeof e.code === 'number' ? e.code : 0;
      const retryable = status === 429 || status >= 500 || /ECONNRESET|ECONNREFUSED|socket hang up|ETIMEDOUT/i.test(e.message ?? '');
      throw new GamestreamError('warehouse_unavailable', `BigQuery ETL statement failed: ${e.message ?? String(err)}`, { cause: err, retryable });
    }
  };

  const serial = serialQueue();

  return {
    dialect: BIGQUERY,
    query: run,
    exec: (sql) => serial(async () => {
      await run(sql);
    }),
    // Through the same DDL as the engine's tables (partitioning, clustering, options; verified when present).
    ensureTables: async () => {
      await ensureSchema(bq, target, ETL_TABLES, o.tables, false);
    },
  };
}

/** The engine's tables and views the ETL reads: present once the daemon has started on the dataset. */
export async function missingEngineTables(bq: BigQuery, target: BigQueryTarget): Promise<string[]> {
  const ds = bq.dataset(target.dataset);
  const [dsExists] = await ds.exists();
  const needed = [...ENGINE_TABLES.map((t) => t.name), ...VIEWS.map((v) => v.name)];
  if (!dsExists) return needed;
  const missing: string[] = [];
  for (const name of needed) {
    const [exists] = await ds.table(name).exists();
    if (!exists) missing.push(name);
  }
  return missing;
}
