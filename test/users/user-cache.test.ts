import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RowBuffer } from '../../src/sinks/row-files.ts';
import type { StoredUserState } from '../../src/users/state.ts';
import { UserCache } from '../../src/users/user-cache.ts';
import { KnownUsers } from '../../src/users/known-users.ts';
import { StringMap } from '../../src/string-map.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-user-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rowsOf(buf: RowBuffer): Record<string, unknown>[] {
  const f = join(dir, `rows-${Math.random()}.ndjson`);
  buf.writeTo(f);
  return readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const S = (firstSeenMs: number) => ({ installMs: null, firstSeenMs, firstPaidMs: null });
const held = (c: UserCache, id: string) => c.get(id) !== undefined;

describe('UserCache', () => {
  it('reads the users it lacks in one request, and holds one the warehouse lacks as "none", so it is not read again', () => {
    const asked: string[][] = [];
    const stored: StoredUserState[] = [{ userId: 'old', installMs: 1, firstSeenMs: 1, firstPaidMs: 5 }];
    const c = new UserCache(10, (ids) => (asked.push(ids), stored.filter((s) => ids.includes(s.userId))));
    c.fetch(['old', 'new', 'old'], 0);
    expect(asked).toEqual([['old', 'new']]);
    expect(c.get('old')).toEqual({ installMs: 1, firstSeenMs: 1, firstPaidMs: 5 });
    expect(c.get('new')).toBeNull();
    expect(c.get('never-asked')).toBeUndefined();
    c.fetch(['old', 'new'], 0);
    expect(asked).toHaveLength(1);
  });

  it('asks only about users the filter says the warehouse may have', () => {
    const known = KnownUsers.forUsers(10);
    known.add('stored');
    const c = new UserCache(10, () => [], known);
    expect(c.mayBeStored('stored')).toBe(true);
    expect(c.mayBeStored('brand-new')).toBe(false);
    expect(new UserCache(10, () => []).mayBeStored('anyone')).toBe(true);
  });

  it('writes each changed user once per flush, and tells which are new to the warehouse', () => {
    const c = new UserCache(10, () => []);
    c.fetch(['read-none'], 3);
    c.set('a', S(9), 3);
    c.set('a', S(8), 3);
    c.set('read-none', S(7), 3);
    const buf = new RowBuffer();
    expect(c.flushTo(buf, 1).sort()).toEqual(['a', 'read-none']);
    expect(rowsOf(buf)).toEqual([
      { user_id: 'a', install_ms: null, first_seen_ms: 8, first_paid_ms: null, source_partition: 3 },
      { user_id: 'read-none', install_ms: null, first_seen_ms: 7, first_paid_ms: null, source_partition: 3 },
    ]);
    c.set('a', S(5), 3); // changed again: written again, but not new any more
    expect(c.flushTo(buf, 2)).toEqual([]);
    expect(buf.rows).toBe(1);
  });

  it('lets a user leave only once its latest state is committed, oldest first, when a read makes room', () => {
    const c = new UserCache(2, () => []);
    const buf = new RowBuffer();
    for (const id of ['a', 'b', 'c']) c.set(id, S(1), 0);
    c.flushTo(buf, 1);
    c.fetch(['d'], 0);
    c.set('d', S(1), 0);
    expect(c.size).toBe(4); // flush 1 is not committed: nobody may leave
    c.committed(1);
    c.fetch(['e'], 0);
    expect(held(c, 'a') || held(c, 'b')).toBe(false);
    expect(held(c, 'c') && held(c, 'd') && held(c, 'e')).toBe(true);
  });

  it('makes room without passing over the entries that wait for their commit, one read after another', () => {
    // Far more players waiting for a commit than the cache holds: the case of a game with more players than the
    // cache, where every batch reads some. Eviction used to walk past all of them at every read.
    const c = new UserCache(10, (ids) => ids.map((id) => ({ userId: id, installMs: null, firstSeenMs: 1, firstPaidMs: null })));
    for (let i = 0; i < 5000; i++) c.set(`new${i}`, S(1), 0);
    c.flushTo(new RowBuffer(), 1);
    const walked = vi.spyOn(StringMap.prototype, Symbol.iterator);
    const walkedEntries = vi.spyOn(StringMap.prototype, 'entries');
    for (let r = 0; r < 200; r++) c.fetch([`old${r}`], 0);
    expect(walked).not.toHaveBeenCalled();
    expect(walkedEntries).not.toHaveBeenCalled();
    // Nobody may leave before the commit but the users read, which hold nothing back: 5,000 waiting and the
    // last read in.
    expect(c.size).toBeLessThanOrEqual(5002);
    expect(held(c, 'old199') && held(c, 'new0') && held(c, 'new4999')).toBe(true);
    walked.mockRestore();
    walkedEntries.mockRestore();
    // Once committed, the oldest to have become free leave first: the users read, then the flush's.
    c.committed(1);
    expect(c.size).toBe(10);
    expect(held(c, 'new4999') && held(c, 'new4990')).toBe(true);
    expect(held(c, 'old199') || held(c, 'new0')).toBe(false);
  });

  it('forgets a partition\'s users, so that they are read again', () => {
    let reads = 0;
    const c = new UserCache(10, () => (reads++, []));
    c.set('a', S(1), 4);
    c.set('b', S(1), 5);
    c.dropPartition(4);
    expect(held(c, 'a')).toBe(false);
    c.fetch(['a', 'b'], 4);
    expect(reads).toBe(1);
    const buf = new RowBuffer();
    c.flushTo(buf, 1);
    expect(rowsOf(buf).map((r) => r.user_id)).toEqual(['b']);
  });
});

describe('UserCache without reads', () => {
  it('stays within its size when every user is new (the filter says none is stored, so nothing is ever read)', () => {
    const c = new UserCache(10, () => [], KnownUsers.forUsers(0));
    const buf = new RowBuffer();
    for (let seq = 1; seq <= 20; seq++) {
      for (let i = 0; i < 10; i++) {
        const id = `u${seq}-${i}`;
        expect(c.mayBeStored(id)).toBe(false);
        c.set(id, S(seq), 0);
      }
      c.flushTo(buf, seq);
      buf.writeTo(join(dir, 'discard.ndjson'));
      c.committed(seq);
    }
    expect(c.size).toBeLessThanOrEqual(10);
  });
});
