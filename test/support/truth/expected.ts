// computeExpected: the warehouse docs/SEMANTICS.md says the engine must produce for a list of records —
// partitions and offsets, verdicts, per-partition dedupe, per-partition windows with watermark and
// lateness, and end of input closing every window. Shares no code with src/.
import { partitionKeyBytes } from './key.ts';
import { deviceLookup, geoOf, geoTable } from './catalog.ts';
import type { GeoTruth } from './catalog.ts';
import { DEFAULT_TRUTH_OPTIONS } from './records.ts';
import type { TruthOptions, TruthRecord } from './records.ts';
import { createPartitioner } from './partition.ts';
import { calendarOf } from './timestamps.ts';
import {
  ERROR_CODES, KNOWN_FIELDS, decodeJsonLine, isUtf8, keyOfObject, levelIdOf, partitionKeyOfLine, stageOf, validateObject,
} from './validate.ts';
import type { ErrorCode, JsonObject, Stage } from './validate.ts';
import type { Dataset } from './generate.ts';

export type SourceFormat = 'json' | 'avro';

export interface ExpectedEvent {
  event_id: string;
  user_id: string;
  session_id: string | null;
  event_type: number;
  event_name: string | null;
  /** Epoch milliseconds. */
  timestamp: number;
  event_date: string;
  event_hour: number;
  /** 0 = Monday. */
  day_of_week: number;
  parameters: unknown;
  platform: string | null;
  app_version: string | null;
  device_model: string | null;
  device_category: string | null;
  device_tier: string | null;
  /** Not a warehouse column: needed to pick the geolocation truth and for the privacy check. */
  ip_address: string | null;
  geo: GeoTruth;
  source_partition: number;
  source_offset: number;
  /** Window key part; not a column of `events`. */
  level_id: number | null;
  /** Stored but counted in no window. */
  late: boolean;
  recordIndex: number;
  /** Top-level fields the schema does not know, non-null ones, as sent; null when none (Avro: the schema has none). */
  properties: Record<string, unknown> | null;
  /** The user's state as of this event (docs/SEMANTICS.md, "User state"). */
  is_paying_user: boolean;
  days_since_install: number;
}

export interface ExpectedDlqRow {
  code: ErrorCode;
  stage: Stage;
  source_partition: number;
  source_offset: number;
  recordIndex: number;
  /** The original record bytes (before IP masking). */
  raw: Buffer;
  encoding: 'utf8' | 'base64';
}

export interface AggRow {
  window_start: number;
  event_type: number;
  level_id: number | null;
  event_count: number;
}

export interface PartitionAggRow extends AggRow {
  source_partition: number;
}

export interface Expected {
  format: SourceFormat;
  options: TruthOptions;
  records: number;
  events: ExpectedEvent[];
  dlqRows: ExpectedDlqRow[];
  dlqCounts: Record<ErrorCode, number>;
  /** One row per (partition, window, event_type, level_id). */
  agg: PartitionAggRow[];
  /** Summed over partitions. */
  aggTotals: AggRow[];
  duplicates: number;
  late: number;
  /** Accepted events older than their partition's maxTs at arrival yet counted in a window. */
  outOfOrderOnTime: number;
  /** Accepted events whose id an earlier accepted event of the partition already had (retry beyond horizon). */
  reaccepted: number;
  /** Records per partition. */
  partitionSizes: number[];
}

export interface ComputeOptions extends Partial<TruthOptions> {
  format?: SourceFormat;
  /** Wall clock for the future-timestamp rule; default now. */
  nowMs?: number;
  geo?: Map<string, GeoTruth>;
  /** Throw when a generator label disagrees with the independent verdict (default true). */
  checkLabels?: boolean;
}

interface PartitionState {
  maxTs: number;
  nextOffset: number;
  /** Accepted ids → the partition's max event time when each copy was accepted. */
  accepted: Map<string, number[]>;
  windows: Map<string, PartitionAggRow>;
}

function str(obj: JsonObject, name: string): string | null {
  const v = Object.hasOwn(obj, name) ? obj[name] : undefined;
  return typeof v === 'string' ? v : null;
}

function unknownFields(obj: JsonObject): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  let any = false;
  for (const [k, v] of Object.entries(obj)) {
    if (KNOWN_FIELDS.includes(k) || v === null) continue;
    Object.defineProperty(out, k, { value: v, enumerable: true });
    any = true;
  }
  return any ? out : null;
}

/** What the truth remembers of a player: the events accepted so far, in the order they were accepted. */
interface PlayerHistory {
  times: number[];
  installTimes: number[];
  paidTimes: number[];
}

