/**
 * bench/duckdb-load.ts on a small file: it must load every events row the pipeline wrote, once, at each commit
 * size, and report the cost. It times nothing here; only that it runs and loads what it says.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { duckdbLoadBench } from '../../bench/duckdb-load.ts';
import { makeEventsFile } from '../../bench/make-events.ts';

const work = mkdtempSync(join(tmpdir(), 'gamestream-duckdb-load-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('bench/duckdb-load.ts', () => {
  it('loads the pipeline\'s events rows in commits of the given sizes, each row once', async () => {
    const file = join(work, 'events.ndjson');
    await makeEventsFile(file, 2000, 7);
    const results = await duckdbLoadBench([300, 'all'], file);
    expect(results.map((r) => r.rowsPerCommit)).toEqual([300, 'all']);
    const [small, all] = results;
    // The generator makes 1% defective records and 1% client retries: what is left are the pipeline's rows.
    expect(small!.rows).toBeGreaterThan(1900);
    expect(small!.rows).toBeLessThan(2000);
    expect(small!.commits).toBe(Math.ceil(small!.rows / 300));
    expect(all!.commits).toBe(1);
    for (const r of results) {
      expect(r.loadedRows).toBe(r.rows);
      expect(r.cpuMicrosPerRow).toBeGreaterThan(0);
      expect(r.peakRssMb).toBeGreaterThan(0);
    }
  }, 120_000);
});
