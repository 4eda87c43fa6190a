// A record far over GAMESTREAM_MAX_EVENT_BYTES (40 MB, 100 MB lines) is one too_large dead letter of bounded size
// (its first bytes, its size and SHA-256), on both warehouses, and the records after it are written.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { emulatorClients, freshDataset, type FreshDataset } from '../support/bigquery/client.ts';
import { describeRun, runEngine } from '../support/truth/engine.ts';

const TIMEOUT = 180_000;
const PREFIX_BYTES = 64 * 1024;
const ctx = inject('bigquery');

function event(i: number): string {
  return JSON.stringify({
    id: `ok-${i}`, user_id: `u-${i}`, timestamp: new Date(Date.now() - 3_600_000).toISOString(), type: 1001,
    name: 'level_start', parameters: { level_id: i },
  });
}

/** A JSON event whose parameters blob makes the line `bytes` long (an IP in its head, to be masked). */
function bigLine(i: number, bytes: number): Buffer {
  const head = `{"id":"big-${i}","user_id":"u-big","type":1001,"ip_address":"81.2.69.142","parameters":{"blob":"`;
  const tail = '"}}';
  const b = Buffer.alloc(bytes, 'x'.charCodeAt(0));
  b.write(head, 0);
  b.write(tail, bytes - tail.length);
  return b;
}

interface Big {
  size: number;
  sha256: string;
}

function writeInput(path: string): Big[] {
  const fd = openSync(path, 'w');
  const bigs: Big[] = [];
  try {
    let i = 0;
    for (const size of [40_000_000, 100_000_000]) {
      writeSync(fd, `${event(i++)}\n`);
      const b = bigLine(i++, size);
      bigs.push({ size, sha256: createHash('sha256').update(b).digest('hex') });
      writeSync(fd, b);
      writeSync(fd, '\n');
    }
    writeSync(fd, `${event(i++)}\n`);
  } finally {
    closeSync(fd);
  }
  return bigs;
}

function settings(input: string, dir: string): Record<string, string> {
  return {
    GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_ETL: 'off', GAMESTREAM_PARTITIONS: '2', GAMESTREAM_WORKERS: '1',
    GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_DEDUPE_DIR: join(dir, 'dedupe'), GAMESTREAM_IDLE_TIMEOUT: '1h',
  };
}

interface DlqRow {
  error_code: string;
  error: string;
  raw_message: string;
  raw_encoding: string;
}

function checkDeadLetters(rows: DlqRow[], bigs: Big[]): void {
  expect(rows.length).toBe(2);

  for (const big of bigs) {
    const row = rows.find((r) => r.error.includes(big.sha256));
    expect(row, `a row with sha256 ${big.sha256}`).toBeDefined();
    expect(row!.error_code).toBe('too_large');
    expect(row!.error).toContain(`record is ${big.size} bytes`);
    expect(row!.raw_encoding).toBe('utf8');
    expect(Buffer.byteLength(row!.raw_message)).toBeLessThanOrEqual(PREFIX_BYTES);
    expect(row!.raw_message.startsWith(`{"id":"big-`)).toBe(true);
    expect(row!.raw_message).toContain('"ip_address":"81.2.69.0"');
  }
}

describe('records of 40 MB and 100 MB', { timeout: TIMEOUT }, () => {
  let dir: string;
  let input: string;
  let bigs: Big[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gamestream-oversized-'));
    input = join(dir, 'in.ndjson');
    bigs = writeInput(input);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('DuckDB: each is one bounded too_large dead letter, and the records after them are written', async () => {
    const wh = join(dir, 'wh.duckdb');
    const r = await runEngine({ ...settings(input, dir), GAMESTREAM_WAREHOUSE: `duckdb:${wh}` }, 120_000);
    expect(r.code, describeRun(r)).toBe(0);
    const db = await DuckDBInstance.create(wh);
    const c = await db.connect();
    try {
      const ev = await c.runAndReadAll('SELECT event_id FROM events ORDER BY event_id');
      expect(ev.getRows().map((x) => x[0])).toEqual(['ok-0', 'ok-2', 'ok-4']);
      const dlq = await c.runAndReadAll('SELECT error_code, error, raw_message, raw_encoding FROM events_dlq');
      checkDeadLetters(dlq.getRowObjects() as unknown as DlqRow[], bigs);
    } finally {
      c.closeSync();
      db.closeSync();
    }
  });

  describe('BigQuery', () => {
    let bq: BigQuery;
    let dataset: FreshDataset;
    beforeAll(async () => {
      bq = emulatorClients(ctx).bq;
      dataset = await freshDataset(bq, 'oversized');
    });
    afterAll(async () => dataset?.cleanup().catch(() => undefined));

    it('each is one bounded too_large dead letter, and the records after them are written', async () => {
      const r = await runEngine({
        ...settings(input, dir), GAMESTREAM_DEDUPE_DIR: join(dir, 'dedupe-bq'),
        GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${dataset.id}`,
        GAMESTREAM_BIGQUERY_ENDPOINT: ctx.restEndpoint, GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: ctx.writeEndpoint,
        GAMESTREAM_BIGQUERY_TIMEOUT: '20s',
      }, 150_000);
      expect(r.code, describeRun(r)).toBe(0);
      const t = `\`${ctx.project}.${dataset.id}`;
      const [ev] = await bq.query(`SELECT event_id FROM ${t}.events\` WHERE event_date >= '2000-01-01' ORDER BY event_id`);
      expect((ev as { event_id: string }[]).map((x) => x.event_id)).toEqual(['ok-0', 'ok-2', 'ok-4']);
      const [dlq] = await bq.query(`SELECT error_code, error, raw_message, raw_encoding FROM ${t}.events_dlq\` WHERE received_at >= '2000-01-01'`);
      checkDeadLetters(dlq as DlqRow[], bigs);
    });
  });
});
