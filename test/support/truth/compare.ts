// compareWarehouse: reads a DuckDB warehouse read-only and lists every way it differs from the truth.
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Expected, ExpectedDlqRow, ExpectedEvent } from './expected.ts';
import { aggKey } from './expected.ts';
import { findRawIp, maskedRaw, normalizeIpv6Values } from './masking.ts';
import { ERROR_CODES } from './validate.ts';

export type GeoLayout = 'official' | 'flat';

export interface CompareOptions {
  geoLayout: GeoLayout;
  /** Differences listed before the rest are only counted (default 50). */
  maxDifferences?: number;
}

/** Every warehouse table the truth covers: column name → DuckDB type. */
export const TABLES: Record<string, Record<string, string>> = {
  events: {
    event_id: 'VARCHAR', user_id: 'VARCHAR', session_id: 'VARCHAR', event_type: 'BIGINT', event_name: 'VARCHAR',
    timestamp: 'TIMESTAMP', event_date: 'DATE', event_hour: 'INTEGER', day_of_week: 'INTEGER', parameters: 'JSON',
    platform: 'VARCHAR', app_version: 'VARCHAR', country: 'VARCHAR', region: 'VARCHAR', city: 'VARCHAR',
    device_model: 'VARCHAR', device_category: 'VARCHAR', device_tier: 'VARCHAR', source: 'VARCHAR',
    source_partition: 'INTEGER', source_offset: 'BIGINT', is_paying_user: 'BOOLEAN', days_since_install: 'INTEGER',
    properties: 'JSON',
  },
  events_dlq: {
    error_code: 'VARCHAR', error: 'VARCHAR', stage: 'VARCHAR', raw_message: 'VARCHAR', raw_encoding: 'VARCHAR',
    source: 'VARCHAR', source_partition: 'INTEGER', source_offset: 'BIGINT', received_at: 'TIMESTAMP',
    gamestream_version: 'VARCHAR', failure_schema: 'VARCHAR',
  },
  events_agg_1min: {
    window_start: 'TIMESTAMP', window_end: 'TIMESTAMP', event_type: 'BIGINT', level_id: 'BIGINT', event_count: 'BIGINT',
    source: 'VARCHAR', source_partition: 'INTEGER',
  },
};

type Row = Record<string, unknown>;

async function rows(conn: DuckDBConnection, sql: string): Promise<Row[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Row[];
}

/** Deep equality over JSON values, by own keys (so `__proto__` members compare like any other). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => jsonEqual((a as Row)[k], (b as Row)[k]));
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

function where(e: { source_partition: number; source_offset: number; recordIndex: number }): string {
  return `p${e.source_partition}/o${e.source_offset} (record #${e.recordIndex})`;
}

export async function compareWarehouse(duckdbPath: string, expected: Expected, opts: CompareOptions): Promise<string[]> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(duckdbPath, { access_mode: 'READ_ONLY' });
  } catch (err) {
    return [`cannot open warehouse ${duckdbPath} read-only: ${(err as Error).message}`];
  }
  const conn = await instance.connect();
  // Ordered by how much each kind of finding explains: privacy and schema, then where records landed, then details.
  const privacy: string[] = [];
  const schema: string[] = [];
  const details: string[] = [];
  const placed = new Map<string, string>();
  try {
    const tables = await checkSchema(conn, schema);
    await checkNoRawIps(conn, tables, privacy);
    if (tables.has('events')) await compareEvents(conn, expected, opts.geoLayout, details, placed);
    if (tables.has('events_dlq')) await compareDlq(conn, expected, details, placed);
    if (tables.has('events_agg_1min')) await compareAgg(conn, expected, details);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  const placement = placed.size > 0 ? firstMisplacements(expected, placed) : [];
  const diffs = [...privacy, ...schema, ...placement, ...details];
  const max = opts.maxDifferences ?? 50;
  return diffs.length <= max ? diffs : [...diffs.slice(0, max), `... and ${diffs.length - max} more differences`];
}

/** What the truth has at each position: `event <id>` or `<code> dead letter`, with the record it came from. */
function expectedPlacement(expected: Expected): Map<string, { what: string; recordIndex: number }> {
  const m = new Map<string, { what: string; recordIndex: number }>();
  for (const e of expected.events) m.set(`${e.source_partition}/${e.source_offset}`, { what: `event ${e.event_id}`, recordIndex: e.recordIndex });
  for (const d of expected.dlqRows) m.set(`${d.source_partition}/${d.source_offset}`, { what: `${d.code} dead letter`, recordIndex: d.recordIndex });
  return m;
}

/**
 * One line per partition whose rows are not where the truth puts them, at the first such offset. A record
 * routed to another partition shifts every later offset of both partitions; this names the cause once.
 */