/**
 * The user-state stamp, from the player's whole history of accepted events up to and including this one:
 * paying if some accepted purchase with a positive price is at or before this event's time; days counted from
 * the earliest install or first_open event, else the earliest event, as UTC calendar days. What the client sent
 * (a boolean `is_paying_user`, an integer `days_since_install` a 32-bit integer holds; JSON only) wins.
 */
function userStamp(users: Map<string, PlayerHistory>, obj: JsonObject, ts: number, clientStamps: boolean): { paying: boolean; days: number } {
  const id = obj.user_id as string;
  let h = users.get(id);
  if (!h) users.set(id, (h = { times: [], installTimes: [], paidTimes: [] }));
  h.times.push(ts);
  if (obj.name === 'install' || obj.name === 'first_open') h.installTimes.push(ts);
  const params = (Object.hasOwn(obj, 'parameters') && obj.parameters !== null ? obj.parameters : {}) as JsonObject;
  const price = Object.hasOwn(params, 'price_usd') ? params.price_usd : undefined;
  // A string as DuckDB's TRY_CAST to DECIMAL reads it: ASCII white space around it, an exponent allowed.
  const positive = typeof price === 'number' ? price > 0 : typeof price === 'string' && /^[ \t\n\r\v\f]*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$/.test(price) && Number(price) > 0;
  if (obj.type === 2001 && positive) h.paidTimes.push(ts);
  const dayOf = (ms: number): number => Math.floor(ms / 86_400_000);
  const from = h.installTimes.length > 0 ? Math.min(...h.installTimes) : Math.min(...h.times);
  const clientPaying = clientStamps && Object.hasOwn(obj, 'is_paying_user') && typeof obj.is_paying_user === 'boolean' ? obj.is_paying_user : null;
  // A 32-bit integer (DuckDB's column); past that range the value is ignored.
  const d = obj.days_since_install;
  const clientDays = clientStamps && Object.hasOwn(obj, 'days_since_install') && Number.isInteger(d) && (d as number) >= -(2 ** 31) && (d as number) < 2 ** 31 ? d as number : null;
  return {
    paying: clientPaying ?? h.paidTimes.some((t) => t <= ts),
    days: clientDays ?? dayOf(ts) - dayOf(from),
  };
}

export function aggKey(r: { window_start: number; event_type: number; level_id: number | null }): string {
  return `${r.window_start}|${r.event_type}|${r.level_id ?? 'null'}`;
}

