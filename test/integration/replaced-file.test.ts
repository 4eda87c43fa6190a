/**
 * A file resumed under the same name must be the file the warehouse read: one replaced by another (a daily export
 * written over yesterday's), or by a shorter one, is refused with input_changed instead of being read from the
 * checkpoint's offsets as if it had grown, which stored only the records past them and silently skipped the rest.
 * And it must be read with the settings its windows were cut by.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRun, runEngine } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gamestream-replaced-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `count` valid events with ids `<tag>-<i>`, from 40 players, a second apart on the day given. */
function events(tag: string, from: number, count: number, day: string): string {
  const t0 = Date.parse(`${day}T10:00:00Z`);
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return JSON.stringify({ id: `${tag}-${i}`, user_id: `player-${i % 40}`, timestamp: new Date(t0 + i * 1000).toISOString(), type: 1001, parameters: { level_id: 1 + (i % 5) } });
  }).join('\n') + '\n';
}

async function ids(warehouse: string): Promise<string[]> {
  const inst = await DuckDBInstance.create(warehouse, { access_mode: 'READ_ONLY' });
  const conn = await inst.connect();
  try {
    const r = await conn.runAndReadAll('SELECT event_id FROM events ORDER BY event_id');
    return r.getRows().map((row) => String(row[0]));
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

describe('a file replaced under the same name', { timeout: 120_000 }, () => {
  const file = join(dir, 'export.ndjson');
  const wh = join(dir, 'wh.duckdb');
  const settings = { GAMESTREAM_SOURCE: `file:${file}`, GAMESTREAM_WAREHOUSE: `duckdb:${wh}`, GAMESTREAM_ETL: 'off', GAMESTREAM_PARTITIONS: '8' };
  const day1 = events('day1', 0, 2000, '2026-12-05');

  it('is refused, naming the change, when its records differ from those the warehouse read, and when it is shorter', async () => {
    writeFileSync(file, day1);
    const first = await runEngine(settings);
    expect(first.code, describeRun(first)).toBe(0);
    const stored = await ids(wh);
    expect(stored).toHaveLength(2000);

    // Another day's export written over it: more records, none of them the same.
    writeFileSync(file, events('day2', 0, 3000, '2026-12-06'));
    const replaced = await runEngine(settings);
    expect(replaced.code, describeRun(replaced)).toBe(1);
    expect(replaced.stderr + replaced.stdout).toMatch(/input_changed: file:.*export\.ndjson is not the input the warehouse read: record \d+ of partition \d+/);
    expect(await ids(wh)).toEqual(stored);

    // The first half of the file the warehouse read: every record the same, but it ends before the checkpoints.
    writeFileSync(file, events('day1', 0, 1000, '2026-12-05'));
    const cut = await runEngine(settings);
    expect(cut.code, describeRun(cut)).toBe(1);
    expect(cut.stderr + cut.stdout).toMatch(/input_changed: file:.*export\.ndjson ends before the warehouse's checkpoint: partition \d+ has \d+ records, the warehouse read \d+/);
    expect(await ids(wh)).toEqual(stored);
  });

  it('resumes the file the warehouse read as before: put back and grown, it adds exactly what was appended', async () => {
    writeFileSync(file, day1);
    appendFileSync(file, events('day1', 2000, 500, '2026-12-05'));
    const grown = await runEngine(settings);
    expect(grown.code, describeRun(grown)).toBe(0);
    expect(await ids(wh)).toHaveLength(2500);
  });
});

describe('a file resumed with another window size', { timeout: 120_000 }, () => {
  it('is refused at the start, naming the setting and the size of the earlier runs, and the windows stay as they were', async () => {
    const file = join(dir, 'sized.ndjson');
    const wh = join(dir, 'sized.duckdb');
    const settings = { GAMESTREAM_SOURCE: `file:${file}`, GAMESTREAM_WAREHOUSE: `duckdb:${wh}`, GAMESTREAM_ETL: 'off', GAMESTREAM_PARTITIONS: '8' };
    writeFileSync(file, events('w', 0, 3000, '2026-12-05'));
    const first = await runEngine(settings);
    expect(first.code, describeRun(first)).toBe(0);
    const windows = async (): Promise<string> => {
      const inst = await DuckDBInstance.create(wh, { access_mode: 'READ_ONLY' });
      const conn = await inst.connect();
      try {
        return JSON.stringify((await conn.runAndReadAll('SELECT count(*), sum(event_count) FROM events_agg_1min')).getRows(), (_, v) => (typeof v === 'bigint' ? Number(v) : v));
      } finally {
        conn.closeSync();
        inst.closeSync();
      }
    };
    const before = await windows();
    appendFileSync(file, events('w', 3000, 100, '2026-12-05'));
    const resized = await runEngine({ ...settings, GAMESTREAM_WINDOW_SIZE: '120s' });
    expect(resized.code, describeRun(resized)).toBe(2);
    expect(resized.stderr + resized.stdout).toContain('GAMESTREAM_WINDOW_SIZE is 120s, but the warehouse\'s windows of file:');
    expect(resized.stderr + resized.stdout).toContain('set GAMESTREAM_WINDOW_SIZE=60s');
    expect(await windows()).toBe(before);
  });
});
