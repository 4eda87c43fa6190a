/**
 * JSON and Avro carry the same events: for every record of a ground-truth dataset that Avro can represent,
 * the Avro datum (plain, and in the Confluent wire format) must validate to exactly what the JSON form does.
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { AvroDecoder, ConfluentAvro, decodeJson, type Decoded } from '../../src/partition/decode.ts';
import { validate } from '../../src/partition/validate.ts';
import { gameEventSchema, toAvroDatum } from '../support/truth/avro.ts';
import { generateDataset } from '../support/truth/generate.ts';

const SCHEMA = readFileSync(new URL('../../schemas/game-event.avsc', import.meta.url), 'utf8');
const NOW = Date.UTC(2026, 10, 27, 12);

function verdict(d: Decoded): unknown {
  if (!d.ok) return d.rejection.code;
  return validate(d.obj, { futureToleranceMs: 3_600_000, nowMs: NOW });
}

describe('JSON and Avro decode to the same events', () => {
  it('for every representable record of a dataset, plain and Confluent-framed', () => {
    const ds = generateDataset({ seed: 99, events: 4000 });
    const type = avro.Type.forSchema(gameEventSchema(), { wrapUnions: true });
    const plain = new AvroDecoder(SCHEMA);
    const framed = new ConfluentAvro({ 42: SCHEMA });
    let compared = 0;
    let withProperties = 0;
    for (const r of ds.records) {
      const datum = toAvroDatum(r.line, 1 << 20);
      if (!datum) continue;
      const body = type.toBuffer(datum);
      const header = Buffer.from([0, 0, 0, 0, 42]);
      const json = verdict(decodeJson(r.line, 1 << 20));
      // The datum carries the schema's fields only: what the JSON form had besides (its properties, the client's
      // user-state stamps, which the schema has no field for) is not in it.
      const event = typeof json === 'object' && json !== null && 'properties' in json ? json : null;
      const fromJson = event ? { ...event, properties: null, clientPaying: null, clientDaysSinceInstall: null } : json;
      if (event && event.properties !== null) withProperties++;
      expect(verdict(plain.decode(body, 1 << 20))).toEqual(fromJson);
      expect(ConfluentAvro.isFramed(Buffer.concat([header, body]))).toBe(true);
      expect(verdict(framed.decode(Buffer.concat([header, body]), 1 << 20))).toEqual(fromJson);
      compared++;
    }
    expect(compared).toBeGreaterThan(3500);
    expect(withProperties, 'records with fields outside the schema').toBeGreaterThan(0);
  });

  it('an unknown schema id is unknown_schema, naming the id and where it was looked for', () => {
    const framed = new ConfluentAvro({ 1: SCHEMA }, { unknownHint: 'the schema registry answered "not found"' });
    const d = framed.decode(Buffer.from([0, 0, 0, 0, 7, 1, 2]), 1 << 20);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.rejection.code).toBe('unknown_schema');
      expect(d.rejection.stage).toBe('decode');
      expect(d.rejection.message).toContain('schema id 7');
      expect(d.rejection.message).toContain('not found');
    }
    expect(ConfluentAvro.isFramed(Buffer.from('{"id":1}'))).toBe(false);
    // Oversized wins over the id: the size limit holds whatever the schema.
    const big = framed.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), Buffer.alloc(2048)]), 1024);
    expect(!big.ok && big.rejection.code).toBe('too_large');
  });

  it('schemas added later decode at once; an unusable id says why', () => {
    const framed = new ConfluentAvro({});
    const type = avro.Type.forSchema(gameEventSchema(), { wrapUnions: true });
    const body = type.toBuffer({ id: { string: 'e1' }, user_id: { string: 'u1' }, session_id: null, timestamp: { long: NOW }, type: { long: 1 }, name: null, parameters: null, app_version: null, platform: null, ip_address: null, device_model: null });
    const rec = Buffer.concat([Buffer.from([0, 0, 0, 1, 0]), body]);
    expect(framed.decode(rec, 1 << 20).ok).toBe(false);
    framed.add({ 256: SCHEMA }, { 9: 'it is a PROTOBUF schema, not Avro' });
    const d = framed.decode(rec, 1 << 20);
    expect(d.ok && d.obj.user_id).toBe('u1');
    const u = framed.decode(Buffer.from([0, 0, 0, 0, 9, 1]), 1 << 20);
    expect(!u.ok && u.rejection.code).toBe('unknown_schema');
    expect(!u.ok && u.rejection.message).toContain('PROTOBUF');
  });
});
