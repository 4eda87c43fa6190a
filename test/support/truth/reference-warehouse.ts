// Writes the warehouse a perfect engine would produce for an Expected. It exists to test compareWarehouse:
// the comparison must find nothing on this file and must find every mutation a test applies to it.
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Expected } from './expected.ts';
import type { GeoLayout } from './compare.ts';
import { maskedRaw } from './masking.ts';

export const WAREHOUSE_DDL = [
  `CREATE TABLE events(event_id VARCHAR, user_id VARCHAR, session_id VARCHAR, event_type BIGINT, event_name VARCHAR,
    timestamp TIMESTAMP, event_date DATE, event_hour INTEGER, day_of_week INTEGER, parameters JSON, platform VARCHAR,
    app_version VARCHAR, country VARCHAR, region VARCHAR, city VARCHAR, device_model VARCHAR, device_category VARCHAR,
    device_tier VARCHAR, source VARCHAR, source_partition INTEGER, source_offset BIGINT, is_paying_user BOOLEAN,
    days_since_install INTEGER, properties JSON)`,
  `CREATE TABLE events_dlq(error_code VARCHAR, error VARCHAR, stage VARCHAR, raw_message VARCHAR, raw_encoding VARCHAR,
    source VARCHAR, source_partition INTEGER, source_offset BIGINT, received_at TIMESTAMP, gamestream_version VARCHAR,
    failure_schema VARCHAR)`,
  `CREATE TABLE events_agg_1min(window_start TIMESTAMP, window_end TIMESTAMP, event_type BIGINT, level_id BIGINT,
    event_count BIGINT, source VARCHAR, source_partition INTEGER)`,
];

function lit(v: string | number | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  return `'${v.replace(/'/g, "''")}'`;
}

function ts(ms: number): string {
  return `epoch_ms(${ms}::BIGINT)`;
}

async function insertChunked(conn: DuckDBConnection, table: string, tuples: string[]): Promise<void> {
  for (let i = 0; i < tuples.length; i += 500) {
    await conn.run(`INSERT INTO ${table} VALUES ${tuples.slice(i, i + 500).join(',\n')}`);
  }
}

export async function writeReferenceWarehouse(path: string, expected: Expected, layout: GeoLayout): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const conn = await instance.connect();
  try {
    for (const ddl of WAREHOUSE_DDL) await conn.run(ddl);
    const source = lit(`file:reference.${expected.format === 'avro' ? 'avro' : 'ndjson'}`);
    await insertChunked(conn, 'events', expected.events.map((e) => {
      const geo = layout === 'official' ? e.geo.official : { country: e.geo.flat.country, regions: [], city: null };
      return `(${[
        lit(e.event_id), lit(e.user_id), lit(e.session_id), lit(e.event_type), lit(e.event_name), ts(e.timestamp),
        `${lit(e.event_date)}::DATE`, lit(e.event_hour), lit(e.day_of_week), `${lit(JSON.stringify(e.parameters))}::JSON`,
        lit(e.platform), lit(e.app_version), lit(geo.country), lit(geo.regions[0] ?? null), lit(geo.city),
        lit(e.device_model), lit(e.device_category), lit(e.device_tier), source, lit(e.source_partition), lit(e.source_offset),
        String(e.is_paying_user), lit(e.days_since_install),
        e.properties === null ? 'NULL' : `${lit(JSON.stringify(e.properties))}::JSON`,
      ].join(', ')})`;
    }));
    await insertChunked(conn, 'events_dlq', expected.dlqRows.map((d) => `(${[
      lit(d.code), lit(`reference: ${d.code}`), lit(d.stage), lit(maskedRaw(d.raw, d.encoding)), lit(d.encoding), source,
      lit(d.source_partition), lit(d.source_offset), 'now()::TIMESTAMP', lit('reference'), lit('reference/1'),
    ].join(', ')})`));
    const W = expected.options.windowMs;
    await insertChunked(conn, 'events_agg_1min', expected.agg.map((r) => `(${[
      ts(r.window_start), ts(r.window_start + W), lit(r.event_type), lit(r.level_id), lit(r.event_count), source,
      lit(r.source_partition),
    ].join(', ')})`));
    // Tests copy the file; a checkpoint leaves nothing behind in the write-ahead log.
    await conn.run('CHECKPOINT');
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
