/**
 * A damaged DuckDB file (truncated, or blocks overwritten) is reported as `warehouse_corrupt` with what to do,
 * whichever call meets the damage first, and is not retried: retrying cannot repair a file.
 */
import { copyFileSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { makeEventsFile } from '../../../bench/make-events.ts';
import { runEngine } from '../../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-corrupt-'));
const good = join(dir, 'good.duckdb');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const input = join(dir, 'events.ndjson');
  await makeEventsFile(input, 20_000, 3);
  const r = await runEngine({ GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: `duckdb:${good}` }, 60_000);
  expect(r.code, r.stderr).toBe(0);
}, 90_000);

/** Opens the warehouse and reads what a start reads; the first error, or null. */
async function firstError(path: string): Promise<{ code?: string; retryable?: boolean; message: string } | null> {
  const wh = new DuckDbWarehouse({ path, source: 'any', maxEventBytes: 1 << 20 });
  try {
    await wh.open();
    await wh.loadCheckpoints('any');
    await wh.committedPositions();
    return null;
  } catch (err) {
    return err as { code?: string; retryable?: boolean; message: string };
  } finally {
    await wh.close().catch(() => undefined);
  }
}

describe('a damaged DuckDB warehouse', () => {
  it('truncated: warehouse_corrupt, naming the file and what to do', async () => {
    const path = join(dir, 'truncated.duckdb');
    copyFileSync(good, path);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const err = await firstError(path);
    expect(err?.code, err?.message).toBe('warehouse_corrupt');
    expect(err?.retryable).toBeFalsy();
    expect(err?.message).toContain(path);
    expect(err?.message).toMatch(/backup/);
  });

  it('blocks overwritten: warehouse_corrupt', async () => {
    const path = join(dir, 'scribbled.duckdb');
    copyFileSync(good, path);
    const size = statSync(path).size;
    const fd = openSync(path, 'r+');
    // Past the file headers (3 × 4 KiB), garbage in every 256 KiB block.
    for (let at = 12_288 + 100; at < size; at += 262_144) writeSync(fd, Buffer.alloc(2000, 0x5a), 0, 2000, at);
    closeSync(fd);
    const err = await firstError(path);
    expect(err?.code, err?.message).toBe('warehouse_corrupt');
    expect(err?.message).toContain(path);
  });

  it('an intact copy still opens (the test damages only what it means to)', async () => {
    const path = join(dir, 'intact.duckdb');
    copyFileSync(good, path);
    expect(await firstError(path)).toBeNull();
  });
});
