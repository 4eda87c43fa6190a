/**
 * A record over the size limit that reaches an actor whole (Kafka, a line inside one file read) becomes the same
 * bounded dead letter as a line the file source cuts: its first bytes, size and SHA-256.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actorOutput, PartitionActor } from '../../src/partition/actor.ts';
import { EnrichmentTables } from '../../src/enrich/tables.ts';

const NOW = Date.UTC(2026, 10, 27, 12);

function deadLetters(bytes: Buffer[], maxEventBytes: number): { error_code: string; error: string; raw_message: string; raw_encoding: string }[] {
  const out = actorOutput(() => EnrichmentTables.empty());
  const actor = new PartitionActor({ partition: 0, windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 60_000,
    dedupeHorizonMs: 300_000, futureToleranceMs: 3_600_000, maxEventBytes, avro: null, origin: 0 }, out);
  actor.processBatch(bytes.map((b, i) => ({ partition: 0, offset: i, bytes: b })), NOW, NOW);
  const file = `/tmp/gamestream-oversized-${process.pid}.ndjson`;
  try {
    out.dlq.writeTo(file);
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } finally {
    rmSync(file, { force: true });
  }
}

describe('oversized records reaching an actor whole', () => {
  it('are stored as their first 64 KiB, size and sha256, never whole', () => {
    const big = Buffer.from(`{"id":"a","ip_address":"10.1.2.3","blob":"${'é'.repeat(2_000_000)}"}`);
    const [row] = deadLetters([big], 1 << 20);
    expect(row.error_code).toBe('too_large');
    expect(row.error).toBe(`record is ${big.length} bytes, over the 1048576-byte limit; sha256 ${createHash('sha256').update(big).digest('hex')}; raw_message holds its first ${Buffer.byteLength(row.raw_message)} bytes`);
    // Cut back to a whole character, so the prefix stays text.
    expect(row.raw_encoding).toBe('utf8');
    expect(Buffer.byteLength(row.raw_message)).toBeGreaterThan(64 * 1024 - 4);
    expect(Buffer.byteLength(row.raw_message)).toBeLessThanOrEqual(64 * 1024);
    expect(row.raw_message.startsWith('{"id":"a","ip_address":"10.1.2.0","blob":"éé')).toBe(true);
  });

  it('keep at most GAMESTREAM_MAX_EVENT_BYTES when that is smaller, as base64 when not text', () => {
    const big = Buffer.concat([Buffer.from([0xff, 0]), Buffer.alloc(5000, 0x41)]);
    const [row] = deadLetters([big], 1024);
    expect(row.error_code).toBe('too_large');
    expect(row.raw_encoding).toBe('base64');
    expect(Buffer.from(row.raw_message, 'base64')).toEqual(big.subarray(0, 1024));
  });
});
