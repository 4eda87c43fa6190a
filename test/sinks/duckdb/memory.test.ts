// The DuckDB warehouse's memory figure, for the gauge gamestream_duckdb_memory_bytes: what DuckDB's buffer manager
// holds over every connection, read on a connection of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-duckdb-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DuckDbWarehouse.memoryBytes', () => {
  it('reports the table data DuckDB holds, whichever connection wrote it, and fails with warehouse_unavailable once closed', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'm.duckdb'), source: 'test', maxEventBytes: 1 << 20 });
    await wh.open();
    const before = await wh.memoryBytes();
    const other = await wh.connect();
    // About 16 MB of uncompressed integers, held by the buffer manager until written out and evicted.
    await other.run('CREATE TEMP TABLE t AS SELECT range AS a, range * 2 AS b FROM range(1000000)');
    const after = await wh.memoryBytes();
    expect(after - before).toBeGreaterThan(8e6);
    other.closeSync();
    await wh.close();
    await expect(wh.memoryBytes()).rejects.toMatchObject({ code: 'warehouse_unavailable' });
  });
});
