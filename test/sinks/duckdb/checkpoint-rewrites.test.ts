/**
 * A steady stream of commits smaller than a row group, as the daemon makes at tens of thousands of events a
 * second: its checkpoints must not leave the events table with row groups that DuckDB merges (reads back and
 * compresses again) at a later checkpoint. DuckDB logs each such merge as a `vacuum` of the table.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/contract/checkpoint.ts';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { ROW_GROUP_ROWS } from '../../../src/sinks/duckdb/checkpoint-policy.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-rewrites-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 20, 10);

function eventsFile(from: number, n: number): string {
  const path = join(dir, `e${from}.ndjson`);
  const rows: string[] = [];
  for (let i = from; i < from + n; i++) {
    rows.push(JSON.stringify({
      event_id: `00000000-0000-4000-a000-${String(i).padStart(12, '0')}`, user_id: `u-${(i * 7919) % 5000}`, session_id: `s-${Math.floor(i / 30)}`,
      event_type: 1001 + (i % 3), event_name: 'level_start', ts_ms: T0 + i * 20, event_date: '2026-11-20', event_hour: 10, day_of_week: 5,
      parameters: { level_id: i % 200, moves_used: i % 31, boosters_used: [] }, platform: i % 2 ? 'ios' : 'android', app_version: '1.2.3',
      country: 'DE', region: 'Berlin', city: 'Berlin', device_model: 'iPhone14,2', device_category: 'phone', device_tier: 'high',
      source_partition: i % 64, source_offset: i, is_paying_user: i % 25 === 0, days_since_install: i % 30, properties: null,
    }));
  }
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

function cp(nextOffset: number): Checkpoint {
  return { partition: 0, nextOffset, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events: nextOffset, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 };
}

describe('DuckDbWarehouse checkpoints under steady commits', () => {
  it('leave no row group of the events table for DuckDB to merge and write again', async () => {
    const path = join(dir, 'w.duckdb');
    const wh = new DuckDbWarehouse({ path, source: 's', maxEventBytes: 1 << 20, threads: 1 });
    await wh.open();
    const log = await wh.connect();
    await log.run("CALL enable_logging(level = 'debug')");
    let offset = 0;
    // 45,000 rows a commit: about a commit's worth at 50-60k events/s. Each call of betweenCommits is where the
    // daemon's committer would call it.
    const perCommit = 45_000;
    while (offset < 5 * ROW_GROUP_ROWS) {
      const events = eventsFile(offset, perCommit);
      offset += perCommit;
      await wh.commit({ files: [{ events, dlq: null, agg: null, aggUpdates: null }], checkpoints: [cp(offset)], engineWatermarkMs: null, endOfInput: false });
      unlinkSync(events);
      await wh.betweenCommits();
    }
    const rows = async (sql: string): Promise<unknown[][]> => (await log.runAndReadAll(sql)).getRows();
    const checkpoints = await rows(`SELECT message FROM duckdb_logs WHERE type = 'Checkpoint' AND message LIKE '%''table'': events,%'`);
    const merges = checkpoints.map((r) => String(r[0])).filter((m) => m.includes("'type': vacuum"));
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(merges).toEqual([]);
    // Every row group it has written is at least three quarters full.
    const groups = await rows(`SELECT row_group_id, max(start + count) - min(start) FROM pragma_storage_info('events') WHERE column_id = 0 AND persistent GROUP BY ALL ORDER BY 1`);
    expect(groups.length).toBeGreaterThan(2);
    for (const [, n] of groups) expect(Number(n)).toBeGreaterThanOrEqual((3 * ROW_GROUP_ROWS) / 4);
    expect(Number((await rows('SELECT count(*) FROM events'))[0]![0])).toBe(offset);
    log.closeSync();
    await wh.close();
  }, 120_000);
});
