/**
 * snapshotToDuckDb: copies a BigQuery warehouse (events, events_dlq, events_agg_1min) into a new DuckDB file laid
 * out as test/support/truth/compare.ts expects, so compareWarehouse can check a BigQuery run against the truth.
 *
 * Rows are read with jobs.query / jobs.getQueryResults directly (the client's authenticated `request`), not through
 * the client's row parsing: that parsing turns TIMESTAMPs before 1970 into wrong values (-1 µs comes back as
 * 1970-01-01T00:00:00.999999Z) and INT64 beyond 2^53 into rounded numbers unless wrapped. The raw cells are exact:
 * INT64 as decimal strings, TIMESTAMP as int64 microseconds (formatOptions.useInt64Timestamp), DATE as YYYY-MM-DD,
 * JSON as its text. DuckDB does the conversions, so a value it cannot hold fails the copy instead of changing.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { BigQuery } from '@google-cloud/bigquery';
// The tables, column names and DuckDB types compareWarehouse checks.
import { TABLES } from '../truth/compare.ts';

/**
 * The partitioning column of each table. Production tables require a partition filter; the snapshot reads all rows
 * with two queries that each have one: from the smallest value BigQuery allows, and the NULLs.
 */
export const PARTITION_FILTERS: Record<string, { column: string; from: string }> = {
  events: { column: 'event_date', from: `DATE '0001-01-01'` },
  events_dlq: { column: 'received_at', from: `TIMESTAMP '0001-01-01 00:00:00+00'` },
  events_agg_1min: { column: 'window_start', from: `TIMESTAMP '0001-01-01 00:00:00+00'` },
};

/** The BigQuery types (as tables.get reports them) each DuckDB type is copied from. */
const SOURCE_TYPES: Record<string, readonly string[]> = {
  VARCHAR: ['STRING'],
  BIGINT: ['INTEGER', 'INT64'],
  INTEGER: ['INTEGER', 'INT64'],
  TIMESTAMP: ['TIMESTAMP'],
  DATE: ['DATE'],
  JSON: ['JSON'],
  BOOLEAN: ['BOOLEAN', 'BOOL'],
};

/** Raw cell text accepted per DuckDB type before DuckDB converts it. */
const CELL_FORMAT: Record<string, RegExp> = {
  BIGINT: /^-?\d+$/,
  INTEGER: /^-?\d+$/,
  TIMESTAMP: /^-?\d+$/, // microseconds since the epoch
  DATE: /^\d{4}-\d{2}-\d{2}$/,
  BOOLEAN: /^(true|false)$/,
};

/** Rows per page asked for by default; BigQuery may send fewer (it caps a page's bytes) and says so with a pageToken. */
const PAGE_ROWS = 20_000;

export interface SnapshotOptions {
  /** maxResults per jobs.query / getQueryResults page (tests make it small to exercise paging). */
  pageRows?: number;
}
/** How long one jobs.query / getQueryResults call waits for the query before answering jobComplete: false. */
const WAIT_MS = 10_000;

interface QueryResponse {
  jobComplete?: boolean;
  jobReference?: { projectId?: string; jobId?: string; location?: string };
  schema?: { fields?: { name?: string; type?: string }[] };
  rows?: { f?: { v?: unknown }[] }[];
  pageToken?: string;
  totalRows?: string;
}

type RequestOptions = Parameters<BigQuery['request']>[0];

function request<T>(bq: BigQuery, opts: RequestOptions): Promise<T> {
  return new Promise((resolve, reject) => {
    bq.request(opts, (err, body) => (err ? reject(err) : resolve(body as T)));
  });
}

/** Every page of a query's result, raw: jobs.query, then jobs.getQueryResults until there is no pageToken. */
async function* queryPages(bq: BigQuery, sql: string, pageRows: number): AsyncGenerator<QueryResponse> {
  let res = await request<QueryResponse>(bq, {
    method: 'POST',
    uri: '/queries',
    json: {
      query: sql, useLegacySql: false, maxResults: pageRows, timeoutMs: WAIT_MS,
      formatOptions: { useInt64Timestamp: true }, requestId: randomUUID(),
    },
  });
  for (;;) {
    if (res.jobComplete) yield res;
    if (res.jobComplete && !res.pageToken) return;
    const jobId = res.jobReference?.jobId;
    if (!jobId) throw new Error(`BigQuery answered without a job id but ${res.jobComplete ? 'with more pages' : 'before the query finished'}`);
    res = await request<QueryResponse>(bq, {
      uri: `/queries/${encodeURIComponent(jobId)}`,
      qs: {
        maxResults: pageRows, timeoutMs: WAIT_MS, 'formatOptions.useInt64Timestamp': true,
        ...(res.pageToken ? { pageToken: res.pageToken } : {}),
        ...(res.jobReference?.location ? { location: res.jobReference.location } : {}),
      },
    });
  }
}

