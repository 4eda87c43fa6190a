import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EnrichmentTables } from '../../src/enrich/tables.ts';
import { actorOutput, PartitionActor, type ActorOutput } from '../../src/partition/actor.ts';
import type { RowBuffer } from '../../src/sinks/row-files.ts';
import type { StoredUserState } from '../../src/users/state.ts';
import { UserCache } from '../../src/users/user-cache.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20, 10);
const dir = mkdtempSync(join(tmpdir(), 'gs-actor-users-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rowsOf(buf: RowBuffer): Record<string, unknown>[] {
  const f = join(dir, `${Math.random()}.ndjson`);
  buf.writeTo(f);
  return readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function actorWith(lookup: (ids: string[]) => StoredUserState[] = () => []): { actor: PartitionActor; out: ActorOutput; asked: string[][] } {
  const asked: string[][] = [];
  const out = actorOutput(() => EnrichmentTables.empty(), undefined, new UserCache(1000, (ids) => (asked.push(ids), lookup(ids))));
  const actor = new PartitionActor(
    { partition: 0, windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 60_000, dedupeHorizonMs: 7 * DAY,
      futureToleranceMs: 3_600_000, maxEventBytes: 1 << 20, avro: null, origin: 0 },
    out,
  );
  return { actor, out, asked };
}

let offset = 0;
function feed(actor: PartitionActor, events: Record<string, unknown>[]): void {
  const records = events.map((e, i) => ({
    partition: 0, offset: offset++,
    bytes: Buffer.from(JSON.stringify({ id: `e${offset}-${i}`, user_id: 'u', type: 1001, ...e, timestamp: new Date(e.ts as number).toISOString() })),
  }));
  actor.processBatch(records, T0, T0 + 30 * DAY);
}

const stamps = (out: ActorOutput) => rowsOf(out.events).map((r) => [r.is_paying_user, r.days_since_install]);

describe('partition actor: user state on each event', () => {
  it('stamps each event as of itself, in the order events are accepted', () => {
    const { actor, out } = actorWith();
    feed(actor, [
      { ts: T0 },
      { ts: T0 + DAY, type: 2001, parameters: { price_usd: 0.99 } },
      { ts: T0 + DAY + 60_000 },
      { ts: T0 + DAY - 60_000 }, // arrives after the purchase but happened before it
      { ts: T0 + 3 * DAY, type: 2001, parameters: { price_usd: 0 } },
      { ts: T0 - 2 * DAY }, // an earlier first event moves the install day
      { ts: T0 + 3 * DAY, name: 'install' }, // an install event wins over the first event
      { ts: T0 + 4 * DAY },
    ]);
    expect(stamps(out)).toEqual([[false, 0], [true, 1], [true, 1], [false, 1], [true, 3], [false, 0], [true, 0], [true, 1]]);
  });

  it('lets values the client sent win, and ignores them when of the wrong type or past a 32-bit integer', () => {
    const { actor, out } = actorWith();
    feed(actor, [
      { ts: T0, is_paying_user: true, days_since_install: 40 },
      { ts: T0, is_paying_user: 'yes', days_since_install: 1.5 },
      { ts: T0, days_since_install: 2 ** 31 - 1 },
      { ts: T0, days_since_install: 3_000_000_000 },
      { ts: T0, days_since_install: -(2 ** 31) - 1 },
    ]);
    expect(stamps(out)).toEqual([[true, 40], [false, 0], [false, 2 ** 31 - 1], [false, 0], [false, 0]]);
  });

  it('starts from the warehouse\'s state, read once per batch for the users it lacks', () => {
    const { actor, out, asked } = actorWith((ids) => ids.filter((id) => id === 'u').map((userId) => ({ userId, installMs: T0 - 10 * DAY, firstSeenMs: T0 - 12 * DAY, firstPaidMs: T0 - DAY })));
    feed(actor, [{ ts: T0 }, { ts: T0, user_id: 'v' }, { ts: T0 - 2 * DAY }]);
    expect(asked).toEqual([['u', 'v']]);
    expect(stamps(out)).toEqual([[true, 10], [false, 0], [false, 8]]);
    feed(actor, [{ ts: T0 + DAY }, { ts: T0 + DAY, user_id: 'v' }]);
    expect(asked).toHaveLength(1);
  });

  it('reads the users of the whole worker batch at its first miss, and keeps those it holds through the batch', () => {
    const asked: string[][] = [];
    const state = (userId: string): StoredUserState => ({ userId, installMs: T0 - DAY, firstSeenMs: T0 - DAY, firstPaidMs: null });
    // Room for 2; five players wait for a commit, so a read makes room by sending away whoever is free to leave.
    const users = new UserCache(2, (ids) => (asked.push(ids), ids.map(state)));
    const out = actorOutput(() => EnrichmentTables.empty(), undefined, users);
    const settings = { windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 60_000, dedupeHorizonMs: 7 * DAY,
      futureToleranceMs: 3_600_000, maxEventBytes: 1 << 20, avro: null, origin: 0 };
    const actors = [0, 1, 2].map((partition) => new PartitionActor({ ...settings, partition }, out));
    users.fetch(['held'], 1);
    for (let i = 0; i < 5; i++) users.set(`waiting${i}`, { installMs: null, firstSeenMs: T0, firstPaidMs: null }, 0);
    asked.length = 0;
    const share = (partition: number, ids: string[]) => ids.map((user_id, i) => ({
      partition, offset: i, bytes: Buffer.from(JSON.stringify({ id: `p${partition}-${i}`, user_id, type: 1001, timestamp: new Date(T0).toISOString() })),
    }));
    // As the worker runs a batch (src/actors/worker.ts): each partition's share in turn.
    const shares = [share(0, ['a', 'b']), share(1, ['held', 'c']), share(2, ['a', 'd'])];
    out.ahead.begin(shares);
    users.batchBegins();
    shares.forEach((records, p) => {
      actors[p]!.processBatch(records, T0, T0 + 60_000);
      out.ahead.next();
    });
    out.ahead.end();
    users.batchEnds();
    // One read for the batch; 'held' was not read again though a read made room.
    expect(asked).toEqual([['a', 'b', 'c', 'd']]);
    expect(stamps(out)).toEqual(Array(6).fill([false, 1]));
  });

  it('does not let a duplicate or a dead letter change the state', () => {
    const { actor, out } = actorWith();
    const buy = { id: 'buy', ts: T0 + 60_000, type: 2001, parameters: { price_usd: 5 } };
    feed(actor, [{ ts: T0 + 120_000 }]);
    actor.processBatch([
      { partition: 0, offset: offset++, bytes: Buffer.from('{"id":"x","user_id":"u","type":2001,"parameters":{"price_usd":5},"timestamp":"nope"}') },
    ], T0, T0 + DAY);
    feed(actor, [{ ts: T0 }]);
    expect(stamps(out)).toEqual([[false, 0], [false, 0]]);
    const rec = (o: number) => ({ partition: 0, offset: o, bytes: Buffer.from(JSON.stringify({ ...buy, user_id: 'u', timestamp: new Date(buy.ts).toISOString() })) });
    actor.processBatch([rec(offset++)], T0, T0 + DAY);
    actor.processBatch([rec(offset++)], T0, T0 + DAY); // the retry is dropped
    expect(stamps(out)).toEqual([[true, 0]]);
    out.users.flushTo(out.userRows, 1);
    expect(rowsOf(out.userRows)).toEqual([{ user_id: 'u', install_ms: null, first_seen_ms: T0, first_paid_ms: T0 + 60_000, source_partition: 0 }]);
  });

  it('keys a player whose user_id holds an address by the masked id, as the events row stores it', () => {
    const { actor, out, asked } = actorWith();
    feed(actor, [{ ts: T0, user_id: '203.0.113.7' }, { ts: T0 + 1000, user_id: '203.0.113.9' }]);
    expect(rowsOf(out.events).map((r) => r.user_id)).toEqual(['203.0.113.0', '203.0.113.0']);
    expect(asked.flat()).not.toContain('203.0.113.7');
    out.users.flushTo(out.userRows, 1);
    expect(rowsOf(out.userRows)).toEqual([{ user_id: '203.0.113.0', install_ms: null, first_seen_ms: T0, first_paid_ms: null, source_partition: 0 }]);
  });
});
