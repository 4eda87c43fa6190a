// gamestream's BigQuery DDL against the real emulator: tables are created with the seed's partitioning,
// clustering and options (read back through the API), existing tables evolve in place where BigQuery allows
// it, and an incompatible table stops the start with a clear error.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BigQuery } from '@google-cloud/bigquery';
import { ensureSchema, mergeSchema } from '../../../src/sinks/bigquery/ddl.ts';
import { ENGINE_TABLES, ETL_TABLES, EVENTS_TABLE } from '../../../src/sinks/bigquery/tables.ts';
import type { BigQueryTarget } from '../../../src/sinks/bigquery/client.ts';
import { emulatorClients, freshDataset, type FreshDataset } from '../../support/bigquery/client.ts';

const ctx = inject('bigquery');
let bq: BigQuery;
const cleanups: FreshDataset[] = [];

function target(dataset: string): BigQueryTarget {
  return { project: ctx.project, dataset, endpoint: ctx.restEndpoint, writeEndpoint: ctx.writeEndpoint, location: 'US' };
}

async function newDataset(prefix: string): Promise<string> {
  const d = await freshDataset(bq, prefix);
  cleanups.push(d);
  return d.id;
}

async function metadata(dataset: string, table: string): Promise<Record<string, any>> {
  const [md] = await bq.dataset(dataset).table(table).getMetadata();
  return md;
}

beforeAll(() => {
  bq = emulatorClients(ctx).bq;
});

afterAll(async () => {
  for (const d of cleanups) await d.cleanup();
});

