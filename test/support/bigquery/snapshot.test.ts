// snapshotToDuckDb against the test emulator: exact values at the edges, paging, the truth round trip, clear errors.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { BigQuery, Dataset, TableField } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareWarehouse } from '../truth/compare.ts';
import { expectedFor } from '../truth/expected.ts';
import { generateDataset } from '../truth/generate.ts';
import { writeReferenceWarehouse } from '../truth/reference-warehouse.ts';
import { emulatorClients, freshDataset, type FreshDataset } from './client.ts';
import { snapshotToDuckDb } from './snapshot.ts';

const S = (name: string, mode?: 'REQUIRED'): TableField => ({ name, type: 'STRING', ...(mode ? { mode } : {}) });
const I = (name: string, mode?: 'REQUIRED'): TableField => ({ name, type: 'INT64', ...(mode ? { mode } : {}) });
const TS = (name: string, mode?: 'REQUIRED'): TableField => ({ name, type: 'TIMESTAMP', ...(mode ? { mode } : {}) });

/** The warehouse tables with BigQuery types, as the BigQuery sink is to create them. */
const BQ_SCHEMAS: Record<string, TableField[]> = {
  events: [
    S('event_id', 'REQUIRED'), S('user_id', 'REQUIRED'), S('session_id'), I('event_type', 'REQUIRED'), S('event_name'),
    TS('timestamp', 'REQUIRED'), { name: 'event_date', type: 'DATE', mode: 'REQUIRED' }, I('event_hour'), I('day_of_week'),
    { name: 'parameters', type: 'JSON' }, S('platform'), S('app_version'), S('country'), S('region'), S('city'),
    S('device_model'), S('device_category'), S('device_tier'), S('source'), I('source_partition'), I('source_offset'),
    { name: 'is_paying_user', type: 'BOOL' }, I('days_since_install'), { name: 'properties', type: 'JSON' },
  ],
  events_dlq: [
    S('error_code'), S('error'), S('stage'), S('raw_message'), S('raw_encoding'), S('source'), I('source_partition'),
    I('source_offset'), TS('received_at'), S('gamestream_version'), S('failure_schema'),
  ],
  events_agg_1min: [
    TS('window_start'), TS('window_end'), I('event_type'), I('level_id'), I('event_count'), S('source'), I('source_partition'),
  ],
};
const PARTITIONING: Record<string, string> = { events: 'event_date', events_dlq: 'received_at', events_agg_1min: 'window_start' };

async function createTables(ds: Dataset, only = Object.keys(BQ_SCHEMAS)): Promise<void> {
  for (const name of only) {
    await ds.createTable(name, {
      schema: BQ_SCHEMAS[name],
      // As in production: DAY partitions that queries must filter on.
      timePartitioning: { type: 'DAY', field: PARTITIONING[name] },
      requirePartitionFilter: true,
    });
  }
}

type Row = Record<string, unknown>;

