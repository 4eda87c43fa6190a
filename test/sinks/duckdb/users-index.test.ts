// The users table's key index lives in DuckDB's memory and grows with the players: a warehouse with more players
// than the configured limit has room for must go on committing (it failed every commit with DuckDB's
// out-of-memory error, and the daemon stopped). One DuckDB thread, as the daemon runs it by default.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { INDEX_BYTES_PER_USER } from '../../../src/sinks/duckdb/memory-limit.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-users-index-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MIB = 2 ** 20;
const LIMIT = 64 * MIB;
// About 88 MB of index at ~90 bytes a player, over the least limit allowed (64 MiB): more than it holds.
const PLAYERS = 1_000_000;
const PER_COMMIT = 50_000;

function usersFile(ids: string[], k: number): string {
  const f = join(dir, `u${k}.ndjson`);
  writeFileSync(f, ids.map((id) => `{"user_id":"${id}","install_ms":null,"first_seen_ms":${k},"first_paid_ms":null,"source_partition":${k % 4}}`).join('\n') + '\n');
  return f;
}

describe('DuckDB users table beyond the configured memory limit', () => {
  it('commits more players than GAMESTREAM_DUCKDB_MEMORY_LIMIT has room for, raising DuckDB\'s limit with them, and reads them back', async () => {
    const path = join(dir, 'many.duckdb');
    const some: string[] = [];
    let wh = new DuckDbWarehouse({ path, source: 'file:many', maxEventBytes: 1 << 20, threads: 1, memoryLimitBytes: LIMIT });
    await wh.open();
    try {
      expect(wh.memoryLimitBytes()).toBe(LIMIT);
      for (let k = 0; k < PLAYERS / PER_COMMIT; k++) {
        const ids = Array.from({ length: PER_COMMIT }, () => randomUUID());
        some.push(ids[0]!);
        await wh.commit({ files: [{ events: null, dlq: null, agg: null, aggUpdates: null, users: usersFile(ids, k) }], checkpoints: [], engineWatermarkMs: null, endOfInput: false });
        await wh.betweenCommits();
      }
      expect(await wh.countUsers()).toBe(PLAYERS);
      expect(wh.memoryLimitBytes()).toBeGreaterThanOrEqual(LIMIT + PLAYERS * INDEX_BYTES_PER_USER);
    } finally {
      await wh.close();
    }
    // Opened again: the limit fits the players already there before the first commit.
    wh = new DuckDbWarehouse({ path, source: 'file:many', maxEventBytes: 1 << 20, threads: 1, memoryLimitBytes: LIMIT });
    await wh.open();
    try {
      expect(wh.memoryLimitBytes()).toBeGreaterThanOrEqual(LIMIT + PLAYERS * INDEX_BYTES_PER_USER);
      const ids = Array.from({ length: PER_COMMIT }, () => randomUUID());
      await wh.commit({ files: [{ events: null, dlq: null, agg: null, aggUpdates: null, users: usersFile(ids, 99) }], checkpoints: [], engineWatermarkMs: null, endOfInput: false });
      const got = await wh.readUserStates([...some, ids[0]!]);
      expect(got.map((s) => s.userId).sort()).toEqual([...some, ids[0]!].sort());
      expect(await wh.countUsers()).toBe(PLAYERS + PER_COMMIT);
    } finally {
      await wh.close();
    }
  }, 120_000);
});
