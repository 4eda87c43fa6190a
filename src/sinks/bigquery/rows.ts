/**
 * From the workers' NDJSON row files to Storage Write API rows: each line becomes the table's BigQuery row
 * (TIMESTAMP as epoch microseconds, DATE as days since the epoch, JSON as text) and is encoded as a proto2
 * message of the table's schema. Rows are grouped into append requests below the API's request-size limit.
 */
import { readFileSync } from 'node:fs';
import { adapt, protos } from '@google-cloud/bigquery-storage';
import protobuf from 'protobufjs';
import type { BqField, BqTableSpec } from './tables.ts';

const DAY_MS = 86_400_000;

export type RowObject = Record<string, unknown>;

/** A table's proto2 descriptor (sent with the first append of a connection) and its encoder. */
export interface RowCodec {
  descriptor: protos.google.protobuf.IDescriptorProto;
  encode(row: RowObject): Uint8Array;
}

function apiFields(fields: BqField[]): object[] {
  return fields.map((x) => (x.fields ? { name: x.name, type: x.type, mode: x.mode, fields: apiFields(x.fields) } : { name: x.name, type: x.type, mode: x.mode }));
}

export function rowCodec(spec: BqTableSpec): RowCodec {
  const storageSchema = adapt.convertBigQuerySchemaToStorageTableSchema({ fields: apiFields(spec.fields) });
  const descriptor = adapt.convertStorageSchemaToProto2Descriptor(storageSchema, 'root');
  const normalized = adapt.normalizeDescriptor(new protos.google.protobuf.DescriptorProto(descriptor));
  const type = (protobuf.Type as unknown as { fromDescriptor(d: unknown): protobuf.Type }).fromDescriptor(normalized);
  // protobufjs checks nothing on encode; a missing required field is caught here so that one bad row is
  // rejected on its own instead of failing the request it would have been sent in.
  const required = spec.fields.filter((x) => x.mode === 'REQUIRED').map((x) => x.name);
  return {
    descriptor,
    encode(row) {
      for (const name of required) {
        if (row[name] === null || row[name] === undefined) throw new Error(`required column ${name} is null`);
      }
      return type.encode(row).finish();
    },
  };
}

const dateDays = new Map<string, number>();
function daysOf(date: string): number {
  let d = dateDays.get(date);
  if (d === undefined) {
    d = Date.parse(`${date}T00:00:00Z`) / DAY_MS;
    if (!Number.isInteger(d)) throw new Error(`invalid date ${date}`);
    if (dateDays.size > 100_000) dateDays.clear();
    dateDays.set(date, d);
  }
  return d;
}

const micros = (ms: number): number => ms * 1000;

/** Row-file line (see partition/actor.ts) → BigQuery row, per table. `source` is constant per warehouse. */
export type RowMapper = (line: RowObject) => RowObject;

export function eventsMapper(source: string): RowMapper {
  return (r) => ({
    event_id: r.event_id, user_id: r.user_id, session_id: r.session_id, event_type: r.event_type, event_name: r.event_name,
    timestamp: micros(r.ts_ms as number), event_date: daysOf(r.event_date as string), event_hour: r.event_hour,
    day_of_week: r.day_of_week, parameters: r.parameters === null || r.parameters === undefined ? null : JSON.stringify(r.parameters),
    platform: r.platform, app_version: r.app_version, country: r.country, region: r.region, city: r.city,
    device_model: r.device_model, device_category: r.device_category, device_tier: r.device_tier,
    source, source_partition: r.source_partition, source_offset: r.source_offset,
    is_paying_user: r.is_paying_user, days_since_install: r.days_since_install,
    properties: r.properties === null || r.properties === undefined ? null : JSON.stringify(r.properties),
  });
}

const microsOrNull = (ms: unknown): number | null => (ms === null || ms === undefined ? null : (ms as number) * 1000);

export function usersMapper(source: string): RowMapper {
  return (r) => ({
    user_id: r.user_id, install_at: microsOrNull(r.install_ms), first_seen_at: micros(r.first_seen_ms as number),
    first_paid_at: microsOrNull(r.first_paid_ms), source, source_partition: r.source_partition, updated_at: Date.now() * 1000,
  });
}

export function dlqMapper(source: string, version: string, failureSchema: string): RowMapper {
  return (r) => ({
    error_code: r.error_code, error: r.error, stage: r.stage, raw_message: r.raw_message, raw_encoding: r.raw_encoding,
    source, source_partition: r.source_partition, source_offset: r.source_offset, received_at: micros(r.received_at_ms as number),
    gamestream_version: version, failure_schema: failureSchema,
  });
}

export function aggMapper(source: string): RowMapper {
  return (r) => ({
    window_start: micros(r.window_start_ms as number), window_end: micros(r.window_end_ms as number), event_type: r.event_type,
    level_id: r.level_id, event_count: r.event_count, source, source_partition: r.source_partition,
  });
}

/** A row that could not be encoded, kept with its source position so that it can be dead-lettered. */
export interface BadRow {
  row: RowObject;
  reason: string;
}

export interface EncodedRows {
  rows: Uint8Array[];
  /** The mapped row behind rows[i], to dead-letter any the API rejects (rebuilt on demand: rarely needed). */
  objectAt(i: number): RowObject;
  bytes: number;
  bad: BadRow[];
}

/** Calls `fn` with each non-empty line of the NDJSON files, numbered over all of them. */
export function forEachLine(paths: string[], fn: (line: number, text: string) => void): void {
  let line = 0;
  for (const path of paths) {
    const text = readFileSync(path, 'utf8');
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (end > start) fn(line++, text.slice(start, end));
      start = end + 1;
    }
  }
}

/** Every non-empty line of the files, numbered as forEachLine numbers them. */
export function readLines(paths: string[]): string[] {
  const out: string[] = [];
  forEachLine(paths, (_, text) => out.push(text));
  return out;
}

export function encodeObjects(objs: RowObject[], codec: RowCodec): EncodedRows {
  const rows: Uint8Array[] = [];
  const kept: RowObject[] = [];
  const bad: BadRow[] = [];
  let bytes = 0;
  for (const obj of objs) {
    try {
      const b = codec.encode(obj);
      rows.push(b);
      kept.push(obj);
      bytes += b.length;
    } catch (err) {
      bad.push({ row: obj, reason: (err as Error).message });
    }
  }
  return { rows, objectAt: (i) => kept[i]!, bytes, bad };
}

/** `a` then `b`, as one. */
export function concatEncoded(a: EncodedRows, b: EncodedRows): EncodedRows {
  const n = a.rows.length;
  return {
    rows: [...a.rows, ...b.rows],
    objectAt: (i) => (i < n ? a.objectAt(i) : b.objectAt(i - n)),
    bytes: a.bytes + b.bytes,
    bad: [...a.bad, ...b.bad],
  };
}

/** Index ranges [from, to) of rows, each range at most `maxBytes` (a lone larger row gets its own request). */
export function splitRequests(rows: Uint8Array[], maxBytes: number, from = 0, to = rows.length): [number, number][] {
  const out: [number, number][] = [];
  let start = from;
  let bytes = 0;
  for (let i = from; i < to; i++) {
    // Each row costs its length plus a few bytes of framing in the repeated field.
    const n = rows[i]!.length + 6;
    if (i > start && bytes + n > maxBytes) {
      out.push([start, i]);
      start = i;
      bytes = 0;
    }
    bytes += n;
  }
  if (to > start) out.push([start, to]);
  return out;
}
