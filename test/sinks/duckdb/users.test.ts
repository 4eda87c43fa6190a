/** The users table: merged in the commit's transaction, earliest time wins, read back by id and by partition. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-users-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function usersFile(rows: object[]): string {
  const f = join(dir, `u${n++}.ndjson`);
  writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return f;
}

const commit = (wh: DuckDbWarehouse, users: string) =>
  wh.commit({ files: [{ events: null, dlq: null, agg: null, aggUpdates: null, users }], checkpoints: [], engineWatermarkMs: null, endOfInput: false });

describe('DuckDB users table', () => {
  it('merges each commit\'s states, the earliest of each time winning, and takes the same commit twice unchanged', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'a.duckdb'), source: 'file:a', maxEventBytes: 1 << 20 });
    await wh.open();
    try {
      await commit(wh, usersFile([
        { user_id: 'a', install_ms: null, first_seen_ms: 5000, first_paid_ms: null, source_partition: 1 },
        { user_id: 'b', install_ms: 100, first_seen_ms: 100, first_paid_ms: 900, source_partition: 2 },
      ]));
      const later = usersFile([
        { user_id: 'a', install_ms: 7000, first_seen_ms: 3000, first_paid_ms: 8000, source_partition: 1 },
        { user_id: 'b', install_ms: null, first_seen_ms: 200, first_paid_ms: 950, source_partition: 2 },
      ]);
      await commit(wh, later);
      await commit(wh, later);
      const got = await wh.readUserStates(['a', 'b', 'nobody']);
      expect(got.sort((x, y) => x.userId.localeCompare(y.userId))).toEqual([
        { userId: 'a', installMs: 7000, firstSeenMs: 3000, firstPaidMs: 8000 },
        { userId: 'b', installMs: 100, firstSeenMs: 100, firstPaidMs: 900 },
      ]);
      expect(await wh.countUsers()).toBe(2);
      const all: string[] = [];
      await wh.readUserIds(null, (ids) => all.push(...ids));
      expect(all.sort()).toEqual(['a', 'b']);
      const some: string[] = [];
      await wh.readUserIds({ source: 'file:a', partitions: [2] }, (ids) => some.push(...ids));
      expect(some).toEqual(['b']);
      // A restore brings each partition's players, most recently changed first, as many as asked for.
      const cp = (partition: number) => ({ partition, nextOffset: 1, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 });
      await commit(wh, usersFile([{ user_id: 'c', install_ms: null, first_seen_ms: 1, first_paid_ms: null, source_partition: 2 }]));
      const restores = await wh.loadRestore('file:a', [cp(1), cp(2)], { windowSizeMs: 60_000, usersPerPartition: 1 });
      expect(restores.map((r) => [r.checkpoint.partition, r.users])).toEqual([
        [1, [{ userId: 'a', installMs: 7000, firstSeenMs: 3000, firstPaidMs: 8000 }]],
        [2, [{ userId: 'c', installMs: null, firstSeenMs: 1, firstPaidMs: null }]],
      ]);
      expect((await wh.loadRestore('file:a', [cp(1)], { windowSizeMs: 60_000 }))[0]!.users).toBeUndefined();
    } finally {
      await wh.close();
    }
  });

  it('reads more users than one query asks for (2,048), each once', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'many.duckdb'), source: 'file:a', maxEventBytes: 1 << 20 });
    await wh.open();
    try {
      const ids = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
      await commit(wh, usersFile(ids.map((user_id, i) => ({ user_id, install_ms: null, first_seen_ms: i, first_paid_ms: null, source_partition: i % 8 }))));
      const ask = [...ids.slice(0, 3000), ...Array.from({ length: 1500 }, (_, i) => `nobody-${i}`)];
      const got = await wh.readUserStates(ask);
      expect(got).toHaveLength(3000);
      expect(new Set(got.map((s) => s.userId)).size).toBe(3000);
      expect(got.find((s) => s.userId === 'user-2999')).toEqual({ userId: 'user-2999', installMs: null, firstSeenMs: 2999, firstPaidMs: null });
    } finally {
      await wh.close();
    }
  });

  it('fits its memory limit to the players inside the commit\'s transaction: a failure there rolls the commit back, so a retry adds it once', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'fit.duckdb'), source: 'file:a', maxEventBytes: 1 << 20, memoryLimitBytes: 128 * 2 ** 20 });
    await wh.open();
    try {
      const rows = (ids: string[]) => usersFile(ids.map((user_id) => ({ user_id, install_ms: null, first_seen_ms: 1, first_paid_ms: null, source_partition: 0 })));
      const f = rows(['p1', 'p2']);
      const count = wh.countUsers.bind(wh);
      let fail = true;
      wh.countUsers = async () => {
        if (fail) {
          fail = false;
          throw new Error('count failed');
        }
        return count();
      };
      await expect(commit(wh, f)).rejects.toThrow('count failed');
      expect(await count()).toBe(0);
      await commit(wh, f);
      expect(await count()).toBe(2);
    } finally {
      await wh.close();
    }
  });

  it('adds the user-state columns to an events table made before them', async () => {
    const path = join(dir, 'old.duckdb');
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const inst = await DuckDBInstance.create(path);
    const c = await inst.connect();
    await c.run(`CREATE TABLE events (event_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, session_id VARCHAR, event_type BIGINT NOT NULL,
      event_name VARCHAR, "timestamp" TIMESTAMP NOT NULL, event_date DATE NOT NULL, event_hour INTEGER NOT NULL, day_of_week INTEGER NOT NULL,
      parameters JSON, platform VARCHAR, app_version VARCHAR, country VARCHAR, region VARCHAR, city VARCHAR, device_model VARCHAR,
      device_category VARCHAR, device_tier VARCHAR, source VARCHAR NOT NULL, source_partition INTEGER NOT NULL, source_offset BIGINT NOT NULL)`);
    c.closeSync();
    inst.closeSync();
    const wh = new DuckDbWarehouse({ path, source: 'file:a', maxEventBytes: 1 << 20 });
    await wh.open();
    try {
      const ev = join(dir, 'ev.ndjson');
      writeFileSync(ev, JSON.stringify({ event_id: 'e', user_id: 'u', session_id: null, event_type: 1, event_name: null, ts_ms: 0, event_date: '1970-01-01',
        event_hour: 0, day_of_week: 3, parameters: {}, platform: null, app_version: null, country: null, region: null, city: null, device_model: null,
        device_category: null, device_tier: null, source_partition: 0, source_offset: 0, is_paying_user: true, days_since_install: 4 }) + '\n');
      await wh.commit({ files: [{ events: ev, dlq: null, agg: null, aggUpdates: null }], checkpoints: [], engineWatermarkMs: null, endOfInput: false });
    } finally {
      await wh.close();
    }
    const inst2 = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    const c2 = await inst2.connect();
    expect((await c2.runAndReadAll('SELECT is_paying_user, days_since_install FROM events')).getRows()).toEqual([[true, 4]]);
    c2.closeSync();
    inst2.closeSync();
  });
});

describe('DuckDB user-state reads', () => {
  it('answer reads that come at once from several worker threads (one connection runs one query at a time)', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'concurrent.duckdb'), source: 'file:a', maxEventBytes: 1 << 20 });
    await wh.open();
    try {
      await commit(wh, usersFile(Array.from({ length: 50 }, (_, i) => ({ user_id: `u${i}`, install_ms: null, first_seen_ms: i, first_paid_ms: null, source_partition: i % 4 }))));
      const reads = Array.from({ length: 40 }, (_, i) => wh.readUserStates([`u${i}`, `u${i + 1}`, 'nobody']));
      const all = await Promise.race([Promise.all(reads), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
      expect(all).not.toBe('hung');
      expect((all as { userId: string }[][]).map((r) => r.length)).toEqual(Array.from({ length: 40 }, (_, i) => (i + 1 < 50 ? 2 : 1)));
    } finally {
      await wh.close();
    }
  });
});