export function computeExpected(records: readonly TruthRecord[], opts: ComputeOptions = {}): Expected {
  const o: TruthOptions = { ...DEFAULT_TRUTH_OPTIONS };
  for (const k of Object.keys(DEFAULT_TRUTH_OPTIONS) as (keyof TruthOptions)[]) {
    if (opts[k] !== undefined) o[k] = opts[k];
  }
  const format = opts.format ?? 'json';
  const nowMs = opts.nowMs ?? Date.now();
  const geo = opts.geo ?? geoTable();
  const partitioner = createPartitioner(o.partitions);
  const states: PartitionState[] = Array.from({ length: o.partitions }, () => ({
    maxTs: -Infinity, nextOffset: 0, accepted: new Map(), windows: new Map(),
  }));
  const users = new Map<string, PlayerHistory>();
  const dlqCounts = Object.fromEntries(ERROR_CODES.map((c) => [c, 0])) as Record<ErrorCode, number>;
  const out: Expected = {
    format, options: o, records: records.length, events: [], dlqRows: [], dlqCounts, agg: [], aggTotals: [],
    duplicates: 0, late: 0, outOfOrderOnTime: 0, reaccepted: 0, partitionSizes: new Array(o.partitions).fill(0),
  };
  const disagreements: string[] = [];

  records.forEach((record, index) => {
    const decoded = decodeJsonLine(record.line, o.maxEventBytes);
    // NDJSON: the key comes from a short scan of the raw bytes (docs/SEMANTICS.md), so even a record that is
    // cut short or not UTF-8 can have one. Avro: the user_id field.
    const key = format === 'avro' ? (decoded.ok ? keyOfObject(decoded.value) : null) : partitionKeyBytes(record.line);
    const partition = partitioner.of(key, index);
    const state = states[partition];
    const offset = state.nextOffset++;
    out.partitionSizes[partition]++;

    let verdict: ErrorCode | { obj: JsonObject; ts: number };
    if (!decoded.ok) {
      verdict = decoded.code;
    } else {
      const v = validateObject(decoded.value, { nowMs, futureToleranceMs: o.futureToleranceMs });
      verdict = v.ok ? { obj: decoded.value, ts: v.ts } : v.code;
    }
    const got = typeof verdict === 'string' ? verdict : 'valid';
    if (got !== record.label.expect) {
      disagreements.push(`record ${index} (${record.label.kind}/${record.label.variant ?? '-'}): generator says ${record.label.expect}, contract says ${got}`);
    }
    if (format === 'avro' && typeof verdict === 'string' && stageOf(verdict) === 'decode') {
      throw new Error(`record ${index} cannot be in the Avro file: it fails decode with ${verdict}`);
    }

    if (typeof verdict === 'string') {
      dlqCounts[verdict]++;
      out.dlqRows.push({
        code: verdict, stage: stageOf(verdict), source_partition: partition, source_offset: offset,
        recordIndex: index, raw: record.line, encoding: isUtf8(record.line) ? 'utf8' : 'base64',
      });
      return;
    }

    const { obj, ts } = verdict;
    const id = obj.id as string;
    const wasMax = state.maxTs;
    state.maxTs = Math.max(state.maxTs, ts);
    // An earlier accepted copy counts while the partition's max event time has moved less than the horizon
    // since that copy was accepted (its "seen" time is the max event time then, whatever its own timestamp).
    const earlier = state.accepted.get(id);
    if (earlier?.some((seen) => seen >= state.maxTs - o.horizonMs)) {
      out.duplicates++;
      return;
    }
    if (earlier) out.reaccepted++;
    if (earlier) earlier.push(state.maxTs);
    else state.accepted.set(id, [state.maxTs]);

    const params = Object.hasOwn(obj, 'parameters') && obj.parameters !== null ? obj.parameters : {};
    const levelId = levelIdOf(params);
    const watermark = state.maxTs - o.outOfOrdernessMs;
    const windowStart = Math.floor(ts / o.windowMs) * o.windowMs;
    const late = windowStart + o.windowMs + o.latenessMs <= watermark;
    if (late) {
      out.late++;
    } else {
      if (ts < wasMax) out.outOfOrderOnTime++;
      const row = { window_start: windowStart, event_type: obj.type as number, level_id: levelId };
      const k = aggKey(row);
      const w = state.windows.get(k);
      if (w) w.event_count++;
      else state.windows.set(k, { ...row, event_count: 1, source_partition: partition });
    }

    const cal = calendarOf(ts);
    // The Avro schema has no fields for the client's stamps: an Avro record never carries them.
    const stamp = userStamp(users, obj, ts, format === 'json');
    const deviceModel = str(obj, 'device_model');
    const device = deviceLookup(deviceModel);
    const ip = str(obj, 'ip_address');
    out.events.push({
      event_id: id,
      user_id: obj.user_id as string,
      session_id: str(obj, 'session_id'),
      event_type: obj.type as number,
      event_name: str(obj, 'name'),
      timestamp: ts,
      event_date: cal.date,
      event_hour: cal.hour,
      day_of_week: cal.dayOfWeek,
      parameters: params,
      platform: str(obj, 'platform'),
      app_version: str(obj, 'app_version'),
      device_model: deviceModel,
      device_category: device.category,
      device_tier: device.tier,
      ip_address: ip,
      geo: geoOf(ip, geo),
      source_partition: partition,
      source_offset: offset,
      level_id: levelId,
      late,
      recordIndex: index,
      properties: format === 'avro' ? null : unknownFields(obj),
      is_paying_user: stamp.paying,
      days_since_install: stamp.days,
    });
  });

  if (disagreements.length > 0 && opts.checkLabels !== false) {
    throw new Error(`generator labels disagree with the contract:\n${disagreements.slice(0, 20).join('\n')}`);
  }

  // End of input closes every open window.
  const totals = new Map<string, AggRow>();
  for (const state of states) {
    for (const row of state.windows.values()) {
      out.agg.push(row);
      const k = aggKey(row);
      const t = totals.get(k);
      if (t) t.event_count += row.event_count;
      else totals.set(k, { window_start: row.window_start, event_type: row.event_type, level_id: row.level_id, event_count: row.event_count });
    }
  }
  out.aggTotals = [...totals.values()];
  return out;
}

/** The truth for a dataset read from its NDJSON file or from its Avro file. */
export function expectedFor(dataset: Dataset, format: SourceFormat, opts: Omit<ComputeOptions, 'format'> = {}): Expected {
  const records = format === 'avro' ? dataset.avroRecords() : dataset.records;
  return computeExpected(records, { ...dataset.options, geo: dataset.geo, ...opts, format });
}
