// The instance settings the daemon's configuration asks of DuckDB: what DuckDB itself then reports.
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/schema.ts';
import { duckDbSettings } from '../../../src/sinks/duckdb/settings.ts';

async function reported(settings: Record<string, string>): Promise<{ memoryLimit: string; threads: number; checkpointThreshold: string; allocatorBackgroundThreads: boolean }> {
  const inst = await DuckDBInstance.create(':memory:', settings);
  const conn = await inst.connect();
  try {
    const [row] = (await conn.runAndReadAll(`SELECT current_setting('memory_limit'), current_setting('threads'), current_setting('checkpoint_threshold'), current_setting('allocator_background_threads')`)).getRows();
    return { memoryLimit: String(row[0]), threads: Number(row[1]), checkpointThreshold: String(row[2]), allocatorBackgroundThreads: row[3] === true };
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

describe('DuckDB instance settings', () => {
  it('bound DuckDB\'s memory by GAMESTREAM_DUCKDB_MEMORY_LIMIT (128 MiB by default, not 80% of RAM)', async () => {
    const byDefault = loadConfig({ GAMESTREAM_WORKERS: '1' });
    expect(byDefault.duckdbMemoryLimit).toBe(128 * 1024 ** 2);
    // DuckDB prints sizes in its own units: 128 MiB is "128.0 MiB".
    expect(await reported(duckDbSettings({ threads: byDefault.duckdbThreads, memoryLimitBytes: byDefault.duckdbMemoryLimit }))).toEqual({ memoryLimit: '128.0 MiB', threads: 1, checkpointThreshold: '256.0 MiB', allocatorBackgroundThreads: true });
    const set = loadConfig({ GAMESTREAM_WORKERS: '1', GAMESTREAM_DUCKDB_MEMORY_LIMIT: '300MiB' });
    expect((await reported(duckDbSettings({ memoryLimitBytes: set.duckdbMemoryLimit }))).memoryLimit).toBe('300.0 MiB');
  });

  it('leave DuckDB\'s own checkpoint at four times the size at which the daemon checkpoints between commits', async () => {
    expect((await reported(duckDbSettings({ checkpointWalBytes: 256 << 10 }))).checkpointThreshold).toBe('1.0 MiB');
  });

  it('let DuckDB\'s allocator return the pages a load freed in the background, not at its next allocation', async () => {
    expect((await reported(duckDbSettings({}))).allocatorBackgroundThreads).toBe(true);
  });

  it('refuse a limit DuckDB could not load with, naming the variable', () => {
    expect(() => loadConfig({ GAMESTREAM_WORKERS: '1', GAMESTREAM_DUCKDB_MEMORY_LIMIT: '16MiB' })).toThrow(/GAMESTREAM_DUCKDB_MEMORY_LIMIT.*16MiB/);
  });
});
