/**
 * A fresh warehouse's events columns whose nature decides their compression are created with it (compression.ts):
 * DuckDB uses that method even where its own analysis would have chosen another, and the rest keep its choice.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-compression-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 20, 10);

/** Rows that DuckDB's analysis alone would compress otherwise: three event ids (a dictionary), a distinct platform per row (FSST). */
function eventsFile(n: number): string {
  const path = join(dir, 'events.ndjson');
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    rows.push(JSON.stringify({
      event_id: `00000000-0000-4000-a000-00000000000${i % 3}`, user_id: `u-${i % 3}`, session_id: 's-1', event_type: 1001, event_name: 'level_start',
      ts_ms: T0 + i, event_date: '2026-11-20', event_hour: 10, day_of_week: 5, parameters: null,
      platform: `platform-${(i * 2654435761) % 4294967296}-${i}`, app_version: '1.2.3', country: 'DE', region: 'Berlin', city: 'Berlin',
      device_model: 'iPhone14,2', device_category: 'phone', device_tier: 'high', source_partition: 0, source_offset: i,
      is_paying_user: false, days_since_install: 1, properties: null,
    }));
  }
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

describe('DuckDbWarehouse events compression', () => {
  it('creates the events columns with the compression their nature decides', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'w.duckdb'), source: 's', maxEventBytes: 1 << 20, threads: 1 });
    await wh.open();
    await wh.commit({ files: [{ events: eventsFile(20_000), dlq: null, agg: null, aggUpdates: null }], checkpoints: [], engineWatermarkMs: null, endOfInput: false });
    const conn = await wh.connect();
    await conn.run('CHECKPOINT');
    const rows = (await conn.runAndReadAll(`SELECT column_name, list(DISTINCT compression ORDER BY compression) FROM pragma_storage_info('events')
      WHERE segment_type <> 'VALIDITY' AND column_name IN ('event_id', 'platform', 'user_id') GROUP BY ALL ORDER BY 1`)).getRows();
    const byColumn = Object.fromEntries(rows.map(([c, l]) => [String(c), (l as { items: unknown[] }).items.map(String)]));
    expect(byColumn).toEqual({ event_id: ['FSST'], platform: ['Dictionary'], user_id: ['Dictionary'] });
    expect(Number((await conn.runAndReadAll("SELECT count(DISTINCT platform) FROM events WHERE platform LIKE 'platform-%'")).getRows()[0]![0])).toBe(20_000);
    conn.closeSync();
    await wh.close();
  });
});