async function duckRows(path: string, sql: string): Promise<Row[]> {
  const db = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Row[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

// Microsecond text of a DuckDB TIMESTAMP, the same shape the rows below are written with.
const US = (c: string) => `strftime("${c}", '%Y-%m-%dT%H:%M:%S.%fZ') AS "${c}"`;

const BIG = '9007199254740993'; // 2^53 + 1: a double cannot hold it
const P40 = String(2 ** 40);
const JSON_NESTED = '{"level_id":7,"nested":{"a":[1,2.5,"x",{"deep":[true,false,null]}],"b":{"c":null}},"s":"ü 😀 \\"q\\" \\n"}';

/** insertAll rows: INT64 and TIMESTAMP as strings so nothing passes through a JS double. */
const EVENTS: Row[] = [
  {
    event_id: 'e1-ü😀', user_id: 'u1', session_id: null, event_type: P40, event_name: 'level_up ✓', timestamp: '2026-03-04T05:06:07.123456Z',
    event_date: '2026-03-04', event_hour: '5', day_of_week: '3', parameters: JSON_NESTED, platform: 'ios', app_version: '1.2.3',
    country: 'DE', region: 'Baden-Württemberg', city: 'Stuttgart', device_model: 'iPhone15,2', device_category: 'phone',
    device_tier: 'high', source: 'kafka:events', source_partition: '2147483647', source_offset: BIG, is_paying_user: true,
    days_since_install: '9821', properties: '{"sdk":{"name":"unity","v":[1,2]},"__proto__":{"x":1}}',
  },
  {
    event_id: 'e2', user_id: 'u2', session_id: 's2', event_type: '-1', event_name: null, timestamp: '1969-12-31T23:59:59.999999Z',
    event_date: '1969-12-31', event_hour: '23', day_of_week: '3', parameters: null, platform: null, app_version: null,
    country: null, region: null, city: null, device_model: null, device_category: null, device_tier: null,
    source: 'kafka:events', source_partition: '0', source_offset: '9223372036854775807', is_paying_user: null, days_since_install: null, properties: null,
  },
  {
    event_id: 'e3\ttab "quote" \'apos\' \\back', user_id: '日本語ユーザー', session_id: '', event_type: '0', event_name: '',
    timestamp: '2026-12-31T23:59:59.000001Z', event_date: '2026-12-31', event_hour: '23', day_of_week: '4', parameters: '[]',
    platform: 'android', app_version: '', country: 'JP', region: null, city: null, device_model: 'Pixel 8', device_category: 'phone',
    device_tier: 'mid', source: 'kafka:events', source_partition: '1', source_offset: P40, is_paying_user: false,
    days_since_install: '-3', properties: '{"level":7}',
  },
];
const DLQ: Row[] = [
  {
    error_code: 'parse_error', error: 'Unexpected token } in JSON at position 12', stage: 'parse',
    raw_message: '{"id":"x",\n"bad": } \u0001 ✓ 😀', raw_encoding: 'utf8', source: 'kafka:events', source_partition: '3',
    source_offset: P40, received_at: '2026-03-04T05:06:07.654321Z', gamestream_version: '0.1.0', failure_schema: 'gamestream/dead_letter/1-0-0',
  },
  {
    error_code: 'too_large', error: 'record of 2000000 bytes', stage: 'decode', raw_message: 'x'.repeat(300_000),
    raw_encoding: 'base64', source: 'kafka:events', source_partition: '0', source_offset: '0', received_at: '2000-01-01T00:00:00Z',
    gamestream_version: '0.1.0', failure_schema: 'gamestream/dead_letter/1-0-0',
  },
  {
    error_code: 'invalid_field', error: 'e', stage: 'validate', raw_message: null, raw_encoding: 'utf8', source: 'kafka:events',
    source_partition: '1', source_offset: BIG, received_at: null, gamestream_version: '0.1.0', failure_schema: 'x',
  },
];
const AGG: Row[] = [
  {
    window_start: '2026-03-04T05:06:00Z', window_end: '2026-03-04T05:07:00Z', event_type: P40, level_id: null,
    event_count: BIG, source: 'kafka:events', source_partition: '0',
  },
  {
    window_start: '2026-03-04T05:06:00.000001Z', window_end: '2026-03-04T05:07:00.000001Z', event_type: '2', level_id: '-9223372036854775808',
    event_count: '1', source: 'kafka:events', source_partition: '2147483647',
  },
];

/** What the DuckDB query below returns for a row inserted as `r`: timestamps with 6 digits, numbers as text. */
function asDuck(r: Row, timestamps: string[]): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r)) {
    if (v !== null && timestamps.includes(k)) {
      const m = /^(.*?)(?:\.(\d+))?Z$/.exec(String(v))!;
      out[k] = `${m[1]}.${(m[2] ?? '').padEnd(6, '0')}Z`;
    } else {
      out[k] = v;
    }
  }
  return out;
}