describe('BigQuery DDL', () => {
  it('creates every table with the specified partitioning, clustering and options, then finds nothing to change', async () => {
    const ds = await newDataset('ddl_create');
    const opts = { partitionExpirationDays: 365, requirePartitionFilter: true };
    const first = await ensureSchema(bq, target(ds), [...ENGINE_TABLES, ...ETL_TABLES], opts);
    expect(first.created.sort()).toEqual([...ENGINE_TABLES, ...ETL_TABLES].map((t) => t.name).sort());

    const events = await metadata(ds, 'events');
    expect(events.timePartitioning).toMatchObject({ type: 'DAY', field: 'event_date', expirationMs: String(365 * 86_400_000) });
    expect(events.requirePartitionFilter ?? events.timePartitioning.requirePartitionFilter).toBe(true);
    expect(events.clustering).toEqual({ fields: ['event_type', 'user_id'] });
    const cols = Object.fromEntries((events.schema.fields as { name: string; type: string; mode?: string }[]).map((f) => [f.name, `${f.type} ${f.mode ?? 'NULLABLE'}`]));
    expect(cols).toMatchObject({
      event_id: 'STRING REQUIRED', user_id: 'STRING REQUIRED', timestamp: 'TIMESTAMP REQUIRED', event_date: 'DATE REQUIRED',
      parameters: 'JSON NULLABLE', event_type: expect.stringMatching(/^INT(EGER|64) REQUIRED$/),
    });

    expect((await metadata(ds, 'events_dlq')).timePartitioning).toMatchObject({ type: 'DAY', field: 'received_at' });
    expect((await metadata(ds, 'events_agg_1min')).timePartitioning).toMatchObject({ type: 'DAY', field: 'window_start' });
    const level = await metadata(ds, 'level_metrics');
    expect(level.timePartitioning).toMatchObject({ type: 'DAY', field: 'date' });
    expect(level.clustering).toEqual({ fields: ['level_id'] });
    expect((await metadata(ds, 'user_daily_metrics')).timePartitioning).toMatchObject({ type: 'DAY', field: 'date' });
    // The internal commit log keeps its history: no expiry and no partition filter requirement.
    const commits = await metadata(ds, 'gamestream_commits');
    expect(commits.timePartitioning.expirationMs).toBeUndefined();

    const again = await ensureSchema(bq, target(ds), [...ENGINE_TABLES, ...ETL_TABLES], opts);
    expect(again).toEqual({ created: [], updated: [] });
  });

  it('adds a nullable column gamestream gained to an existing table in place, keeping its rows', async () => {
    const ds = await newDataset('ddl_evolve');
    // An events table from an older gamestream: without device_tier, without clustering, other options.
    const older = EVENTS_TABLE.fields.filter((f) => f.name !== 'device_tier');
    await bq.dataset(ds).createTable('events', {
      schema: { fields: older },
      timePartitioning: { type: 'DAY', field: 'event_date' },
    });
    await bq.query(`INSERT INTO \`${ctx.project}.${ds}.events\` (event_id, user_id, event_type, timestamp, event_date, event_hour, day_of_week, source, source_partition, source_offset)
      VALUES ('e1', 'u1', 1001, TIMESTAMP '2026-11-01 10:00:00', DATE '2026-11-01', 10, 0, 's', 0, 0)`);
    const report = await ensureSchema(bq, target(ds), [EVENTS_TABLE], { partitionExpirationDays: 30, requirePartitionFilter: true }, false);
    expect(report.created).toEqual([]);
    expect(report.updated).toHaveLength(1);
    expect(report.updated[0]!.change).toMatch(/added nullable column\(s\) device_tier/);
    expect(report.updated[0]!.change).toMatch(/clustering/);
    const md = await metadata(ds, 'events');
    expect((md.schema.fields as { name: string }[]).map((f) => f.name)).toContain('device_tier');
    expect(md.clustering).toEqual({ fields: ['event_type', 'user_id'] });
    expect(md.timePartitioning.expirationMs).toBe(String(30 * 86_400_000));
    expect(md.requirePartitionFilter ?? md.timePartitioning.requirePartitionFilter).toBe(true);
    // (The emulator returns no rows when a column added after them is selected; BigQuery gives NULL. So the
    // rows are checked without it.)
    const [rows] = await bq.query(`SELECT event_id FROM \`${ctx.project}.${ds}.events\` WHERE event_date >= '2026-01-01'`);
    expect(rows).toEqual([{ event_id: 'e1' }]);
  });

  it('refuses an incompatible table with warehouse_schema_mismatch, naming the table and column, and changes nothing', async () => {
    const ds = await newDataset('ddl_bad');
    const wrongType = EVENTS_TABLE.fields.map((f) => (f.name === 'event_type' ? { ...f, type: 'STRING' as const } : f));
    await bq.dataset(ds).createTable('events', { schema: { fields: wrongType }, timePartitioning: { type: 'DAY', field: 'event_date' } });
    const err = await ensureSchema(bq, target(ds), [EVENTS_TABLE], { partitionExpirationDays: null, requirePartitionFilter: false }, false).catch((e) => e);
    expect(err.code).toBe('warehouse_schema_mismatch');
    expect(err.message).toMatch(/events/);
    expect(err.message).toMatch(/event_type is STRING, gamestream writes INT64/);
    const md = await metadata(ds, 'events');
    expect((md.schema.fields as { name: string; type: string }[]).find((f) => f.name === 'event_type')!.type).toBe('STRING');
  });

  it('refuses a table partitioned on another column', async () => {
    const ds = await newDataset('ddl_part');
    await bq.dataset(ds).createTable('events', { schema: { fields: EVENTS_TABLE.fields }, timePartitioning: { type: 'DAY', field: 'timestamp' } });
    const err = await ensureSchema(bq, target(ds), [EVENTS_TABLE], { partitionExpirationDays: null, requirePartitionFilter: false }, false).catch((e) => e);
    expect(err.code).toBe('warehouse_schema_mismatch');
    expect(err.message).toMatch(/partitioned by DAY on event_date/);
  });
});

describe('mergeSchema', () => {
  const spec = [
    { name: 'a', type: 'STRING' as const, mode: 'REQUIRED' as const },
    { name: 'b', type: 'INT64' as const, mode: 'NULLABLE' as const },
  ];
  it('accepts the API spellings of types and a nullable column where gamestream requires one', () => {
    expect(mergeSchema('t', [{ name: 'a', type: 'STRING', mode: 'NULLABLE' }, { name: 'b', type: 'INTEGER' }], spec).added).toEqual([]);
  });
  it('refuses a new required column, a required column gamestream does not write, and a nullable one it requires', () => {
    expect(() => mergeSchema('t', [{ name: 'b', type: 'INT64' }], spec)).toThrow(/column a \(STRING REQUIRED\) is missing/);
    expect(() => mergeSchema('t', [{ name: 'a', type: 'STRING' }, { name: 'b', type: 'INT64' }, { name: 'z', type: 'STRING', mode: 'REQUIRED' }], spec))
      .toThrow(/required column z/);
    expect(() => mergeSchema('t', [{ name: 'a', type: 'STRING', mode: 'REPEATED' }, { name: 'b', type: 'INT64' }], spec)).toThrow(/a is REPEATED/);
  });
});
