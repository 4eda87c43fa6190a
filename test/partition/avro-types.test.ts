/**
 * An Avro datum decodes to what the same event in JSON parses to: longs beyond ±2^53 as JSON.parse reads their
 * digits, logical types as a client's JSON values, and writer schemas with defaults avsc would refuse.
 */
import avro from 'avsc';
import type { Schema } from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroWriterType } from '../../src/partition/avro-types.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AvroDecoder, ConfluentAvro } from '../../src/partition/decode.ts';
import { loadSchemaDir } from '../../src/sources/kafka/schemas.ts';
import { bigLongWriter } from '../support/big-long.ts';

const writerOf = bigLongWriter;

describe('Avro types as gamestream reads them', () => {
  it('reads a long of any size as JSON.parse reads its digits, with its sign', () => {
    const schema = { type: 'record', name: 'R', fields: [{ name: 'n', type: 'long' }, { name: 'u', type: ['null', 'string', 'long'] }] } as Schema;
    const w = writerOf(schema);
    const t = avroWriterType(schema);
    for (const n of [0n, 1n, -1n, 2n ** 28n + 5n, 2n ** 52n - 1n, 2n ** 52n + 1n, 2n ** 53n - 1n, 2n ** 53n + 1n, -(2n ** 53n) - 3n, 2n ** 60n + 12345n, -(2n ** 60n) - 1n, 2n ** 63n - 1n, -(2n ** 63n) + 1n]) {
      const got = t.fromBuffer(w.toBuffer({ n, u: { long: -n } })) as { n: number; u: { long: number } };
      expect(got.n, String(n)).toBe(JSON.parse(n.toString()));
      expect(got.u.long, String(-n)).toBe(JSON.parse((-n).toString()));
    }
  });

  it('decodes a record with a 64-bit user_id instead of refusing it (validation then judges it as for JSON)', () => {
    const schema = JSON.stringify({ type: 'record', name: 'GameEvent', fields: [
      { name: 'id', type: 'string' }, { name: 'user_id', type: ['null', 'string', 'long'] }, { name: 'timestamp', type: 'long' }, { name: 'type', type: 'long' },
      { name: 'client_ts_ns', type: 'long' },
    ] });
    const w = writerOf(JSON.parse(schema) as Schema);
    const d = new AvroDecoder(schema).decode(w.toBuffer({ id: 'e1', user_id: { long: 2n ** 60n }, timestamp: 1_765_000_000_000n, type: 1001n, client_ts_ns: 1_765_000_000_000_000_000n }), 1 << 20);
    expect(d.ok).toBe(true);
    if (d.ok) expect(d.obj).toEqual({ id: 'e1', user_id: 2 ** 60, timestamp: 1_765_000_000_000, type: 1001, client_ts_ns: 1_765_000_000_000_000_000 });
  });

  it('reads logical types as the JSON values a client sends', () => {
    const schema = { type: 'record', name: 'R', fields: [
      { name: 'ms', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'us', type: { type: 'long', logicalType: 'timestamp-micros' } },
      { name: 'ns', type: ['null', { type: 'long', logicalType: 'timestamp-nanos' }] },
      { name: 'day', type: { type: 'int', logicalType: 'date' } },
      { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
      { name: 'refund', type: { type: 'fixed', name: 'Money', size: 8, logicalType: 'decimal', precision: 18, scale: 4 } },
      { name: 'id', type: { type: 'string', logicalType: 'uuid' } },
    ] } as Schema;
    // Written as plain underlying values, as any Avro writer puts them on the wire.
    const plain = writerOf(schema);
    const fixed = Buffer.alloc(8);
    fixed.writeBigInt64BE(-123_456n); // -12.3456
    const bytes = plain.toBuffer({
      ms: 1_765_000_000_123n, us: 1_765_000_000_123_999n, ns: { long: 1_765_000_000_123_456_789n }, day: 20_430,
      price: Buffer.from([0x03, 0xe7]), refund: fixed, id: '6f1c2f9e-3f4a-4d5e-9b0a-1c2d3e4f5a6b',
    });
    const got = avroWriterType(schema).fromBuffer(bytes) as Record<string, unknown>;
    expect(got.ms).toBe(1_765_000_000_123);
    expect(got.us).toBe(1_765_000_000_123);
    expect((got.ns as { long: number }).long).toBe(1_765_000_000_123);
    expect(got.day).toBe('2025-12-08');
    expect(got.price).toBe(9.99);
    expect(got.refund).toBe(-12.3456);
    expect(got.id).toBe('6f1c2f9e-3f4a-4d5e-9b0a-1c2d3e4f5a6b');
  });

  it('cuts timestamp-nanos to the millisecond exactly, not rounding it first (2024-01-15T23:59:59.999999950Z stays on the 15th)', () => {
    const schema = { type: 'record', name: 'R', fields: [{ name: 'ns', type: { type: 'long', logicalType: 'timestamp-nanos' } }] } as Schema;
    const got = avroWriterType(schema).fromBuffer(writerOf(schema).toBuffer({ ns: 1_705_363_199_999_999_950n })) as { ns: number };
    expect(got.ns).toBe(Date.parse('2024-01-15T23:59:59.999Z'));
  });

  it('a timestamp-micros event gives the same verdict as its JSON form in milliseconds', () => {
    const schema = JSON.stringify({ type: 'record', name: 'GameEvent', fields: [
      { name: 'id', type: 'string' }, { name: 'user_id', type: 'string' }, { name: 'timestamp', type: { type: 'long', logicalType: 'timestamp-micros' } },
      { name: 'type', type: 'int' },
    ] });
    const body = avro.Type.forSchema(JSON.parse(schema) as Schema).toBuffer({ id: 'e', user_id: 'u', timestamp: 1_765_000_000_123_456, type: 1001 });
    const d = new AvroDecoder(schema).decode(body, 1 << 20);
    expect(d.ok && d.obj.timestamp).toBe(1_765_000_000_123);
  });

  it('takes a writer schema whose union default is not its first branch (a writer never reads defaults)', () => {
    const schema = { type: 'record', name: 'R', fields: [{ name: 's', type: ['string', 'null'], default: null }] } as Schema;
    expect(() => avro.Type.forSchema(schema)).toThrow(/default/);
    const t = avroWriterType(JSON.stringify(schema));
    const bytes = Buffer.concat([Buffer.from([0]), avro.Type.forSchema('string').toBuffer('x')]);
    expect(t.fromBuffer(bytes)).toEqual({ s: { string: 'x' } });
  });

  it('a schema directory holding such a schema loads, and its framed records decode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-avro-dir-'));
    try {
      const schema = { type: 'record', name: 'GameEvent', fields: [{ name: 'id', type: 'string' }, { name: 'campaign', type: ['string', 'null'], default: null }] };
      writeFileSync(join(dir, '7.avsc'), JSON.stringify(schema));
      const framed = new ConfluentAvro(loadSchemaDir(dir));
      const body = avro.Type.forSchema({ ...schema, fields: [schema.fields[0]!, { name: 'campaign', type: ['string', 'null'] }] } as Schema, { wrapUnions: true })
        .toBuffer({ id: 'e1', campaign: { string: 'spring' } });
      const d = framed.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body]), 1 << 20);
      expect(d.ok && d.obj).toEqual({ id: 'e1', campaign: 'spring' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('still refuses what is not an Avro schema', () => {
    expect(() => avroWriterType('{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}')).toThrow(/nope/);
    expect(() => avroWriterType('not json')).toThrow();
  });
});
