// generateDataset: deterministic synthetic input for the ground-truth tests. Normal traffic comes from
// traffic.ts; this file adds delivery disorder, client retries and the defect/special records, and packages
// the result with its writers.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createRng } from './prng.ts';
import type { Rng } from './prng.ts';
import { DEVICE_TABLE, geoTable, writeDeviceCsv } from './catalog.ts';
import type { DeviceRow, GeoTruth } from './catalog.ts';
import { DEFECT_KINDS } from './defects.ts';
import { DEFAULT_TRUTH_OPTIONS, jsonLine, label } from './records.ts';
import type { DeliveryIntent, TruthOptions, TruthRecord } from './records.ts';
import { eventFor, makeUser, userEvents } from './traffic.ts';
import type { EventName, User } from './traffic.ts';
import { isAvroRepresentable, writeAvroFile } from './avro.ts';

export interface GenerateOptions extends Partial<TruthOptions> {
  seed?: number;
  /** Approximate number of normal game events (retries and defect records come on top). */
  events?: number;
  /** Number of players; by default one per ~60 events. */
  users?: number;
  /** Earliest event time. The default straddles a UTC midnight so date, hour and weekday all vary. */
  baseTimeMs?: number;
  durationMs?: number;
  /** Records with a defect or oddity, as a share of `events`; 0 gives clean traffic only. */
  defectRate?: number;
  /** Share of events the client sends twice. */
  retryRate?: number;
  /** Include the ~1 MB records (one valid, two too large). */
  heavy?: boolean;
}

export interface ResolvedOptions extends TruthOptions {
  seed: number;
  events: number;
  users: number;
  baseTimeMs: number;
  durationMs: number;
  defectRate: number;
  retryRate: number;
  heavy: boolean;
}

export interface Dataset {
  readonly options: ResolvedOptions;
  /** Every record in delivery (file) order, with what the generator meant it to be. */
  readonly records: readonly TruthRecord[];
  /** The record bytes alone, same order; no record contains a newline byte. */
  readonly lines: readonly Buffer[];
  readonly geo: Map<string, GeoTruth>;
  readonly devices: readonly DeviceRow[];
  /** The records the Avro file holds, in its order. */
  avroRecords(): TruthRecord[];
  toNdjson(path: string): Promise<void>;
  /** Returns the number of records written. */
  toAvro(path: string): Promise<number>;
  writeDeviceCsv(path: string): Promise<void>;
  /** Record counts by kind, kind/variant, delivery intent and retry intent. */
  composition(): Record<string, number>;
}

export const DEFAULT_BASE_TIME_MS = Date.UTC(2026, 10, 20, 23, 40, 0);

export function resolveOptions(opts: GenerateOptions = {}): ResolvedOptions {
  const events = opts.events ?? 40_000;
  return {
    ...DEFAULT_TRUTH_OPTIONS,
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    seed: opts.seed ?? 1,
    events,
    users: opts.users ?? Math.max(1, Math.round(events / 60)),
    baseTimeMs: opts.baseTimeMs ?? DEFAULT_BASE_TIME_MS,
    durationMs: opts.durationMs ?? 30 * 60_000,
    defectRate: opts.defectRate ?? 0.03,
    retryRate: opts.retryRate ?? 0.015,
    heavy: opts.heavy ?? true,
  } as ResolvedOptions;
}

interface Pending {
  line: Buffer;
  deliverAt: number;
  seq: number;
  label: TruthRecord['label'];
}

function deliveryDelay(rng: Rng, o: ResolvedOptions): [DeliveryIntent, number] {
  const r = rng.next();
  if (r < 0.904) return ['ontime', rng.int(0, 1500)];
  if (r < 0.964) return ['jitter', rng.int(1500, Math.floor(o.outOfOrdernessMs * 0.8))];
  if (r < 0.989) return ['delayed', rng.int(30_000, 90_000)];
  return ['late', rng.int(190_000, 600_000)];
}

function normalTraffic(o: ResolvedOptions): { pending: Pending[]; users: User[] } {
  const rng = createRng(o.seed).fork('traffic');
  const delivery = createRng(o.seed).fork('delivery');
  const users: User[] = [];
  const pending: Pending[] = [];
  let seq = 0;
  const perUser = o.events / o.users;
  for (let u = 0; u < o.users; u++) {
    const user = makeUser(rng);
    users.push(user);
    const count = Math.max(3, Math.round(perUser * rng.float(0.6, 1.4)));
    const span = o.durationMs * rng.float(0.4, 1.0);
    const start = o.baseTimeMs + Math.floor(rng.float(0, o.durationMs - span));
    for (const ev of userEvents(rng, user, count, start, span)) {
      const line = jsonLine(ev.obj);
      const [intent, delay] = deliveryDelay(delivery, o);
      pending.push({ line, deliverAt: ev.ts + delay, seq: seq++, label: label({ kind: 'event', expect: 'valid', delivery: intent }) });
      if (delivery.chance(o.retryRate)) {
        const within = delivery.chance(0.75);
        const extra = within ? delivery.int(2_000, 200_000) : delivery.int(400_000, 900_000);
        pending.push({
          line: Buffer.from(line), deliverAt: ev.ts + delay + extra, seq: seq++,
          label: label({ kind: 'retry', expect: 'valid', retry: within ? 'within' : 'beyond' }),
        });
      }
    }
  }
  pending.sort((a, b) => a.deliverAt - b.deliverAt || a.seq - b.seq);
  return { pending, users };
}