function quoteBq(...parts: string[]): string {
  for (const p of parts) if (/[`\\\n]/.test(p)) throw new Error(`unsupported character in BigQuery name ${JSON.stringify(p)}`);
  return `\`${parts.join('.')}\``;
}

/** Checks the BigQuery table has every column with a type it can be copied from; throws a clear error otherwise. */
async function checkSource(bq: BigQuery, project: string, dataset: string, table: string): Promise<void> {
  const name = `${project}.${dataset}.${table}`;
  const t = bq.dataset(dataset, { projectId: project }).table(table);
  let fields: { name?: string; type?: string; mode?: string }[];
  try {
    const [md] = await t.getMetadata();
    fields = (md as { schema?: { fields?: typeof fields } }).schema?.fields ?? [];
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) throw new Error(`snapshot: BigQuery table ${name} does not exist`);
    throw err;
  }
  const have = new Map(fields.map((f) => [f.name ?? '', f]));
  const problems: string[] = [];
  for (const [col, duckType] of Object.entries(TABLES[table])) {
    const f = have.get(col);
    if (!f) problems.push(`column ${col} is missing`);
    else if (!SOURCE_TYPES[duckType].includes(String(f.type))) problems.push(`${col} is ${f.type}, expected ${SOURCE_TYPES[duckType].join(' or ')}`);
    else if (f.mode === 'REPEATED') problems.push(`${col} is REPEATED`);
  }
  if (problems.length) throw new Error(`snapshot: BigQuery table ${name}: ${problems.join('; ')}`);
}

/** Copies one table: pages of raw cells into an all-VARCHAR staging table, then one typed INSERT … SELECT. */
async function copyTable(
  bq: BigQuery, conn: DuckDBConnection, project: string, dataset: string, table: string, pageRows: number,
): Promise<number> {
  const spec = Object.entries(TABLES[table]);
  const cols = spec.map(([c]) => c);
  const stage = `stage_${table}`;
  await conn.run(`CREATE TEMP TABLE "${stage}" (${cols.map((c) => `"${c}" VARCHAR`).join(', ')})`);
  const appender = await conn.createAppender(stage, 'main', 'temp');
  const { column, from } = PARTITION_FILTERS[table];
  const select = `SELECT ${cols.map((c) => `\`${c}\``).join(', ')} FROM ${quoteBq(project, dataset, table)}`;
  let copied = 0;
  try {
    for (const where of [`\`${column}\` >= ${from}`, `\`${column}\` IS NULL`]) {
      let expected = -1;
      let read = 0;
      for await (const page of queryPages(bq, `${select} WHERE ${where}`, pageRows)) {
        const names = (page.schema?.fields ?? []).map((f) => f.name);
        if (names.join(',') !== cols.join(',')) throw new Error(`snapshot ${table}: result columns ${names.join(',')} are not ${cols.join(',')}`);
        if (expected < 0 && page.totalRows !== undefined) expected = Number(page.totalRows);
        for (const row of page.rows ?? []) {
          const cells = row.f ?? [];
          for (let i = 0; i < spec.length; i++) {
            const v = cells[i]?.v;
            if (v === null || v === undefined) {
              appender.appendNull();
              continue;
            }
            const [col, type] = spec[i];
            if (typeof v !== 'string' || (CELL_FORMAT[type] && !CELL_FORMAT[type].test(v))) {
              throw new Error(`snapshot ${table}.${col}: unexpected ${type} cell ${JSON.stringify(v)?.slice(0, 80)}`);
            }
            appender.appendVarchar(v);
          }
          appender.endRow();
          read++;
        }
      }
      // A paging mistake (ours or the server's) would otherwise lose or repeat rows silently.
      if (expected >= 0 && read !== expected) throw new Error(`snapshot ${table}: read ${read} rows, BigQuery reported ${expected} (WHERE ${where})`);
      copied += read;
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  const conv = spec.map(([c, type]) => {
    const q = `"${c}"`;
    if (type === 'VARCHAR') return q;
    if (type === 'TIMESTAMP') return `make_timestamp(${q}::BIGINT)`;
    return `${q}::${type}`;
  });
  try {
    await conn.run(`INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) SELECT ${conv.join(', ')} FROM temp.main."${stage}"`);
  } catch (err) {
    throw new Error(`snapshot ${table}: DuckDB could not convert the BigQuery values: ${(err as Error).message}`, { cause: err });
  }
  await conn.run(`DROP TABLE temp.main."${stage}"`);
  return copied;
}

/**
 * Copies events, events_dlq and events_agg_1min of `project.dataset` into a new DuckDB file at duckdbPath (which
 * must not exist yet). Returns the rows copied per table. Throws when a table or column is missing or has a type
 * the warehouse schema does not allow.
 */
export async function snapshotToDuckDb(
  bq: BigQuery, project: string, dataset: string, duckdbPath: string, opts: SnapshotOptions = {},
): Promise<Record<string, number>> {
  const pageRows = opts.pageRows ?? PAGE_ROWS;
  if (existsSync(duckdbPath)) throw new Error(`snapshot: ${duckdbPath} already exists`);
  // Every table is checked before anything is written, so a wrong warehouse leaves no half-made file.
  for (const table of Object.keys(TABLES)) await checkSource(bq, project, dataset, table);
  mkdirSync(dirname(duckdbPath), { recursive: true });
  const instance = await DuckDBInstance.create(duckdbPath);
  const conn = await instance.connect();
  const counts: Record<string, number> = {};
  let done = false;
  try {
    for (const [table, spec] of Object.entries(TABLES)) {
      await conn.run(`CREATE TABLE "${table}" (${Object.entries(spec).map(([c, t]) => `"${c}" ${t}`).join(', ')})`);
      counts[table] = await copyTable(bq, conn, project, dataset, table, pageRows);
    }
    // Readers open the file read-only; a checkpoint leaves nothing in the write-ahead log.
    await conn.run('CHECKPOINT');
    done = true;
  } finally {
    conn.closeSync();
    instance.closeSync();
    // A partial copy must not pass for a snapshot later.
    if (!done) for (const f of [duckdbPath, `${duckdbPath}.wal`]) rmSync(f, { force: true });
  }
  return counts;
}
