/**
 * Hostile input: 100k+ records of the kinds game clients on the internet send, through the full actor path.
 * Nothing may throw, every record must end up as exactly one event, dead letter or duplicate, the prototype
 * must stay clean, and memory must stay bounded.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEngine } from '../support/truth/engine.ts';
import { describe, expect, it } from 'vitest';
import { actorOutput, PartitionActor } from '../../src/partition/actor.ts';
import type { RawRecord } from '../../src/partition/record.ts';
import { EnrichmentTables } from '../../src/enrich/tables.ts';

const NOW = Date.UTC(2026, 10, 27, 12);
const CODES = new Set(['parse_error', 'too_large', 'missing_fields', 'invalid_field', 'invalid_timestamp', 'future_timestamp']);

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

function valid(i: number): Record<string, unknown> {
  return {
    id: `e-${i}`, user_id: `u-${i % 97}`, session_id: 's', timestamp: new Date(NOW - 3_600_000 + i).toISOString(),
    type: 1001, name: 'level_start', parameters: { level_id: i % 50 }, platform: 'ios', ip_address: '8.8.8.8',
  };
}

function hostile(i: number): Buffer {
  const v = valid(i);
  switch (i % 16) {
    case 0: return Buffer.from(Array.from({ length: 1 + rand(300) }, () => rand(256)));
    case 1: { const s = JSON.stringify(v); return Buffer.from(s.slice(0, rand(s.length))); }
    case 2: return Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('"}')]);
    case 3: return Buffer.from(JSON.stringify({ ...v, parameters: { blob: 'x'.repeat(rand(50) === 0 ? 1_100_000 : 2000) } }));
    case 4: return Buffer.from(`{"parameters":${'['.repeat(5000)}${']'.repeat(5000)},"id":"a"}`);
    case 5: return Buffer.from(JSON.stringify({ ...v, parameters: JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') }));
    case 6: return Buffer.from(`{"__proto__":{"polluted":true},${JSON.stringify(v).slice(1)}`);
    case 7: return Buffer.from(JSON.stringify({ ...v, type: String(v.type) }));
    case 8: return Buffer.from(JSON.stringify(v).replace('"type":1001', '"type":123456789012345678901234567890'));
    case 9: return Buffer.from(JSON.stringify({ ...v, user_id: null }));
    case 10: return Buffer.from(JSON.stringify({ ...v, timestamp: 'soon' }));
    case 11: return Buffer.from(JSON.stringify({ ...v, timestamp: '2099-01-01T00:00:00Z' }));
    case 12: return Buffer.from(['null', '[]', '"s"', '1e999', 'true', '{}'][rand(6)]);
    case 13: return Buffer.from(JSON.stringify({ ...v, constructor: 'x', toString: 1, hasOwnProperty: 2 }));
    case 14: return Buffer.from(JSON.stringify({ ...v, id: v.id + '\u0000' }));
    default: return Buffer.from(JSON.stringify(v));
  }
}

describe('hostile input through the partition actor', () => {
  it('never throws, accounts for every record, keeps the prototype clean and memory bounded', () => {
    const out = actorOutput(() => EnrichmentTables.empty());
    const actor = new PartitionActor(
      { partition: 0, windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 60_000, dedupeHorizonMs: 300_000,
        futureToleranceMs: 3_600_000, maxEventBytes: 1 << 20, avro: null, origin: 0 },
      out,
    );
    const total = 120_000;
    let offset = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    let events = 0;
    let dlq = 0;
    const codes = new Map<string, number>();
    const dlqFile = `/tmp/gamestream-hostile-${process.pid}.ndjson`;
    try {
      for (let b = 0; b < total / 1000; b++) {
        const batch: RawRecord[] = [];
        for (let i = 0; i < 1000; i++) batch.push({ partition: 0, offset: offset, bytes: hostile(offset++) });
        actor.processBatch(batch, NOW, NOW);
        // Count what came out, then drop it, as a flush would.
        events += out.events.rows;
        dlq += out.dlq.rows;
        out.events.writeTo('/dev/null');
        out.dlq.writeTo(dlqFile);
        for (const line of readFileSync(dlqFile, 'utf8').split('\n')) {
          if (!line) continue;
          const row = JSON.parse(line) as { error_code: string };
          codes.set(row.error_code, (codes.get(row.error_code) ?? 0) + 1);
        }
        out.agg.writeTo('/dev/null');
      }
    } finally {
      rmSync(dlqFile, { force: true });
    }
    const cp = actor.flush()!;
    expect(cp.nextOffset).toBe(total);
    expect(events + dlq + cp.duplicates).toBe(total);
    expect(cp.events).toBe(events);
    expect(cp.deadLetters).toBe(dlq);
    for (const c of codes.keys()) expect(CODES.has(c), c).toBe(true);
    // Each hostile kind really was rejected (not silently accepted).
    expect(codes.get('parse_error')).toBeGreaterThan(total / 16 * 3);
    expect(codes.get('invalid_field')).toBeGreaterThanOrEqual(total / 16 * 3);
    expect(codes.get('missing_fields')).toBeGreaterThan(0);
    expect(codes.get('future_timestamp')).toBeGreaterThan(0);
    expect(codes.get('invalid_timestamp')).toBeGreaterThan(0);
    expect(codes.get('too_large')).toBeGreaterThan(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    global.gc?.();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
  }, 120_000);
});

/** Client addresses hidden where masking by field name cannot see them; each must be stored masked. */
const RAW_IPS = ['203.0.113.77', '198.51.100.9', '2001:db8:aa:bb::1', '2001:0db8:0:0:1:2:3:4', '2a02:6b8::2:242', 'fe80::1ff:fe23:4567:890a'];

