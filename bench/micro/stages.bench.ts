/**
 * Micro benches of each pipeline stage, on 1000 realistic events per task run. Reported as events/s.
 *   node bench/micro/stages.bench.ts
 */
import avro from 'avsc';
import fastJson from 'fast-json-stringify';
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { deriveTimeFields } from '../../src/enrich/derived.ts';
import { defaultDeviceTablePath, parseDeviceTable } from '../../src/enrich/devices.ts';
import { defaultGeoIpPath, GeoIpTable, loadGeoIpFile } from '../../src/enrich/geoip.ts';
import { AvroDecoder, decodeJson } from '../../src/partition/decode.ts';
import type { ValidEvent } from '../../src/partition/record.ts';
import { isRejection, validate } from '../../src/partition/validate.ts';
import { partitionForKey } from '../../src/sources/partitioner.ts';
import { scanUserIdKey } from '../../src/sources/key-scan.ts';
import { GeneratorSource } from '../../src/sources/generator.ts';
import { TumblingWindows } from '../../src/windows/tumbling.ts';

export const BATCH = 1000;

export async function sampleLines(n = BATCH): Promise<Buffer[]> {
  const gen = new GeneratorSource({ seed: 7, rate: 1e9, total: n, badShare: 0 });
  await gen.open();
  const out: Buffer[] = [];
  for (let c = await gen.next(); c; c = await gen.next()) {
    for (let i = 0; i < c.count; i++) out.push(Buffer.from(c.data.subarray(c.starts[i], c.ends[i])));
  }
  return out;
}

export async function stageBench(timeMs = 1000): Promise<Bench> {
  const lines = await sampleLines();
  const now = Date.now() + 3_600_000;
  const objs = lines.map((l) => {
    const d = decodeJson(l, 1 << 20);
    if (!d.ok) throw new Error('sample event does not decode');
    return d.obj;
  });
  const events = objs.map((o) => validate(o, { futureToleranceMs: 3_600_000, nowMs: now })).filter((v): v is ValidEvent => !isRejection(v));

  const schema = readFileSync(new URL('../../schemas/game-event.avsc', import.meta.url), 'utf8');
  const type = avro.Type.forSchema(JSON.parse(schema) as avro.Schema, { wrapUnions: true });
  const wrap = (v: unknown): unknown =>
    v === undefined || v === null ? null : typeof v === 'string' ? { string: v } : Number.isSafeInteger(v) ? { long: v } : { double: v };
  const datums = objs.map((o) => {
    const rec: Record<string, unknown> = {};
    for (const f of ['id', 'user_id', 'session_id', 'timestamp', 'type', 'name', 'app_version', 'platform', 'ip_address', 'device_model']) rec[f] = wrap(o[f]);
    rec.parameters = { string: JSON.stringify(o.parameters) };
    return type.toBuffer(rec);
  });
  const avroDecoder = new AvroDecoder(schema);

  const geo = new GeoIpTable(loadGeoIpFile(defaultGeoIpPath()));
  const devices = parseDeviceTable(readFileSync(defaultDeviceTablePath(), 'utf8'), 'devices.csv');
  const rows = events.map((v, i) => ({
    event_id: v.id, user_id: v.userId, session_id: v.sessionId, event_type: v.type, event_name: v.name, ts_ms: v.tsMs,
    event_date: '2026-11-27', event_hour: 13, day_of_week: 4, parameters: v.parameters, platform: v.platform,
    app_version: v.appVersion, country: 'US', region: null, city: null, device_model: v.deviceModel,
    device_category: 'phone', device_tier: 'high', source_partition: 3, source_offset: i,
  }));
  const str = { type: 'string' } as const;
  const nstr = { type: ['string', 'null'] as ('string' | 'null')[] };
  const int = { type: 'integer' } as const;
  const rowStringify = fastJson(({
    type: 'object',
    properties: {
      event_id: str, user_id: str, session_id: nstr, event_type: int, event_name: nstr, ts_ms: int, event_date: str,
      event_hour: int, day_of_week: int, parameters: { type: 'object', additionalProperties: true }, platform: nstr,
      app_version: nstr, country: nstr, region: nstr, city: nstr, device_model: nstr, device_category: nstr,
      device_tier: nstr, source_partition: int, source_offset: int,
    },
  }) as Parameters<typeof fastJson>[0]);

  const bench = new Bench({ name: `pipeline stages, ${BATCH} events per run`, time: timeMs });
  bench
    .add('route: key scan + murmur2', () => {
      for (const l of lines) {
        const k = scanUserIdKey(l, 0, l.length);
        if (k) partitionForKey(l, k.start, k.end, 64);
      }
    })
    .add('decode: JSON', () => {
      for (const l of lines) decodeJson(l, 1 << 20);
    })
    .add('decode: Avro', () => {
      for (const d of datums) avroDecoder.decode(d, 1 << 20);
    })
    .add('validate', () => {
      for (const o of objs) validate(o, { futureToleranceMs: 3_600_000, nowMs: now });
    })
    .add('enrich: GeoIP (bundled country db) + device + date parts', () => {
      for (const v of events) {
        if (v.ipAddress) geo.lookup(v.ipAddress);
        if (v.deviceModel) devices.lookup(v.deviceModel);
        deriveTimeFields(v.tsMs);
      }
    })
    .add('window update', () => {
      const w = new TumblingWindows(60_000, 60_000);
      for (const v of events) w.add(v.tsMs, v.type, v.levelId);
    })
    .add('row: JSON.stringify', () => {
      for (const r of rows) JSON.stringify(r);
    })
    .add('row: fast-json-stringify', () => {
      for (const r of rows) rowStringify(r);
    });
  await bench.run();
  return bench;
}

export function eventsPerSecond(bench: Bench): { stage: string; eventsPerSec: number; nsPerEvent: number }[] {
  return bench.tasks.map((t) => {
    const r = t.result as unknown as { latency?: { mean: number }; throughput?: { mean: number } };
    const msPerRun = r.latency?.mean ?? NaN;
    return { stage: t.name, eventsPerSec: Math.round((BATCH * 1000) / msPerRun), nsPerEvent: Math.round((msPerRun * 1e6) / BATCH) };
  });
}

if (import.meta.main) {
  const bench = await stageBench();
  console.table(eventsPerSecond(bench));
}