function firstMisplacements(expected: Expected, placed: Map<string, string>): string[] {
  const want = expectedPlacement(expected);
  const first = new Map<number, number>();
  const note = (pos: string) => {
    const [p, o] = pos.split('/').map(Number);
    if (!first.has(p) || o < first.get(p)!) first.set(p, o);
  };
  for (const [pos, w] of want) if (placed.get(pos) !== w.what) note(pos);
  for (const pos of placed.keys()) if (!want.has(pos)) note(pos);
  return [...first.entries()].sort((a, b) => a[0] - b[0]).map(([p, o]) => {
    const w = want.get(`${p}/${o}`);
    const got = placed.get(`${p}/${o}`);
    return `placement: p${p} first differs at offset ${o}: expected ${w ? `${w.what} (record #${w.recordIndex})` : 'nothing'}, warehouse has ${got ?? 'nothing'}`;
  });
}

async function checkSchema(conn: DuckDBConnection, diffs: string[]): Promise<Set<string>> {
  const cols = await rows(conn, `SELECT table_name, column_name, data_type FROM information_schema.columns
    WHERE table_name IN ('events', 'events_dlq', 'events_agg_1min')`);
  const present = new Set<string>();
  for (const [table, spec] of Object.entries(TABLES)) {
    const have = new Map(cols.filter((c) => c.table_name === table).map((c) => [String(c.column_name), String(c.data_type)]));
    if (have.size === 0) {
      diffs.push(`table ${table} is missing`);
      continue;
    }
    let complete = true;
    for (const [col, type] of Object.entries(spec)) {
      const got = have.get(col);
      if (got === undefined) {
        diffs.push(`${table}.${col} is missing`);
        complete = false;
      } else if (got !== type) {
        diffs.push(`${table}.${col} has type ${got}, expected ${type}`);
      }
    }
    if (complete) present.add(table);
  }
  return present;
}

async function compareEvents(
  conn: DuckDBConnection, expected: Expected, layout: GeoLayout, diffs: string[], placed: Map<string, string>,
): Promise<void> {
  const actual = await rows(conn, `SELECT event_id, user_id, session_id, event_type::VARCHAR AS event_type, event_name,
      epoch_ms(timestamp)::VARCHAR AS ts, strftime(event_date, '%Y-%m-%d') AS event_date, event_hour, day_of_week,
      parameters::VARCHAR AS parameters, platform, app_version, country, region, city, device_model, device_category,
      device_tier, source, source_partition, source_offset::VARCHAR AS source_offset, is_paying_user, days_since_install,
      properties::VARCHAR AS properties
    FROM events`);
  if (actual.length !== expected.events.length) {
    diffs.push(`events has ${actual.length} rows, expected ${expected.events.length}`);
  }
  const byPosition = new Map<string, ExpectedEvent>();
  for (const e of expected.events) byPosition.set(`${e.source_partition}/${e.source_offset}`, e);
  const matched = new Set<string>();
  const seenIdentity = new Set<string>();
  for (const a of actual) {
    const pos = `${a.source_partition}/${a.source_offset}`;
    const identity = `${a.event_id}|${pos}`;
    if (seenIdentity.has(identity)) {
      diffs.push(`events: (event_id, source_partition, source_offset) = (${show(a.event_id)}, ${pos}) appears more than once`);
      continue;
    }
    seenIdentity.add(identity);
    if (!placed.has(pos)) placed.set(pos, `event ${String(a.event_id)}`);
    const e = byPosition.get(pos);
    if (!e) {
      diffs.push(`events: unexpected row event_id=${show(a.event_id)} at p${a.source_partition}/o${a.source_offset}`);
    } else if (e.event_id !== a.event_id) {
      diffs.push(`events ${where(e)}: expected event_id ${show(e.event_id)}, found ${show(a.event_id)}`);
    } else if (matched.has(pos)) {
      diffs.push(`events: two different rows at ${where(e)}`);
    } else {
      matched.add(pos);
      compareEventRow(a, e, layout, diffs);
    }
  }
  for (const e of expected.events) {
    const pos = `${e.source_partition}/${e.source_offset}`;
    if (!matched.has(pos) && !placed.has(pos)) diffs.push(`events: missing row event_id=${show(e.event_id)} at ${where(e)}`);
  }
}

function compareEventRow(a: Row, e: ExpectedEvent, layout: GeoLayout, diffs: string[]): void {
  const geo = layout === 'official' ? e.geo.official : { country: e.geo.flat.country, regions: [], city: null };
  const want: [string, unknown, unknown][] = [
    ['event_id', a.event_id, e.event_id],
    ['user_id', a.user_id, e.user_id],
    ['session_id', a.session_id, e.session_id],
    ['event_type', a.event_type, String(e.event_type)],
    ['event_name', a.event_name, e.event_name],
    ['timestamp (epoch ms)', a.ts, String(e.timestamp)],
    ['event_date', a.event_date, e.event_date],
    ['event_hour', a.event_hour, e.event_hour],
    ['day_of_week', a.day_of_week, e.day_of_week],
    ['platform', a.platform, e.platform],
    ['app_version', a.app_version, e.app_version],
    ['device_model', a.device_model, e.device_model],
    ['device_category', a.device_category, e.device_category],
    ['device_tier', a.device_tier, e.device_tier],
    ['country', a.country, geo.country],
    ['city', a.city, geo.city],
    ['is_paying_user', a.is_paying_user, e.is_paying_user],
    ['days_since_install', a.days_since_install, e.days_since_install],
  ];
  for (const [col, got, exp] of want) {
    if (got !== exp) diffs.push(`events ${where(e)} ${col}: expected ${show(exp)}, got ${show(got)}`);
  }
  const regionOk = geo.regions.length === 0 ? a.region === null : geo.regions.includes(String(a.region));
  if (!regionOk) {
    diffs.push(`events ${where(e)} region: expected ${geo.regions.length ? `one of ${show(geo.regions)}` : 'null'}, got ${show(a.region)}`);
  }
  let params: unknown;
  try {
    params = typeof a.parameters === 'string' ? JSON.parse(a.parameters) : a.parameters;
  } catch {
    params = a.parameters;
  }
  if (!jsonEqual(params, e.parameters)) {
    diffs.push(`events ${where(e)} parameters: expected ${show(e.parameters)}, got ${show(a.parameters)}`);
  }
  const props = a.properties === null ? null : JSON.parse(String(a.properties));
  if (!jsonEqual(props, e.properties)) {
    diffs.push(`events ${where(e)} properties: expected ${show(e.properties)}, got ${show(a.properties)}`);
  }
  if (a.source === null || a.source === '') diffs.push(`events ${where(e)} source is empty`);
}

async function compareDlq(
  conn: DuckDBConnection, expected: Expected, diffs: string[], placed: Map<string, string>,
): Promise<void> {
  const actual = await rows(conn, `SELECT error_code, error, stage, raw_message, raw_encoding, source_partition,
      source_offset::VARCHAR AS source_offset FROM events_dlq`);
  const counts = new Map<string, number>();
  for (const a of actual) counts.set(String(a.error_code), (counts.get(String(a.error_code)) ?? 0) + 1);
  for (const code of new Set([...ERROR_CODES, ...counts.keys()])) {
    const want = (expected.dlqCounts as Record<string, number>)[code] ?? 0;
    const got = counts.get(code) ?? 0;
    if (want !== got) diffs.push(`events_dlq: ${got} rows with error_code ${code}, expected ${want}`);
  }
  const byPosition = new Map<string, ExpectedDlqRow>();
  for (const d of expected.dlqRows) byPosition.set(`${d.source_partition}/${d.source_offset}`, d);
  const seen = new Set<string>();
  for (const a of actual) {
    const pos = `${a.source_partition}/${a.source_offset}`;
    if (!placed.has(pos)) placed.set(pos, `${String(a.error_code)} dead letter`);
    const d = byPosition.get(pos);
    if (!d) {
      diffs.push(`events_dlq: unexpected row ${a.error_code} at p${a.source_partition}/o${a.source_offset}`);
      continue;
    }
    if (seen.has(pos)) {
      diffs.push(`events_dlq: more than one row at ${where(d)}`);
      continue;
    }
    seen.add(pos);
    if (a.error_code !== d.code) diffs.push(`events_dlq ${where(d)} error_code: expected ${d.code}, got ${show(a.error_code)}`);
    if (a.stage !== d.stage) diffs.push(`events_dlq ${where(d)} stage: expected ${d.stage}, got ${show(a.stage)}`);
    if (typeof a.error !== 'string' || a.error === '') diffs.push(`events_dlq ${where(d)} error is empty`);
    compareRaw(a, d, expected.format, diffs);
  }
  for (const d of expected.dlqRows) {
    if (!seen.has(`${d.source_partition}/${d.source_offset}`)) diffs.push(`events_dlq: missing ${d.code} row at ${where(d)}`);
  }
}

function compareRaw(a: Row, d: ExpectedDlqRow, format: Expected['format'], diffs: string[]): void {
  const raw = a.raw_message;
  if (typeof raw !== 'string' || raw === '') {
    diffs.push(`events_dlq ${where(d)} raw_message is empty`);
    return;
  }
  if (a.raw_encoding !== 'utf8' && a.raw_encoding !== 'base64') {
    diffs.push(`events_dlq ${where(d)} raw_encoding: expected utf8 or base64, got ${show(a.raw_encoding)}`);
    return;
  }
  // Avro raw messages have no defined text form, and an oversized record may be stored cut short.
  if (format === 'avro' || d.code === 'too_large') return;
  if (a.raw_encoding !== d.encoding) {
    diffs.push(`events_dlq ${where(d)} raw_encoding: expected ${d.encoding}, got ${show(a.raw_encoding)}`);
    return;
  }
  const want = maskedRaw(d.raw, d.encoding);
  const same = d.encoding === 'base64' ? want === raw : normalizeIpv6Values(want) === normalizeIpv6Values(raw);
  if (!same) {
    diffs.push(`events_dlq ${where(d)} raw_message: expected ${show(want)}, got ${show(raw)}`);
  }
}

async function compareAgg(conn: DuckDBConnection, expected: Expected, diffs: string[]): Promise<void> {
  const actual = await rows(conn, `SELECT epoch_ms(window_start)::VARCHAR AS ws, epoch_ms(window_end)::VARCHAR AS we,
      event_type::VARCHAR AS event_type, level_id::VARCHAR AS level_id, event_count::VARCHAR AS event_count,
      source_partition FROM events_agg_1min`);
  const W = expected.options.windowMs;
  const wantPart = new Map<string, number>();
  for (const r of expected.agg) wantPart.set(`p${r.source_partition} ${aggKey(r)}`, r.event_count);
  const wantTotal = new Map<string, number>();
  for (const r of expected.aggTotals) wantTotal.set(aggKey(r), r.event_count);
  const gotPart = new Map<string, number>();
  const gotTotal = new Map<string, number>();
  for (const a of actual) {
    const key = aggKey({ window_start: Number(a.ws), event_type: Number(a.event_type), level_id: a.level_id === null ? null : Number(a.level_id) });
    const pk = `p${a.source_partition} ${key}`;
    if (Number(a.we) - Number(a.ws) !== W) diffs.push(`events_agg_1min ${pk}: window_end - window_start = ${Number(a.we) - Number(a.ws)} ms, expected ${W}`);
    if (gotPart.has(pk)) diffs.push(`events_agg_1min: more than one row for ${pk}`);
    gotPart.set(pk, (gotPart.get(pk) ?? 0) + Number(a.event_count));
    gotTotal.set(key, (gotTotal.get(key) ?? 0) + Number(a.event_count));
  }
  const describe = (k: string) => {
    const [ws, type, level] = k.replace(/^p\d+ /, '').split('|');
    return `${k.startsWith('p') ? k.split(' ')[0] + ' ' : ''}window ${new Date(Number(ws)).toISOString()} type ${type} level ${level}`;
  };
  for (const [k, want] of wantPart) {
    const got = gotPart.get(k);
    if (got !== want) diffs.push(`events_agg_1min ${describe(k)}: count expected ${want}, got ${got ?? 'no row'}`);
  }
  for (const [k, got] of gotPart) if (!wantPart.has(k)) diffs.push(`events_agg_1min ${describe(k)}: unexpected row, count ${got}`);
  for (const [k, want] of wantTotal) {
    const got = gotTotal.get(k);
    if (got !== want) diffs.push(`events_agg_1min sum over partitions, ${describe(k)}: expected ${want}, got ${got ?? 0}`);
  }
  for (const [k, got] of gotTotal) if (!wantTotal.has(k)) diffs.push(`events_agg_1min sum over partitions, ${describe(k)}: unexpected, count ${got}`);
}

/** No text column of events or events_dlq may hold a generated address unmasked, base64 payloads included. */
async function checkNoRawIps(conn: DuckDBConnection, present: Set<string>, diffs: string[]): Promise<void> {
  for (const table of ['events', 'events_dlq']) {
    if (!present.has(table)) continue;
    const cols = await rows(conn, `SELECT column_name FROM information_schema.columns WHERE table_name = '${table}'
      AND (data_type = 'VARCHAR' OR data_type = 'JSON')`);
    if (cols.length === 0) continue;
    const list = cols.map((c) => `"${String(c.column_name)}"::VARCHAR AS "${String(c.column_name)}"`).join(', ');
    const hasEncoding = table === 'events_dlq';
    const sql = `SELECT ${list}, source_partition AS "@p", source_offset::VARCHAR AS "@o" FROM ${table}`;
    for (const r of await rows(conn, sql)) {
      for (const [col, v] of Object.entries(r)) {
        if (typeof v !== 'string' || col.startsWith('@')) continue;
        const text = hasEncoding && col === 'raw_message' && r.raw_encoding === 'base64'
          ? Buffer.from(v, 'base64').toString('latin1') : v;
        const ip = findRawIp(text);
        const how = text === v ? '' : ' (base64-decoded)';
        if (ip) diffs.push(`${table} p${r['@p']}/o${r['@o']} ${col}${how} contains the raw address ${ip}`);
      }
    }
  }
}
