// The copies to the enriched and dead-letter topics against the real broker: every row once, in order, keyed by
// user_id (enriched) or with the raw bytes and the reason in headers (dead letters); a record the topic's
// max.message.bytes would refuse is skipped and counted instead of failing the stream; a topic that is not there
// fails the publish with output_failed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaOutputs, type PublishReport } from '../../src/kafka-platformatic/outputs.ts';
import { FAILURE_SCHEMA } from '../../src/sinks/tables.ts';
import { GAMESTREAM_VERSION } from '../../src/version.ts';
import { brokers, createTopic, logger, readTopic, topicCount, uniqueTopic } from '../ingest/support.ts';

describe('KafkaOutputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gamestream-outputs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, rows: object[]): string => {
    const path = join(dir, name);
    writeFileSync(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return path;
  };

  it('copies enriched rows keyed by user_id in order and dead letters with their raw bytes and reason, skipping what is too large', async () => {
    const enriched = uniqueTopic('outputs-enriched');
    const dlq = uniqueTopic('outputs-dlq');
    await createTopic(enriched, 4);
    // A small limit, so that one incompressible record is over it.
    await createTopic(dlq, 3, brokers(), { 'max.message.bytes': '20000' });
    // Keys with JSON escapes in the row (a quote, a backslash, a control character) and non-ASCII ones, too.
    const users = ['u-0', 'u-1', 'u-2', 'u-3', 'u-4', 'u-5', 'q"uo\\te', 'ctl\u0001x', 'é-ü'];
    const rows = Array.from({ length: 500 }, (_, i) => ({ event_id: `e${i}`, user_id: users[i % 9], seq: i }));
    const binary = randomBytes(300);
    const huge = randomBytes(30_000).toString('base64');
    const letters = [
      { error_code: 'parse_error', error: 'not JSON', stage: 'decode', raw_message: 'not json {', raw_encoding: 'utf8', source_partition: 3, source_offset: 41, received_at_ms: Date.UTC(2026, 10, 20, 10) },
      { error_code: 'too_large', error: 'too big', stage: 'validate', raw_message: huge, raw_encoding: 'base64', source_partition: 1, source_offset: 7, received_at_ms: Date.UTC(2026, 10, 20, 11) },
      { error_code: 'invalid_field', error: 'bad bytes', stage: 'validate', raw_message: binary.toString('base64'), raw_encoding: 'base64', source_partition: 0, source_offset: 9, received_at_ms: Date.UTC(2026, 10, 20, 12) },
      ...Array.from({ length: 30 }, (_, i) => ({ error_code: 'missing_fields', error: 'no id', stage: 'validate', raw_message: `{"n":${i}}`, raw_encoding: 'utf8', source_partition: 2, source_offset: 100 + i, received_at_ms: Date.UTC(2026, 10, 20, 13) })),
    ];
    const reports: PublishReport[] = [];
    const outputs = new KafkaOutputs({
      brokers: brokers(), clientId: 'gamestream-test', enrichedTopic: enriched, dlqTopic: dlq, source: 'kafka:test', log: logger,
      onPublished: (r) => reports.push(r),
    });
    try {
      // Two commits' files, published in two calls, as the supervisor does.
      await outputs.publish([{ events: write('a.ndjson', rows.slice(0, 200)), dlq: write('a-dlq.ndjson', letters.slice(0, 2)), agg: null, aggUpdates: null }]);
      await outputs.publish([{ events: write('b.ndjson', rows.slice(200)), dlq: write('b-dlq.ndjson', letters.slice(2)), agg: null, aggUpdates: null }]);
    } finally {
      await outputs.close();
    }
    expect(outputs.published).toEqual({ enriched: 500, dlq: letters.length - 1 });
    expect(outputs.skipped).toBe(1);
    // One report per publish, each with its own records.
    expect(reports.map((r) => [r.sent, r.skipped])).toEqual([
      [{ enriched: 200, dlq: 1 }, { enriched: 0, dlq: 1 }],
      [{ enriched: 300, dlq: letters.length - 2 }, { enriched: 0, dlq: 0 }],
    ]);
    for (const r of reports) expect(r.durationMs).toBeGreaterThanOrEqual(0);

    const got = await readTopic(enriched, rows.length);
    expect(got.length).toBe(rows.length);
    expect(await topicCount(enriched)).toBe(rows.length);
    const byUser = new Map<string, number[]>();
    for (const m of [...got].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
      const row = JSON.parse(m.value.toString()) as { user_id: string; seq: number };
      expect(m.key?.toString()).toBe(row.user_id);
      byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), row.seq]);
    }
    // Each user's rows are in one partition, in the order they were written.
    for (const [user, seqs] of byUser) expect(seqs, user).toEqual(rows.filter((r) => r.user_id === user).map((r) => r.seq));

    const letterCount = letters.length - 1;
    const dead = await readTopic(dlq, letterCount);
    expect(dead.length).toBe(letterCount);
    expect(await topicCount(dlq)).toBe(letterCount);
    // No key: spread over the partitions rather than all in one.
    expect(new Set(dead.map((m) => m.partition)).size).toBeGreaterThan(1);
    const parse = dead.find((m) => m.headers.get('error_code') === 'parse_error')!;
    expect(parse.value.toString()).toBe('not json {');
    expect(parse.key).toBeNull();
    expect(Object.fromEntries(parse.headers)).toEqual({
      error_code: 'parse_error', error: 'not JSON', stage: 'decode', source: 'kafka:test', source_partition: '3', source_offset: '41',
      received_at: '2026-11-20T10:00:00.000Z', gamestream_version: GAMESTREAM_VERSION, failure_schema: FAILURE_SCHEMA,
    });
    expect(dead.find((m) => m.headers.get('error_code') === 'invalid_field')!.value.equals(binary)).toBe(true);
    expect(dead.filter((m) => m.headers.get('error_code') === 'too_large')).toEqual([]);
  });

  it('reports a publish that failed and was retried once, by the attempt that went through', async () => {
    const enriched = uniqueTopic('outputs-retry-enriched');
    const dlq = uniqueTopic('outputs-retry-dlq');
    await createTopic(enriched, 2, brokers(), { 'max.message.bytes': '20000' });
    const reports: PublishReport[] = [];
    const outputs = new KafkaOutputs({
      brokers: brokers(), clientId: 'gamestream-test', enrichedTopic: enriched, dlqTopic: dlq, source: 'kafka:test', log: logger,
      onPublished: (r) => reports.push(r),
    });
    const rows = [{ user_id: 'u', n: 1 }, { user_id: 'u', blob: randomBytes(30_000).toString('base64') }, { user_id: 'v', n: 2 }];
    const files = [{ events: write('r.ndjson', rows), dlq: write('r-dlq.ndjson', [{ error_code: 'parse_error', error: 'x', stage: 'decode', raw_message: 'x', raw_encoding: 'utf8', source_partition: 0, source_offset: 1, received_at_ms: 0 }]), agg: null, aggUpdates: null }];
    try {
      // The dead-letter topic is not there yet: the first attempt sends the enriched rows, skips the big one, and fails.
      await expect(outputs.publish(files)).rejects.toMatchObject({ code: 'output_failed' });
      expect(reports).toEqual([]);
      await createTopic(dlq, 1);
      await outputs.publish(files);
    } finally {
      await outputs.close();
    }
    expect(reports.map((r) => [r.sent, r.skipped])).toEqual([[{ enriched: 2, dlq: 1 }, { enriched: 1, dlq: 0 }]]);
    expect(outputs.published).toEqual({ enriched: 2, dlq: 1 });
    expect(outputs.skipped).toBe(1);
  });

  it('fails the publish with output_failed when the topic is not there', async () => {
    const outputs = new KafkaOutputs({ brokers: brokers(), clientId: 'gamestream-test', enrichedTopic: uniqueTopic('outputs-missing'), dlqTopic: null, source: 'test', log: logger });
    try {
      await expect(outputs.publish([{ events: write('c.ndjson', [{ user_id: 'u', n: 1 }]), dlq: null, agg: null, aggUpdates: null }]))
        .rejects.toMatchObject({ code: 'output_failed', retryable: true });
    } finally {
      await outputs.close();
    }
  });
});
