import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RowBuffer } from '../../src/sinks/row-files.ts';
import type { StoredUserState } from '../../src/users/state.ts';
import { UserCache } from '../../src/users/user-cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-user-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rowsOf(buf: RowBuffer): Record<string, unknown>[] {
  const f = join(dir, `rows-${Math.random()}.ndjson`);
  buf.writeTo(f);
  return readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('UserCache', () => {
  it('reads the users it lacks in one request, and only those', () => {
    const asked: string[][] = [];
    const stored: StoredUserState[] = [{ userId: 'old', installMs: 1, firstSeenMs: 1, firstPaidMs: 5 }];
    const c = new UserCache(10, (ids) => (asked.push(ids), stored.filter((s) => ids.includes(s.userId))));
    c.fetch(['old', 'new', 'old'], 0);
    expect(asked).toEqual([['old', 'new']]);
    expect(c.get('old')).toEqual({ installMs: 1, firstSeenMs: 1, firstPaidMs: 5 });
    expect(c.get('new')).toBeNull();
    c.set('new', { installMs: null, firstSeenMs: 9, firstPaidMs: null }, 0);
    c.fetch(['old', 'new'], 0);
    expect(asked).toHaveLength(1);
  });

  it('writes each changed user once per flush', () => {
    const c = new UserCache(10, () => []);
    c.set('a', { installMs: null, firstSeenMs: 9, firstPaidMs: null }, 3);
    c.set('a', { installMs: null, firstSeenMs: 8, firstPaidMs: null }, 3);
    const buf = new RowBuffer();
    c.flushTo(buf, 1);
    expect(rowsOf(buf)).toEqual([{ user_id: 'a', install_ms: null, first_seen_ms: 8, first_paid_ms: null, source_partition: 3 }]);
    c.flushTo(buf, 2);
    expect(buf.rows).toBe(0);
  });

  it('keeps a user whose change is not committed yet, however full it is', () => {
    const c = new UserCache(2, () => []);
    const buf = new RowBuffer();
    c.fetch(['a', 'b', 'c'], 0);
    for (const id of ['a', 'b', 'c']) c.set(id, { installMs: null, firstSeenMs: 1, firstPaidMs: null }, 0);
    c.flushTo(buf, 1);
    c.fetch(['d'], 0);
    c.set('d', { installMs: null, firstSeenMs: 1, firstPaidMs: null }, 0);
    expect(c.size).toBe(4); // flush 1 is not committed: nobody may leave
    c.committed(1);
    c.fetch(['e'], 0); // a batch starts: room is made now, oldest first, as far as commits allow
    c.set('e', { installMs: null, firstSeenMs: 1, firstPaidMs: null }, 0);
    expect(c.has('a') || c.has('b')).toBe(false);
    expect(c.has('c') && c.has('d') && c.has('e')).toBe(true);
    expect(c.size).toBe(3); // the capacity, plus the batch's new user
  });

  it('lets nobody leave during a batch, so a user it has seen is never taken for a new one', () => {
    const stored = ['a', 'b', 'c'].map((userId) => ({ userId, installMs: null, firstSeenMs: 7, firstPaidMs: null }));
    const c = new UserCache(1, (ids) => stored.filter((s) => ids.includes(s.userId)));
    c.fetch(['a', 'b', 'c'], 0);
    for (const id of ['x', 'y', 'z']) c.set(id, { installMs: null, firstSeenMs: 9, firstPaidMs: null }, 0);
    expect(['a', 'b', 'c'].map((id) => c.get(id)?.firstSeenMs)).toEqual([7, 7, 7]);
    expect(c.size).toBe(6);
    c.fetch([], 0); // the next batch: the read ones leave (x, y, z wait for their flush's commit)
    expect(c.size).toBe(3);
    expect(c.has('a')).toBe(false);
  });

  it('forgets a partition\'s users, so that they are read again', () => {
    let reads = 0;
    const c = new UserCache(10, () => (reads++, []));
    c.set('a', { installMs: null, firstSeenMs: 1, firstPaidMs: null }, 4);
    c.set('b', { installMs: null, firstSeenMs: 1, firstPaidMs: null }, 5);
    c.dropPartition(4);
    expect(c.has('a')).toBe(false);
    c.fetch(['a', 'b'], 4);
    expect(reads).toBe(1);
    const buf = new RowBuffer();
    c.flushTo(buf, 1);
    expect(rowsOf(buf).map((r) => r.user_id)).toEqual(['b']);
  });
});
