/**
 * DuckDB's checkpoint, run between commits rather than inside one: DuckDB's own runs in the COMMIT that takes its
 * write-ahead log past the threshold, for over a second at 50k events/s, while that commit's rows wait.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/contract/checkpoint.ts';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 20, 10);
const THRESHOLD = 256 << 10;

function eventsFile(name: string, from: number, n: number): string {
  const path = join(dir, name);
  const rows = Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const ts = T0 + i * 1000;
    return JSON.stringify({
      event_id: `e-${i}`, user_id: `u${i % 50}`, session_id: `s${i % 7}`, event_type: 1001, event_name: 'level_start', ts_ms: ts,
      event_date: '2026-11-20', event_hour: 10, day_of_week: 5, parameters: { level_id: i % 9, note: `n${i}`.repeat(20) }, platform: 'ios',
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

const walBytes = (path: string): number => (existsSync(`${path}.wal`) ? statSync(`${path}.wal`).size : 0);

describe('DuckDbWarehouse checkpoints', () => {
  it('leave a commit that crosses the threshold as it is, and run between commits once it is crossed', async () => {
    const path = join(dir, 'w.duckdb');
    const wh = new DuckDbWarehouse({ path, source: 's', maxEventBytes: 1 << 20, threads: 1, checkpointWalBytes: THRESHOLD });
    await wh.open();
    await wh.betweenCommits();
    let offset = 0;
    const commit = async (w: DuckDbWarehouse, n: number): Promise<void> => {
      const events = eventsFile(`e${offset}.ndjson`, offset, n);
      offset += n;
      await w.commit({ files: [{ events, dlq: null, agg: null, aggUpdates: null }], checkpoints: [cp(offset)], engineWatermarkMs: null, endOfInput: false });
    };
    // Small commits: below the threshold nothing is checkpointed.
    await commit(wh, 50);
    const small = walBytes(path);
    expect(small).toBeGreaterThan(0);
    await wh.betweenCommits();
    expect(walBytes(path)).toBe(small);
    // Commits until the log has passed the threshold: the commit that passes it does not checkpoint.
    while (walBytes(path) < THRESHOLD) await commit(wh, 1000);
    expect(walBytes(path)).toBeLessThan(4 * THRESHOLD);
    // Another connection writing does not stop it.
    const other = await wh.connect();
    await other.run('CREATE TABLE scratch (i INTEGER)');
    await other.run('BEGIN TRANSACTION');
    await other.run('INSERT INTO scratch VALUES (1)');
    await wh.betweenCommits();
    expect(walBytes(path)).toBeLessThan(small);
    await other.run('ROLLBACK');
    other.closeSync();
    const count = async (w: DuckDbWarehouse): Promise<number> => {
      const c = await w.connect();
      try {
        return Number((await c.runAndReadAll('SELECT count(*) FROM events')).getRows()[0]![0]);
      } finally {
        c.closeSync();
      }
    };
    expect(await count(wh)).toBe(offset);
    await wh.close();
    // The same on a file opened again, as a restarted daemon has it.
    const again = new DuckDbWarehouse({ path, source: 's', maxEventBytes: 1 << 20, threads: 1, checkpointWalBytes: THRESHOLD });
    await again.open();
    expect((await again.loadCheckpoints('s')).get(0)?.nextOffset).toBe(offset);
    const before = walBytes(path);
    while (walBytes(path) < THRESHOLD) await commit(again, 1000);
    await again.betweenCommits();
    expect(walBytes(path)).toBeLessThanOrEqual(before);
    expect(await count(again)).toBe(offset);
    await again.close();
  });
});