function withIps(i: number): Buffer {
  const v = valid(i);
  const ip = (k: number): string => RAW_IPS[(i + k) % RAW_IPS.length];
  const parameters = { level_id: 1, ipv6: ip(2), nested: { deep: [{ addr: `client ${ip(0)}:443` }, [ip(1), ip(3).toUpperCase()]] }, [ip(4)]: 'as a key' };
  switch (i % 6) {
    case 0: return Buffer.from(JSON.stringify({ ...v, parameters })); // valid: an events row
    case 1: return Buffer.from(JSON.stringify({ ...v, name: `from ${ip(5)}`, parameters })); // valid
    case 2: return Buffer.from(JSON.stringify({ ...v, ip_address: { v6: ip(2), v4: ip(0) } })); // invalid_field
    case 3: return Buffer.from(JSON.stringify({ ...v, timestamp: ip(1), parameters })); // invalid_timestamp
    case 4: return Buffer.from(`${JSON.stringify({ ...v, parameters })}, ${ip(3)}`); // parse_error
    default: return Buffer.concat([Buffer.from(JSON.stringify({ ...v, parameters })), Buffer.from([0, 0xff])]); // base64
  }
}

describe('addresses anywhere in a record', () => {
  it('are masked in every stored row: events, dead letters (their raw message decoded, as the DLQ topic carries it) and errors', () => {
    const out = actorOutput(() => EnrichmentTables.empty());
    const actor = new PartitionActor(
      { partition: 0, windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 60_000, dedupeHorizonMs: 300_000,
        futureToleranceMs: 3_600_000, maxEventBytes: 1 << 20, avro: null, origin: 0 },
      out,
    );
    actor.processBatch(Array.from({ length: 600 }, (_, i) => ({ partition: 0, offset: i, bytes: withIps(i) })), NOW, NOW);
    const file = `/tmp/gamestream-hostile-ips-${process.pid}.ndjson`;
    const texts: string[] = [];
    try {
      out.events.writeTo(file);
      const events = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      out.dlq.writeTo(file);
      const dlq = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      expect(events.length).toBe(200);
      expect(dlq.length).toBe(400);
      texts.push(...events);
      for (const line of dlq) {
        const row = JSON.parse(line) as { raw_message: string; raw_encoding: string };
        texts.push(line, Buffer.from(row.raw_message, row.raw_encoding === 'base64' ? 'base64' : 'utf8').toString('latin1'));
      }
    } finally {
      rmSync(file, { force: true });
    }
    for (const text of texts) {
      const lower = text.toLowerCase();
      for (const ip of RAW_IPS) expect(lower.includes(ip.toLowerCase()), `${ip} in ${text.slice(0, 300)}`).toBe(false);
    }
    // Masked, not dropped: the /48 and the /24 are still there.
    expect(texts.some((t) => t.includes('"ipv6":"2001:db8:aa::"'))).toBe(true);
    expect(texts.some((t) => t.includes('client 203.0.113.0:443'))).toBe(true);
  });
});

describe('half a character (a lone UTF-16 surrogate) anywhere in a record', () => {
  it('is a dead letter, never a row the warehouse load refuses: DuckDB stores everything else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-surrogate-'));
    try {
      const now = Date.now();
      const event = (i: number, extra: Record<string, unknown> = {}) => ({
        id: `s-${i}`, user_id: `u-${i % 5}`, timestamp: new Date(now - 60_000 + i).toISOString(), type: 1001, name: 'level_start', parameters: { level_id: 1 }, ...extra,
      });
      const lines = [
        ...Array.from({ length: 20 }, (_, i) => JSON.stringify(event(i))),
        // JSON.stringify writes a lone surrogate as its \u escape, as a client's serializer that cut an emoji does.
        JSON.stringify(event(100, { parameters: { level_id: 1, player: 'Bob\ud83d' } })),
        JSON.stringify(event(101, { parameters: { level_id: 1, '\udc00': 1 } })),
        JSON.stringify(event(102, { nickname: ['ok', { nested: 'x\ud83d' }] })),
        // Not JSON, with an emoji as a bare token: V8's parse error quotes half of it.
        '{"name":\u{1F600}}',
        // A bad timestamp whose quoted value is cut by the error text in the middle of an emoji.
        JSON.stringify(event(103, { timestamp: `${'x'.repeat(58)}\u{1F600}` })),
      ];
      const input = join(dir, 'events.ndjson');
      writeFileSync(input, `${lines.join('\n')}\n`);
      const r = await runEngine({
        GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_ETL: 'off',
        GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'w.duckdb')}`, GAMESTREAM_GEOIP_DB: 'off', GAMESTREAM_DEVICE_TABLE: 'off',
      }, 90_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/events 20, dead letters 5/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

