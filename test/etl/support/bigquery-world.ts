/**
 * Test support: the ETL's world on the BigQuery emulator. A fresh dataset with the engine's tables and views
 * (ensureSchema, as the daemon creates them), the generated days of world.ts loaded into it, and the sensor's
 * watermark written the way the engine writes it: a row in the commit log, which gamestream_watermarks reads.
 */
import { randomUUID } from 'node:crypto';
import type { BigQuery } from '@google-cloud/bigquery';
import { bigQueryEtlWarehouse } from '../../../src/sinks/bigquery/etl-warehouse.ts';
import type { EtlWarehouse } from '../../../src/etl/warehouse.ts';
import type { BigQueryTarget } from '../../../src/sinks/bigquery/client.ts';
import { ensureSchema } from '../../../src/sinks/bigquery/ddl.ts';
import { ENGINE_TABLES } from '../../../src/sinks/bigquery/tables.ts';
import type { BigQueryTestContext } from '../../setup/bigquery.ts';
import { emulatorClients, freshDataset } from '../../support/bigquery/client.ts';
import { SOURCE, type GenEvent } from './world.ts';

/** As the daemon's defaults, except partitions never expire (the test days would be old). */
export const TABLE_OPTIONS = { partitionExpirationDays: null, requirePartitionFilter: true };

export interface BigQueryTestWarehouse {
  bq: BigQuery;
  id: string;
  target: BigQueryTarget;
  wh: EtlWarehouse;
  insertEvents(events: GenEvent[], source?: string): Promise<void>;
  insertDeadLetters(receivedAtMs: number[]): Promise<void>;
  setWatermark(watermarkMs: number | null, endOfInput: boolean, source?: string): Promise<void>;
  close(): Promise<void>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

async function insertAll(bq: BigQuery, dataset: string, table: string, rows: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await bq.dataset(dataset).table(table).insert(rows.slice(i, i + 500));
}

export async function openBigQueryTestWarehouse(ctx: BigQueryTestContext, prefix: string): Promise<BigQueryTestWarehouse> {
  const { bq } = emulatorClients(ctx);
  const ds = await freshDataset(bq, prefix);
  const target: BigQueryTarget = { project: ctx.project, dataset: ds.id, endpoint: ctx.restEndpoint, writeEndpoint: ctx.writeEndpoint, location: 'US' };
  await ensureSchema(bq, target, ENGINE_TABLES, TABLE_OPTIONS);
  let offset = 0;
  let commits = 0;
  const t0 = Date.now();
  return {
    bq,
    id: ds.id,
    target,
    wh: bigQueryEtlWarehouse({ bq, target, tables: TABLE_OPTIONS }),
    // The columns the DuckDB twin (world.ts insertEvents) writes, with the same derived date parts.
    insertEvents: (events, source = SOURCE) => insertAll(bq, ds.id, 'events', events.map((e) => {
      const d = new Date(e.ts_ms);
      return {
        event_id: e.event_id, user_id: e.user_id, session_id: e.session_id, event_type: e.event_type, event_name: 'n',
        timestamp: iso(e.ts_ms), event_date: iso(e.ts_ms).slice(0, 10), event_hour: d.getUTCHours(), day_of_week: d.getUTCDay(),
        parameters: JSON.stringify(e.parameters), platform: e.platform, app_version: '1.0', country: e.country, region: null, city: null,
        device_model: 'Pixel', device_category: e.device_category, device_tier: 'high', source, source_partition: 0, source_offset: ++offset,
        is_paying_user: e.is_paying_user, days_since_install: e.days_since_install,
      };
    })),
    insertDeadLetters: (receivedAtMs) => insertAll(bq, ds.id, 'events_dlq', receivedAtMs.map((ms) => ({
      error_code: 'parse_error', error: 'bad', stage: 'decode', raw_message: '{', raw_encoding: 'utf8', source: SOURCE,
      source_partition: 0, source_offset: 0, received_at: iso(ms), gamestream_version: 'test', failure_schema: 'x',
    }))),
    // A commit with no partition, as the engine writes when a commit moves none; the view takes the latest.
    setWatermark: (watermarkMs, endOfInput, source = SOURCE) => insertAll(bq, ds.id, 'gamestream_commits', [{
      commit_id: randomUUID(), source, writer: 'test', committed_at: iso(t0 + ++commits), streams: [],
      engine_watermark: watermarkMs === null ? null : iso(watermarkMs), end_of_input: endOfInput,
    }]),
    close: () => ds.cleanup(),
  };
}