describe('snapshotToDuckDb', { timeout: 120_000 }, () => {
  const ctx = inject('bigquery');
  let bq: BigQuery;
  const dir = mkdtempSync(join(tmpdir(), 'bq-snapshot-'));
  const cleanups: FreshDataset[] = [];
  let edge: FreshDataset;
  let edgePath: string;

  beforeAll(async () => {
    ({ bq } = emulatorClients(ctx));
    edge = await freshDataset(bq, 'snapshot_edge');
    cleanups.push(edge);
    await createTables(edge.dataset);
    await edge.dataset.table('events').insert(EVENTS);
    await edge.dataset.table('events_dlq').insert(DLQ);
    await edge.dataset.table('events_agg_1min').insert(AGG);
    // One row through DML as well: the pre-1960 date and the earliest TIMESTAMP BigQuery has.
    await bq.query(`INSERT INTO \`${ctx.project}.${edge.id}.events\` (event_id, user_id, event_type, timestamp, event_date, parameters, source, source_partition, source_offset)
      VALUES ('dml', 'u', 1, TIMESTAMP '0001-01-01 00:00:00.000001+00', DATE '0001-01-01', JSON '{"b":1,"a":[{}]}', 'kafka:events', 0, 5)`);
    edgePath = join(dir, 'edge.duckdb');
  });

  afterAll(async () => {
    for (const d of cleanups) await d.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies every value exactly: microseconds, pre-1970 times, 2^53+1, unicode, nulls, JSON text, a 300 kB string', async () => {
    // Two rows a page, so every table is read over several jobs.query / getQueryResults pages.
    const counts = await snapshotToDuckDb(bq, ctx.project, edge.id, edgePath, { pageRows: 2 });
    expect(counts).toEqual({ events: 4, events_dlq: 3, events_agg_1min: 2 });

    const ev = await duckRows(edgePath, `SELECT event_id, user_id, session_id, event_type::VARCHAR AS event_type, event_name,
        ${US('timestamp')}, event_date::VARCHAR AS event_date, event_hour::VARCHAR AS event_hour, day_of_week::VARCHAR AS day_of_week,
        parameters::VARCHAR AS parameters, platform, app_version, country, region, city, device_model, device_category,
        device_tier, source, source_partition::VARCHAR AS source_partition, source_offset::VARCHAR AS source_offset,
        is_paying_user, days_since_install::VARCHAR AS days_since_install, properties::VARCHAR AS properties
      FROM events ORDER BY event_id`);
    const want = [...EVENTS.map((r) => asDuck(r, ['timestamp'])), {
      event_id: 'dml', user_id: 'u', session_id: null, event_type: '1', event_name: null, timestamp: '0001-01-01T00:00:00.000001Z',
      event_date: '0001-01-01', event_hour: null, day_of_week: null, parameters: '{"b":1,"a":[{}]}', platform: null, app_version: null,
      country: null, region: null, city: null, device_model: null, device_category: null, device_tier: null, source: 'kafka:events',
      source_partition: '0', source_offset: '5', is_paying_user: null, days_since_install: null, properties: null,
    }].sort((a, b) => (String(a.event_id) < String(b.event_id) ? -1 : 1));
    // JSON is compared as values here (a server may re-serialize it) and as BigQuery's exact text below.
    const parse = (rows: Row[]) => rows.map((r) => ({ ...r, parameters: r.parameters === null ? null : JSON.parse(String(r.parameters)), properties: r.properties === null || r.properties === undefined ? null : JSON.parse(String(r.properties)) }));
    expect(parse(ev)).toEqual(parse(want));

    // The JSON text in DuckDB is byte for byte what BigQuery returns; SQL NULL stays NULL.
    const [bqJson] = await bq.query({ query: `SELECT event_id, parameters FROM \`${ctx.project}.${edge.id}.events\` WHERE event_date >= '0001-01-01' ORDER BY event_id` });
    expect(ev.map((r) => [r.event_id, r.parameters])).toEqual(bqJson.map((r: Row) => [r.event_id, r.parameters]));

    const dlq = await duckRows(edgePath, `SELECT error_code, error, stage, raw_message, raw_encoding, source,
        source_partition::VARCHAR AS source_partition, source_offset::VARCHAR AS source_offset, ${US('received_at')},
        gamestream_version, failure_schema FROM events_dlq ORDER BY error_code`);
    expect(dlq).toEqual(DLQ.map((r) => asDuck(r, ['received_at'])).sort((a, b) => (String(a.error_code) < String(b.error_code) ? -1 : 1)));

    const agg = await duckRows(edgePath, `SELECT ${US('window_start')}, ${US('window_end')}, event_type::VARCHAR AS event_type,
        level_id::VARCHAR AS level_id, event_count::VARCHAR AS event_count, source, source_partition::VARCHAR AS source_partition
      FROM events_agg_1min ORDER BY window_start`);
    expect(agg).toEqual(AGG.map((r) => asDuck(r, ['window_start', 'window_end'])));

    // Microseconds are kept as such, not only in the text: -1 µs before the epoch is -1.
    const [us] = await duckRows(edgePath, `SELECT epoch_us(timestamp)::VARCHAR AS us FROM events WHERE event_id = 'e2'`);
    expect(us.us).toBe('-1');
  });

  it('makes exactly the column names and types compareWarehouse checks, and compares clean with the truth', async () => {
    const truth = expectedFor(generateDataset({ seed: 7, events: 400, heavy: false }), 'json');
    const ref = join(dir, 'reference.duckdb');
    await writeReferenceWarehouse(ref, truth, 'official');
    expect(await compareWarehouse(ref, truth, { geoLayout: 'official' })).toEqual([]);

    const rt = await freshDataset(bq, 'snapshot_truth');
    cleanups.push(rt);
    await createTables(rt.dataset);
    // Reference rows into BigQuery as insertAll would get them from a sink: text for INT64, TIMESTAMP and JSON.
    const sel: Record<string, string> = {
      events: `SELECT * REPLACE (strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%fZ') AS timestamp, event_date::VARCHAR AS event_date,
        parameters::VARCHAR AS parameters, event_type::VARCHAR AS event_type, source_offset::VARCHAR AS source_offset,
        days_since_install::VARCHAR AS days_since_install, properties::VARCHAR AS properties) FROM events`,
      events_dlq: `SELECT * REPLACE (strftime(received_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS received_at, source_offset::VARCHAR AS source_offset) FROM events_dlq`,
      events_agg_1min: `SELECT * REPLACE (strftime(window_start, '%Y-%m-%dT%H:%M:%S.%fZ') AS window_start,
        strftime(window_end, '%Y-%m-%dT%H:%M:%S.%fZ') AS window_end, event_type::VARCHAR AS event_type,
        level_id::VARCHAR AS level_id, event_count::VARCHAR AS event_count) FROM events_agg_1min`,
    };
    const sizes: Record<string, number> = {};
    for (const [table, sql] of Object.entries(sel)) {
      const rows = await duckRows(ref, sql);
      sizes[table] = rows.length;
      for (let i = 0; i < rows.length; i += 500) await rt.dataset.table(table).insert(rows.slice(i, i + 500));
    }
    expect(sizes.events).toBeGreaterThan(300);
    expect(sizes.events_dlq).toBeGreaterThan(0);

    const snap = join(dir, 'truth.duckdb');
    const counts = await snapshotToDuckDb(bq, ctx.project, rt.id, snap);
    expect(counts).toEqual(sizes);
    // compareWarehouse checks the schema first (every column, exact DuckDB type), then every value.
    expect(await compareWarehouse(snap, truth, { geoLayout: 'official' })).toEqual([]);
  });

  it('fails clearly, without leaving a file, when a table is missing or has the wrong type', async () => {
    const bad = await freshDataset(bq, 'snapshot_missing');
    cleanups.push(bad);
    await createTables(bad.dataset, ['events', 'events_agg_1min']);
    const path = join(dir, 'missing.duckdb');
    await expect(snapshotToDuckDb(bq, ctx.project, bad.id, path))
      .rejects.toThrow(`snapshot: BigQuery table ${ctx.project}.${bad.id}.events_dlq does not exist`);
    expect(existsSync(path)).toBe(false);

    await bad.dataset.createTable('events_dlq', {
      schema: BQ_SCHEMAS.events_dlq.map((f) => (f.name === 'source_offset' ? { ...f, type: 'STRING' } : f)).filter((f) => f.name !== 'stage'),
    });
    await expect(snapshotToDuckDb(bq, ctx.project, bad.id, path))
      .rejects.toThrow(/events_dlq: column stage is missing; source_offset is STRING, expected INTEGER or INT64/);
    expect(existsSync(path)).toBe(false);

    const taken = join(dir, 'taken.duckdb');
    writeFileSync(taken, '');
    await expect(snapshotToDuckDb(bq, ctx.project, edge.id, taken)).rejects.toThrow(/already exists/);
  });
});
