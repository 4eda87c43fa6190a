/**
 * The supervisor in the test's own process (its worker threads too), on a small in-memory source and an
 * embedded DuckDB warehouse: the run's totals match the warehouse, a second run over the same source skips what
 * the warehouse has, and a worker that crashes is restarted with nothing lost or doubled. The CLI tests
 * (supervisor.test.ts and the integration suites) run the same engine as a separate process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/actors/supervisor.ts';
import { loadFaults } from '../../src/config/faults.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { IdIndex } from '../../src/dedupe/id-index.ts';
import { TableFiles } from '../../src/enrich/tables.ts';
import { DuckDbWarehouse } from '../../src/sinks/duckdb/duckdb-warehouse.ts';
import type { RecordChunk, Source } from '../../src/sources/source.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-sup-inproc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });
const T0 = Date.UTC(2026, 10, 20, 10);

/** NDJSON records from memory, handed out in chunks of 50, as a file source would. */
class MemorySource implements Source {
  readonly name = 'memory:test';
  readonly format = 'ndjson';
  readonly avroWriterSchema = null;
  readonly partitionedLog = null;
  readonly group = null;
  private at = 0;
  private readonly lines: string[];
  constructor(lines: string[]) {
    this.lines = lines;
  }
  async open(): Promise<void> {}
  async next(): Promise<RecordChunk | null> {
    if (this.at >= this.lines.length) return null;
    const part = this.lines.slice(this.at, this.at + 50).map((l) => Buffer.from(l));
    const starts = new Uint32Array(part.length);
    const ends = new Uint32Array(part.length);
    for (let i = 0, pos = 0; i < part.length; i++) {
      starts[i] = pos;
      pos += part[i]!.length;
      ends[i] = pos;
    }
    const chunk: RecordChunk = { data: Buffer.concat(part), starts, ends, count: part.length, firstIndex: this.at, keys: null };
    this.at += part.length;
    return chunk;
  }
  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: 0, totalBytes: null };
  }
  interrupt(): void {}
  async close(): Promise<void> {}
}

/** 600 events of 12 users a second apart, every 50th a resend of the one before, every 97th broken. */
function traffic(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 600; i++) {
    if (i % 97 === 96) out.push('{"broken": ');
    else if (i % 50 === 49) out.push(out[out.length - 1]!);
    else out.push(JSON.stringify({ id: `e-${i}`, user_id: `u${i % 12}`, timestamp: new Date(T0 + i * 1000).toISOString(), type: 1001, name: 'level_start', parameters: { level_id: i % 4 } }));
  }
  return out;
}

async function runOnce(wh: string, env: Record<string, string> = {}, said: string[] = []): Promise<{ events: number; duplicates: number; deadLetters: number; restarts: number }> {
  const config = loadConfig({
    GAMESTREAM_WAREHOUSE: `duckdb:${wh}`, GAMESTREAM_PARTITIONS: '4', GAMESTREAM_WORKERS: '2', GAMESTREAM_GEOIP_DB: 'off',
    GAMESTREAM_DEVICE_TABLE: 'off', GAMESTREAM_IDLE_TIMEOUT: '1h', GAMESTREAM_PROGRESS_INTERVAL: '0', GAMESTREAM_BATCH_RECORDS: '40', ...env,
  });
  const tables = await TableFiles.open({ geoipPath: null, devicePath: null });
  const warehouse = new DuckDbWarehouse({ path: wh, source: 'memory:test', maxEventBytes: config.maxEventBytes });
  const index = new IdIndex({ dir: `${wh}.dedupe`, setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: config.dedupeHorizonMs, filterBytes: config.dedupeFilterBytes, log });
  const spoolDir = mkdtempSync(join(dir, 'spool-'));
  const faults = loadFaults(env, config.workers);
  const sup = new Supervisor({ config, faults, source: new MemorySource(traffic()), warehouse, tables, spoolDir, log, say: (line) => said.push(line), index });
  const t = await sup.run();
  return { events: t.events, duplicates: t.duplicates, deadLetters: t.deadLetters, restarts: t.workerRestarts };
}

async function stored(wh: string): Promise<{ rows: number; ids: number }> {
  const inst = await DuckDBInstance.create(wh, { access_mode: 'READ_ONLY' });
  const conn = await inst.connect();
  try {
    const [row] = (await conn.runAndReadAll('SELECT count(*), count(DISTINCT event_id) FROM events')).getRows();
    return { rows: Number(row![0]), ids: Number(row![1]) };
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

describe('supervisor, in process', { timeout: 60_000 }, () => {
  const expected = { events: 600 - 6 - 12, duplicates: 12, deadLetters: 6 };

  it('runs a source to its end into the warehouse, and a second run over it adds nothing', async () => {
    const wh = join(dir, 'a.duckdb');
    expect(await runOnce(wh)).toEqual({ ...expected, restarts: 0 });
    expect(await stored(wh)).toEqual({ rows: expected.events, ids: expected.events });
    expect(await runOnce(wh)).toEqual({ ...expected, restarts: 0 });
    expect(await stored(wh)).toEqual({ rows: expected.events, ids: expected.events });
  });

  it('ends its progress lines with one that shows the final totals, however long the interval', async () => {
    const said: string[] = [];
    const t = await runOnce(join(dir, 'c.duckdb'), { GAMESTREAM_PROGRESS_INTERVAL: '1h' }, said);
    const last = said.filter((l) => /written [\d,]+/.test(l)).pop();
    expect(last, said.join('\n')).toBeDefined();
    expect(last).toMatch(new RegExp(`written ${t.events.toLocaleString('en-US')} +dead letters ${t.deadLetters}`));
  });

  it('restarts a worker that crashes, from the warehouse, and ends with the same warehouse', async () => {
    const wh = join(dir, 'b.duckdb');
    expect(await runOnce(wh, { GAMESTREAM_TEST_CRASH_WORKER: '1:2' })).toEqual({ ...expected, restarts: 1 });
    expect(await stored(wh)).toEqual({ rows: expected.events, ids: expected.events });
  });
});
