/**
 * Creates or verifies gamestream's BigQuery dataset, tables and views at start.
 *
 * An existing table is compared with the spec. What BigQuery can change in place is changed: a nullable column
 * gamestream added since the table was created, clustering, partition expiration, require_partition_filter.
 * Anything else (a type change, a new required column, other partitioning) is an `warehouse_schema_mismatch`
 * start-up error that names the table and the column: gamestream never rewrites a user's table.
 */
import type { BigQuery, Table, TableMetadata } from '@google-cloud/bigquery';
import { GamestreamError } from '../../errors.ts';
import { quotedDataset, runQuery, type BigQueryTarget } from './client.ts';
import type { BqField, BqTableSpec } from './tables.ts';
import { VIEWS } from './tables.ts';

export interface TableOptions {
  /** Days after which a partition of a user table expires; null keeps them forever. */
  partitionExpirationDays: number | null;
  requirePartitionFilter: boolean;
}

export interface DdlReport {
  created: string[];
  updated: { table: string; change: string }[];
}

type ApiField = { name: string; type?: string; mode?: string; fields?: ApiField[] };

/** The REST API spells some types two ways. */
function normType(t: string | undefined): string {
  const u = (t ?? 'STRING').toUpperCase();
  return ({ INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL', STRUCT: 'RECORD' } as Record<string, string>)[u] ?? u;
}

function toApi(fields: BqField[]): ApiField[] {
  return fields.map((x) => (x.fields ? { name: x.name, type: x.type, mode: x.mode, fields: toApi(x.fields) } : { name: x.name, type: x.type, mode: x.mode }));
}

function mismatch(table: string, what: string): GamestreamError {
  return new GamestreamError(
    'warehouse_schema_mismatch',
    `BigQuery table ${table} is not compatible with gamestream's schema: ${what}. ` +
      'gamestream does not rewrite existing tables; migrate or rename the table, or point GAMESTREAM_WAREHOUSE at another dataset.',
  );
}

/**
 * Merges the spec into an existing schema: returns the schema to write back (null if unchanged) and the names
 * of the columns added. Throws on anything that cannot change in place.
 */
export function mergeSchema(table: string, existing: ApiField[], spec: BqField[], path = ''): { fields: ApiField[]; added: string[] } {
  const byName = new Map(existing.map((x) => [x.name.toLowerCase(), x]));
  const out = existing.map((x) => ({ ...x }));
  const added: string[] = [];
  for (const want of spec) {
    const have = byName.get(want.name.toLowerCase());
    const col = `${path}${want.name}`;
    if (!have) {
      if (want.mode === 'REQUIRED') throw mismatch(table, `column ${col} (${want.type} REQUIRED) is missing, and a required column cannot be added to a table in place`);
      out.push(...toApi([want]));
      added.push(col);
      continue;
    }
    if (normType(have.type) !== want.type) throw mismatch(table, `column ${col} is ${normType(have.type)}, gamestream writes ${want.type}`);
    const haveMode = (have.mode ?? 'NULLABLE').toUpperCase();
    if (haveMode !== want.mode && !(haveMode === 'NULLABLE' && want.mode === 'REQUIRED')) {
      throw mismatch(table, `column ${col} is ${haveMode}, gamestream writes ${want.mode}`);
    }
    if (want.fields) {
      const sub = mergeSchema(table, have.fields ?? [], want.fields, `${col}.`);
      if (sub.added.length > 0) {
        const i = out.findIndex((x) => x.name.toLowerCase() === want.name.toLowerCase());
        out[i] = { ...out[i]!, fields: sub.fields };
        added.push(...sub.added);
      }
    }
  }
  const wanted = new Set(spec.map((x) => x.name.toLowerCase()));
  for (const x of existing) {
    if (!wanted.has(x.name.toLowerCase()) && (x.mode ?? '').toUpperCase() === 'REQUIRED') {
      throw mismatch(table, `it has a required column ${path}${x.name} that gamestream does not write`);
    }
  }
  return { fields: out, added };
}

function wantedMetadata(spec: BqTableSpec, opts: TableOptions): TableMetadata {
  const md: TableMetadata = {
    schema: { fields: toApi(spec.fields) },
    description: spec.description,
    timePartitioning: { type: 'DAY', field: spec.partitionBy },
  };
  if (spec.clusterBy.length > 0) md.clustering = { fields: spec.clusterBy };
  if (spec.userTable) {
    if (opts.partitionExpirationDays !== null) md.timePartitioning!.expirationMs = String(opts.partitionExpirationDays * 86_400_000);
    // Both places: the table-level field is current, the one in timePartitioning is what older servers read.
    md.requirePartitionFilter = opts.requirePartitionFilter;
    md.timePartitioning!.requirePartitionFilter = opts.requirePartitionFilter;
  }
  return md;
}

async function ensureTable(bq: BigQuery, t: BigQueryTarget, spec: BqTableSpec, opts: TableOptions, report: DdlReport): Promise<void> {
  const table: Table = bq.dataset(t.dataset).table(spec.name);
  const want = wantedMetadata(spec, opts);
  const [exists] = await table.exists();
  if (!exists) {
    try {
      await bq.dataset(t.dataset).createTable(spec.name, want);
      report.created.push(spec.name);
      return;
    } catch (err) {
      // Another daemon of the group created it first: verify theirs like any existing table.
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  const [md] = await table.getMetadata();
  const name = `${t.project}.${t.dataset}.${spec.name}`;
  const tp = md.timePartitioning as { type?: string; field?: string; expirationMs?: string; requirePartitionFilter?: boolean } | undefined;
  if (!tp || (tp.type ?? 'DAY') !== 'DAY' || tp.field !== spec.partitionBy) {
    throw mismatch(name, `it must be partitioned by DAY on ${spec.partitionBy}, but is ${tp ? `partitioned by ${tp.type} on ${tp.field ?? '_PARTITIONTIME'}` : 'not partitioned'}`);
  }
  const { fields, added } = mergeSchema(name, (md.schema?.fields ?? []) as ApiField[], spec.fields);
  const patch: TableMetadata = {};
  const changes: string[] = [];
  if (added.length > 0) {
    patch.schema = { fields };
    changes.push(`added nullable column(s) ${added.join(', ')}`);
  }
  const haveCluster = ((md.clustering as { fields?: string[] } | undefined)?.fields ?? []).join(',');
  if (haveCluster !== spec.clusterBy.join(',')) {
    patch.clustering = spec.clusterBy.length > 0 ? { fields: spec.clusterBy } : (null as never);
    changes.push(`clustering ${haveCluster || '(none)'} → ${spec.clusterBy.join(',') || '(none)'}`);
  }
  if (spec.userTable) {
    const wantExp = want.timePartitioning!.expirationMs ?? null;
    const haveRpf = (md.requirePartitionFilter ?? tp.requirePartitionFilter) === true;
    if ((tp.expirationMs ?? null) !== wantExp || haveRpf !== opts.requirePartitionFilter) {
      patch.timePartitioning = {
        type: 'DAY', field: spec.partitionBy, requirePartitionFilter: opts.requirePartitionFilter, ...(wantExp === null ? {} : { expirationMs: wantExp }),
      };
      patch.requirePartitionFilter = opts.requirePartitionFilter;
    }
    if ((tp.expirationMs ?? null) !== wantExp) changes.push(`partition expiration ${tp.expirationMs ?? 'none'} → ${wantExp ?? 'none'} ms`);
    if (haveRpf !== opts.requirePartitionFilter) changes.push(`require_partition_filter ${haveRpf} → ${opts.requirePartitionFilter}`);
  }
  if (changes.length === 0) return;
  await table.setMetadata(patch);
  report.updated.push({ table: spec.name, change: changes.join('; ') });
}

/** Runs one step of the set-up (each is safe to run again): the caller's retry of transient failures, or none. */
export type DdlStep = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/**
 * Creates the dataset if missing (in GAMESTREAM_BIGQUERY_LOCATION), then every table and view, each as a `step`:
 * retried on its own, so that a transient failure late in the set-up does not start it all over (at a 30% error
 * rate, retrying the whole set-up took over a minute).
 */
export async function ensureSchema(
  bq: BigQuery, t: BigQueryTarget, specs: BqTableSpec[], opts: TableOptions, views = true, step: DdlStep = (_what, fn) => fn(),
): Promise<DdlReport> {
  const report: DdlReport = { created: [], updated: [] };
  const ds = bq.dataset(t.dataset);
  await step(`creating or verifying the dataset ${t.dataset}`, async () => {
    const [dsExists] = await ds.exists();
    if (dsExists) return;
    try {
      await ds.create({ location: t.location });
      report.created.push(t.dataset);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  });
  for (const spec of specs) await step(`creating or verifying the table ${spec.name}`, () => ensureTable(bq, t, spec, opts, report));
  if (views) {
    for (const v of VIEWS) {
      await step(`creating the view ${v.name}`, () =>
        runQuery(bq, `CREATE OR REPLACE VIEW ${quotedDataset(t)}.${v.name} AS ${v.sql.replaceAll('{ds}', quotedDataset(t))}`, { location: t.location }));
    }
  }
  return report;
}
