// Reading user states from BigQuery: a worker's read covers its whole batch, so it goes out in queries of at most
// 2,048 ids, which keeps each query's text within BigQuery's limit whatever the ids' length.
import { describe, expect, it } from 'vitest';
import { readUserStates, type IdReads } from '../../../src/sinks/bigquery/id-reads.ts';

describe('readUserStates (BigQuery)', () => {
  it('asks for at most 2,048 ids a query and returns the states of all of them', async () => {
    const queries: string[] = [];
    const r = {
      ds: '`p.d`',
      query: async (sql: string) => {
        queries.push(sql);
        const ids = [...sql.matchAll(/"(u-\d+)"/g)].map((m) => m[1]!);
        return ids.filter((id) => Number(id.slice(2)) % 2 === 0).map((user_id) => ({ user_id, install_ms: null, first_seen_ms: 5, first_paid_ms: null }));
      },
    } as unknown as IdReads;
    const ids = Array.from({ length: 5000 }, (_, i) => `u-${i}`);
    const got = await readUserStates(r, ids);
    expect(queries.map((q) => [...q.matchAll(/"u-\d+"/g)].length)).toEqual([2048, 2048, 904]);
    expect(queries.every((q) => q.length < 1_000_000)).toBe(true);
    expect(got).toHaveLength(2500);
    expect(got[0]).toEqual({ userId: 'u-0', installMs: null, firstSeenMs: 5, firstPaidMs: null });
    expect(await readUserStates(r, [])).toEqual([]);
    expect(queries).toHaveLength(3);
  });
});