const TEMPLATE_EVENTS: readonly EventName[] = ['level_start', 'level_complete', 'level_fail', 'purchase', 'session_start'];

/** Defect and special records, each with the index in `pending` it goes before. */
function oddRecords(o: ResolvedOptions, pending: Pending[], users: User[]): { at: number; record: TruthRecord }[] {
  const rng = createRng(o.seed).fork('defects');
  const out: { at: number; record: TruthRecord }[] = [];
  if (o.defectRate <= 0 || pending.length === 0) return out;
  const light = DEFECT_KINDS.filter((k) => !k.heavy);
  const perKind = Math.round((o.events * o.defectRate) / light.length);
  for (const kind of DEFECT_KINDS) {
    const count = kind.heavy ? (o.heavy ? kind.variants.length : 0) : Math.max(kind.variants.length, perKind);
    for (let i = 0; i < count; i++) {
      const at = rng.int(0, pending.length);
      const near = pending[Math.min(at, pending.length - 1)].deliverAt;
      const user = rng.pick(users);
      const name = rng.pick(TEMPLATE_EVENTS);
      const params = name === 'purchase' ? { product_id: 'gems_100', price_usd: 0.99 }
        : name === 'session_start' ? undefined
        : { level_id: user.level, moves_used: rng.int(3, 40), time_seconds: rng.int(15, 240), boosters_used: [] };
      const template = eventFor(rng, user, rng.uuid(), name, params, near - rng.int(0, 3000), 'iso_ms_z');
      const variant = kind.variants[i % kind.variants.length];
      const line = kind.build({ rng, template, maxEventBytes: o.maxEventBytes }, variant);
      if (line.includes(0x0a)) throw new Error(`defect ${kind.kind}/${variant} produced a newline byte`);
      out.push({ at, record: { line, label: label({ kind: kind.kind, variant, expect: kind.expect }) } });
    }
  }
  out.sort((a, b) => a.at - b.at);
  return out;
}

export function generateDataset(opts: GenerateOptions = {}): Dataset {
  const o = resolveOptions(opts);
  const { pending, users } = normalTraffic(o);
  const odd = oddRecords(o, pending, users);
  const records: TruthRecord[] = [];
  let j = 0;
  for (let i = 0; i <= pending.length; i++) {
    while (j < odd.length && odd[j].at === i) records.push(odd[j++].record);
    if (i < pending.length) records.push({ line: pending[i].line, label: pending[i].label });
  }
  return makeDataset(o, records);
}

/** Wraps hand-built records (self-tests) or generated ones with the dataset writers. */
export function makeDataset(o: ResolvedOptions, records: TruthRecord[]): Dataset {
  const geo = geoTable();
  return {
    options: o,
    records,
    lines: records.map((r) => r.line),
    geo,
    devices: DEVICE_TABLE,
    avroRecords: () => records.filter((r) => isAvroRepresentable(r.line, o.maxEventBytes)),
    toNdjson: (path) => writeNdjson(path, records),
    toAvro: (path) => writeAvroFile(path, records, { maxEventBytes: o.maxEventBytes }),
    writeDeviceCsv: (path) => writeDeviceCsv(path),
    composition: () => composition(records),
  };
}

async function writeNdjson(path: string, records: readonly TruthRecord[]): Promise<void> {
  const out = createWriteStream(path);
  const newline = Buffer.from('\n');
  for (let i = 0; i < records.length; i += 4096) {
    const chunk: Buffer[] = [];
    for (const r of records.slice(i, i + 4096)) chunk.push(r.line, newline);
    if (!out.write(Buffer.concat(chunk))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

function composition(records: readonly TruthRecord[]): Record<string, number> {
  const counts: Record<string, number> = { total: records.length };
  const bump = (k: string) => { counts[k] = (counts[k] ?? 0) + 1; };
  for (const { label: l } of records) {
    bump(`kind:${l.kind}`);
    if (l.variant !== undefined) bump(`variant:${l.kind}/${l.variant}`);
    if (l.delivery !== undefined) bump(`delivery:${l.delivery}`);
    if (l.retry !== undefined) bump(`retry:${l.retry}`);
    bump(`expect:${l.expect}`);
  }
  return counts;
}
