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
import { levelStatsMaterializedView } from '../../etl/level-stats.ts';

export interface BigQueryEtlOptions {
  bq: BigQuery;
  target: BigQueryTarget;
  /** Partition expiration and require_partition_filter of level_metrics, user_daily_metrics and revenue_daily (as the engine's). */
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
  // NUMERIC (money) arrives as a Big: the double nearest to it, as the DuckDB adapter hands DECIMAL over.
  if (ctor === 'Big') return Number(String(v));
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
      await migrateRevenueToNumeric(bq, target, run);
      await ensureSchema(bq, target, ETL_TABLES, o.tables, false);
      const view = bq.dataset(target.dataset).table('level_daily_stats');
      if ((await view.exists())[0]) return;
      const ds = `\`${target.project}.${target.dataset}\``;
      await run(levelStatsMaterializedView(ds)).catch(async (err: unknown) => {
        if ((await view.exists())[0]) return; // another daemon made it meanwhile
        throw new GamestreamError('warehouse_schema_mismatch', `cannot create the materialized view ${ds}.level_daily_stats: ${(err as Error).message}`, { cause: err });
      });
    },
  };
}

/**
 * user_daily_metrics made by an older gamestream has revenue_usd FLOAT64 (sums such as 74.85000000000001), which
 * BigQuery cannot change to NUMERIC in place. The table is gamestream's own derived data, so it is rewritten
 * once, in one statement, with every row and the amounts rounded to 6 places as they would have been; then
 * ensureSchema verifies it and sets its options as for any table.
 */
async function migrateRevenueToNumeric(bq: BigQuery, target: BigQueryTarget, run: (sql: string) => Promise<unknown>): Promise<void> {
  const table = bq.dataset(target.dataset).table('user_daily_metrics');
  const [exists] = await table.exists();
  if (!exists) return;
  const [md] = await table.getMetadata();
  const revenue = (md.schema?.fields ?? []).find((f: { name?: string }) => f.name === 'revenue_usd') as { type?: string } | undefined;
  if (revenue?.type !== 'FLOAT' && revenue?.type !== 'FLOAT64') return;
  const spec = ETL_TABLES.find((t) => t.name === 'user_daily_metrics')!;
  const name = `\`${target.project}.${target.dataset}.user_daily_metrics\``;
  // The WHERE reads every row: the table may require a partition filter. No column list (the emulator does not
  // take one with AS SELECT): user_id and date come out NULLABLE, which ensureSchema accepts for REQUIRED ones.
  await run(`CREATE OR REPLACE TABLE ${name}
    PARTITION BY ${spec.partitionBy} CLUSTER BY ${spec.clusterBy.join(', ')}
    AS SELECT * REPLACE (CAST(ROUND(revenue_usd, 6) AS NUMERIC) AS revenue_usd) FROM ${name}
    WHERE ${spec.partitionBy} >= DATE '0001-01-01'`);
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
