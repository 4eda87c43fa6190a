/**
 * DuckDB reopened between commits: DuckDB keeps the metadata of every row group it wrote until it closes, so a
 * daemon that never closed it grew by about 1.3 bytes per event written. The reopen must never cut a query,
 * lose a row, or leave a connection handed out pointing at the closed instance.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/contract/checkpoint.ts';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { ReopenableInstance } from '../../../src/sinks/duckdb/instance.ts';
import { duckdbEtlWarehouse } from '../../../src/sinks/duckdb/etl-warehouse.ts';
import { duckDbReadOnlyRunner } from '../../../src/sinks/duckdb/read-only-query.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gs-reopen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 20, 10);

function eventsFile(name: string, from: number, n: number): string {
  const path = join(dir, name);
  const rows = Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return JSON.stringify({
      event_id: `e-${i}`, user_id: `u${i % 50}`, session_id: `s${i % 7}`, event_type: 1001, event_name: 'level_start', ts_ms: T0 + i * 1000,
      event_date: '2026-11-20', event_hour: 10, day_of_week: 5, parameters: { level_id: i % 9 }, platform: 'ios',
      app_version: '1.0', country: null, region: null, city: null, device_model: null, device_category: null, device_tier: null,
      source_partition: 0, source_offset: i, is_paying_user: false, days_since_install: 0, properties: null,
    });
  });
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

function cp(nextOffset: number): Checkpoint {
  return { partition: 0, nextOffset, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events: nextOffset, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 };
}

async function warehouse(name: string, reopenRows: number): Promise<{ wh: DuckDbWarehouse; reopened: number[]; commit(n: number): Promise<void>; count(): Promise<number> }> {
  const reopened: number[] = [];
  const wh = new DuckDbWarehouse({ path: join(dir, `${name}.duckdb`), source: 's', maxEventBytes: 1 << 20, threads: 1, reopenRows, onReopen: (rows) => reopened.push(rows) });
  await wh.open();
  let offset = 0;
  const status = wh.connection('status');
  return {
    wh,
    reopened,
    commit: async (n) => {
      const events = eventsFile(`${name}-${offset}.ndjson`, offset, n);
      offset += n;
      await wh.commit({ files: [{ events, dlq: null, agg: null, aggUpdates: null }], checkpoints: [cp(offset)], engineWatermarkMs: null, endOfInput: false });
      await wh.betweenCommits();
    },
    count: () => status(async (c) => Number((await c.runAndReadAll('SELECT count(*) FROM events')).getRows()[0]![0])),
  };
}

describe('DuckDbWarehouse reopens DuckDB', () => {
  it('after the set number of events, between commits, keeping every row and every connection usable', async () => {
    const { wh, reopened, commit, count } = await warehouse('every', 1000);
    const etl = duckdbEtlWarehouse(wh.connection('etl'));
    const sql = duckDbReadOnlyRunner(wh.connection('sql'));
    await commit(600);
    expect(wh.reopens).toBe(0);
    expect(await count()).toBe(600);
    await commit(600);
    expect(wh.reopens).toBe(1);
    // Each connection works on the new instance, and sees what the old one committed.
    expect(await count()).toBe(1200);
    expect(await etl.query('SELECT count(*) AS n FROM events')).toEqual([{ n: 1200 }]);
    const r = await sql('SELECT count(*) AS n FROM events', { timeoutMs: 10_000, maxRows: 10 });
    expect(r.rows).toEqual([[1200]]);
    expect(await wh.memoryBytes()).toBeGreaterThanOrEqual(0);
    expect((await wh.loadCheckpoints('s')).get(0)?.nextOffset).toBe(1200);
    // The count starts again after a reopen.
    await commit(600);
    expect(wh.reopens).toBe(1);
    await commit(600);
    expect(wh.reopens).toBe(2);
    expect(reopened).toEqual([1200, 1200]);
    expect(await count()).toBe(2400);
    await wh.close();
  });

  it('waits while another connection is in use, and reopens at the next commit after', async () => {
    const { wh, commit, count } = await warehouse('busy', 500);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inUse = new Promise<void>((r) => (started = r));
    const etl = wh.connection('etl');
    const long = etl(async (c) => {
      await c.run('BEGIN TRANSACTION');
      const count = async (): Promise<number> => Number((await c.runAndReadAll('SELECT count(*) FROM events')).getRows()[0]![0]);
      const before = await count();
      started();
      await held;
      const after = await count();
      await c.run('COMMIT');
      return [before, after];
    });
    await inUse;
    await commit(600);
    await commit(10);
    // Not reopened under the open transaction, which still answers on its connection.
    expect(wh.reopens).toBe(0);
    release();
    // Its snapshot stayed the one it began with.
    expect(await long).toEqual([0, 0]);
    await commit(10);
    expect(wh.reopens).toBe(1);
    expect(await count()).toBe(620);
    await wh.close();
  });

  it('never, once a connection was handed out raw', async () => {
    const { wh, commit } = await warehouse('pinned', 100);
    const raw = await wh.connect();
    await commit(300);
    expect(wh.reopens).toBe(0);
    expect(Number((await raw.runAndReadAll('SELECT count(*) FROM events')).getRows()[0]![0])).toBe(300);
    raw.closeSync();
    await wh.close();
  });

  it('stops with an error that names the file when another process took its lock meanwhile', async () => {
    const path = join(dir, 'taken.duckdb');
    let holder: ChildProcess | null = null;
    // The other process takes the file in the moment it is closed, and keeps it longer than the reopen waits.
    const db = new ReopenableInstance(path, {}, 300, async () => {
      holder = spawn(process.execPath, ['--input-type=module', '-e',
        `import { DuckDBInstance } from '@duckdb/node-api'; const i = await DuckDBInstance.create(${JSON.stringify(path)}); await i.connect(); console.log('open'); setTimeout(() => {}, 60000);`,
      ], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => holder!.stdout!.once('data', () => resolve()));
    });
    await db.open();
    await db.use('main', (c) => c.run('CREATE TABLE t (i INTEGER)'));
    try {
      const err = await db.reopen().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'warehouse_unavailable' });
      expect((err as Error).message).toContain(`another process took the lock of ${path}`);
      expect((err as Error).message).toMatch(/restart the daemon, which resumes from its last commit/);
      await expect(db.use('main', (c) => c.run('SELECT 1'))).rejects.toMatchObject({ code: 'warehouse_unavailable' });
    } finally {
      const h = holder as ChildProcess | null;
      if (h) {
        const exited = new Promise((resolve) => h.once('exit', resolve));
        h.kill();
        await exited;
      }
    }
  });
});
