/**
 * The dedupe index as its keeper runs it: registration, reopening, one daemon per directory, an index that
 * belongs to another warehouse, catching up from the warehouse, merging and expiry.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/contract/checkpoint.ts';
import { IdIndex, type IndexChange } from '../../src/dedupe/id-index.ts';
import { KEY, keyOf } from '../../src/dedupe/id-key.ts';
import { IndexView } from '../../src/dedupe/lookup.ts';
import { PendingIds } from '../../src/dedupe/pending.ts';
import { writeRun } from '../../src/dedupe/run-file.ts';
import { emptyCheckpoint } from '../../src/partition/stored-checkpoint.ts';
import type { CommittedId, IdRange } from '../../src/sinks/sink.ts';

const root = mkdtempSync(join(tmpdir(), 'gs-idindex-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const log = pino({ level: 'silent' });
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20);

let n = 0;
function newIndex(dir = join(root, `i${++n}`), horizonMs = 7 * DAY): IdIndex {
  return new IdIndex({ dir, setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs, filterBytes: 1 << 16, log });
}

function cp(partition: number, nextOffset: number, maxEventMs: number | null = null): Checkpoint {
  return { ...emptyCheckpoint(partition), nextOffset, maxEventMs };
}

/** What a worker does: accepts the ids `id-<from>`…`id-<to-1>` of partition p at those offsets, seen at T0 + offset s, and writes them as its flush run. */
function flushRun(index: IdIndex, origin: number, p: number, from: number, to: number, tsOf = (o: number) => T0 + o * 1000): string {
  const pending = new PendingIds();
  for (let o = from; o < to; o++) {
    keyOf(`id-${o}`);
    pending.add(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, tsOf(o), origin, o, p);
  }
  const path = `${index.runPrefix(0)}-${from}.ids`;
  writeRun(path, pending.seal(1));
  return path;
}

/** Whether a worker looking up `id` for another source would drop it. */
function holds(index: IdIndex, id: string, cutoff = 0, source = 'another source'): boolean {
  const h = index.handle(source);
  const view = new IndexView(h.filter, h.runs);
  keyOf(id);
  const dup = view.isDuplicate(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, h.origin, 1, 1e9, cutoff);
  view.close();
  return dup;
}

describe('the dedupe index', () => {
  it('holds what was registered, across a reopen', async () => {
    const dir = join(root, 'reopen');
    const a = newIndex(dir);
    a.open('wh-1', 'file:a');
    const origin = a.origin('file:a');
    a.register('file:a', [flushRun(a, origin, 0, 0, 100), null], [cp(0, 100)]);
    expect(holds(a, 'id-42')).toBe(true);
    expect(holds(a, 'id-100')).toBe(false);
    await a.close();
    const b = newIndex(dir);
    b.open('wh-1', 'file:a');
    expect(b.stats().ids).toBe(100);
    expect(holds(b, 'id-42')).toBe(true);
    // The warehouse has exactly what the index holds: nothing to read back.
    const read = await b.catchUp([{ source: 'file:a', partition: 0, nextOffset: 100, maxEventMs: T0 }], async () => {
      throw new Error('nothing should be read');
    });
    expect(read).toBe(0);
    await b.close();
  });

  it('is one daemon\'s: a second one is told to use another directory', async () => {
    const dir = join(root, 'locked');
    const a = newIndex(dir);
    a.open('wh', 'file:a');
    expect(() => newIndex(dir).open('wh', 'file:a')).toThrow(/in use by process \d+.*set GAMESTREAM_DEDUPE_DIR to another path/s);
    await a.close();
    // A lock left by a process that is gone is taken over.
    writeFileSync(join(dir, 'lock'), '999999999');
    const b = newIndex(dir);
    b.open('wh', 'file:a');
    await b.close();
  });

  it('drops an index made for another warehouse, and files the manifest does not name', async () => {
    const dir = join(root, 'other');
    const a = newIndex(dir);
    a.open('wh-old', 'file:a');
    a.register('file:a', [flushRun(a, a.origin('file:a'), 0, 0, 10)], [cp(0, 10)]);
    await a.close();
    writeFileSync(join(dir, 'flush-1-0-0-9.ids'), 'left by a crash');
    const b = newIndex(dir);
    b.open('wh-new', 'file:a');
    expect(b.stats().ids).toBe(0);
    expect(holds(b, 'id-3')).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['lock', 'manifest.json']);
    await b.close();
  });

  it('reads back what the warehouse committed and it lacks, within the horizon, and rebuilds when it is ahead', async () => {
    const a = newIndex(undefined, DAY);
    a.open('wh', 'file:a');
    const origin = a.origin('file:a');
    a.register('file:a', [flushRun(a, origin, 0, 0, 50)], [cp(0, 50)]);
    const asked: IdRange[][] = [];
    const warehouse = (rows: CommittedId[]) => async (ranges: IdRange[], onRows: (r: CommittedId[]) => void): Promise<void> => {
      asked.push(ranges);
      onRows(rows.filter((r) => ranges.some((g) => g.source === r.source && g.partition === r.partition && r.offset >= g.fromOffset && r.offset < g.toOffset && r.seenMs >= g.minSeenMs)));
    };
    const committed: CommittedId[] = [];
    for (let o = 0; o < 80; o++) committed.push({ id: `id-${o}`, seenMs: T0 + o * 1000, source: 'file:a', partition: 0, offset: o });
    committed.push({ id: 'kafka-1', seenMs: T0, source: 'kafka:t', partition: 5, offset: 0 });
    const changes: IndexChange[] = [];
    a.onChange((c) => changes.push(c));
    const read = await a.catchUp([
      { source: 'file:a', partition: 0, nextOffset: 80, maxEventMs: T0 + 79_000 },
      { source: 'kafka:t', partition: 5, nextOffset: 1, maxEventMs: T0 },
    ], warehouse(committed));
    expect(read).toBe(31);
    // Each range from where the index stopped; wanted back to the horizon and its slack (a quarter of it) behind
    // the newest time, or further for a partition whose own clock is further behind (kafka:t/5 here).
    expect(asked[0]).toEqual([
      { source: 'file:a', partition: 0, fromOffset: 50, toOffset: 80, anchorMs: null, minSeenMs: T0 + 79_000 - DAY - DAY / 4 },
      { source: 'kafka:t', partition: 5, fromOffset: 0, toOffset: 1, anchorMs: null, minSeenMs: T0 + 79_000 - DAY - DAY / 4 },
    ]);
    expect(changes.at(-1)!.add.length).toBe(1);
    expect(holds(a, 'id-70')).toBe(true);
    expect(holds(a, 'kafka-1')).toBe(true);
    // The warehouse now has less than the index (restored from an older copy): the index starts again from it.
    const again = await a.catchUp([
      { source: 'file:a', partition: 0, nextOffset: 60, maxEventMs: T0 + 59_000 },
      { source: 'kafka:t', partition: 5, nextOffset: 1, maxEventMs: T0 },
    ], warehouse(committed.filter((r) => r.source !== 'file:a' || r.offset < 60)));
    expect(again).toBe(61);
    expect(holds(a, 'id-59')).toBe(true);
    expect(holds(a, 'id-70')).toBe(false);
    // The workers drop the old runs and take the new, empty-then-refilled filter.
    const reset = changes.find((c) => c.filter !== null)!;
    expect(reset.remove.length).toBeGreaterThan(0);
    expect(changes.at(-1)!.add.every((p) => !reset.remove.includes(p))).toBe(true);
    await a.close();
  });

  it('a commit under way at a crash: its runs join the index if the warehouse has the commit, else they go', async () => {
    const dir = join(root, 'pending');
    const a = newIndex(dir);
    a.open('wh', 'file:a');
    const origin = a.origin('file:a');
    const landed = flushRun(a, origin, 0, 0, 10);
    const lost = flushRun(a, origin, 1, 100, 110);
    a.prepare('file:a', [landed], [cp(0, 10)]);
    a.prepare('file:a', [lost], [cp(1, 110)]);
    // The process dies here: neither commit was registered. The warehouse has the first and not the second.
    await a.close();
    const b = newIndex(dir);
    b.open('wh', 'file:a');
    const read = await b.catchUp([{ source: 'file:a', partition: 0, nextOffset: 10, maxEventMs: T0 + 9000 }], async () => undefined);
    expect(read).toBe(0);
    expect(holds(b, 'id-5')).toBe(true);
    expect(holds(b, 'id-105')).toBe(false);
    expect(existsSync(lost)).toBe(false);
    await b.close();
  });

  it('merges eight runs into one, and drops ids once the horizon and its slack have passed them', async () => {
    const a = newIndex(undefined, DAY);
    a.open('wh', 'file:a');
    const origin = a.origin('file:a');
    const removed: string[] = [];
    a.onChange((c) => removed.push(...c.remove));
    for (let r = 0; r < 8; r++) a.register('file:a', [flushRun(a, origin, 0, r * 10, r * 10 + 10)], [cp(0, r * 10 + 10)]);
    await a.settled();
    expect(a.stats()).toMatchObject({ runs: 1, ids: 80 });
    expect(removed.length).toBe(8);
    expect(holds(a, 'id-79')).toBe(true);
    // Two days later in event time: the first runs' ids are out of the horizon and its slack.
    a.register('file:a', [flushRun(a, origin, 0, 1000, 1001, () => T0 + 2 * DAY)], [cp(0, 1001)]);
    await a.settled();
    expect(a.stats()).toMatchObject({ runs: 1, ids: 1 });
    expect(holds(a, 'id-79')).toBe(false);
    expect(holds(a, 'id-1000')).toBe(true);
    await a.close();
    // Merged-away runs are deleted (at once on close, a minute later while running).
    for (const p of removed) expect(existsSync(p)).toBe(false);
  });

  it('keeps what a lagging partition of a source still needs, however far behind the newest it is', async () => {
    const a = newIndex(undefined, DAY);
    a.open('wh', 'file:a');
    const origin = a.origin('file:a');
    // Partition 1 is at T0 + 1 h; partition 0 races two days ahead. Eight runs merge.
    for (let r = 0; r < 7; r++) a.register('file:a', [flushRun(a, origin, 1, r * 10, r * 10 + 10, () => T0)], [cp(1, r * 10 + 10, T0 + 3_600_000)]);
    a.register('file:a', [flushRun(a, origin, 0, 500, 510, () => T0 + 2 * DAY)], [cp(0, 510, T0 + 2 * DAY)]);
    await a.settled();
    expect(a.stats().runs).toBe(1);
    // Partition 1 itself may still ask for ids seen within a day of its own clock: they stay.
    expect(holds(a, 'id-5', T0 + 3_600_000 - DAY, 'file:a')).toBe(true);
    await a.close();
  });

  it('lets what a finished source left go once the newest time is past the horizon and slack', async () => {
    const a = newIndex(undefined, DAY);
    a.open('wh', 'kafka:live');
    const file = a.origin('file:a');
    const live = a.origin('kafka:live');
    for (let r = 0; r < 7; r++) a.register('file:a', [flushRun(a, file, 1, r * 10, r * 10 + 10, () => T0)], [cp(1, r * 10 + 10, T0 + 3_600_000)]);
    a.register('kafka:live', [flushRun(a, live, 0, 500, 510, () => T0 + 2 * DAY)], [cp(0, 510, T0 + 2 * DAY)]);
    await a.settled();
    // file:a is not what this daemon runs: its partition's lag earns it nothing.
    expect(a.stats()).toMatchObject({ runs: 1, ids: 10 });
    expect(holds(a, 'id-5', T0 + 3_600_000 - DAY, 'file:a')).toBe(false);
    await a.close();
  });

  it('with a limit that is not a power of two, stays at the largest filter it allows instead of rebuilding it for ever', async () => {
    // 1.5 MiB allows 1 MiB. 600k ids outgrow that, and a size taken as 1.5 MiB would look outgrown after every
    // rebuild: settled() would never resolve.
    const a = new IdIndex({ dir: join(root, 'odd-limit'), setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: DAY, filterBytes: 1.5 * (1 << 20), log });
    a.open('wh', 'file:a');
    const filters: SharedArrayBuffer[] = [];
    a.onChange((c) => c.filter && filters.push(c.filter));
    a.register('file:a', [flushRun(a, a.origin('file:a'), 0, 0, 600_000, () => T0)], [cp(0, 600_000)]);
    await a.settled();
    expect(a.stats().filterBytes).toBe(1 << 20);
    expect(filters.length).toBe(0);
    expect(holds(a, 'id-599999')).toBe(true);
    await a.close();
  });

  it('warns when the ids outgrow the largest filter allowed, naming the setting and a size that holds them; again only when they double', async () => {
    const warnings: string[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
    // 1 MiB holds 524,288 ids at full speed.
    const a = new IdIndex({ dir: join(root, 'full'), setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: DAY, filterBytes: 1 << 20, log: capture });
    a.open('wh', 'file:a');
    const origin = a.origin('file:a');
    const add = (from: number, to: number) => a.register('file:a', [flushRun(a, origin, 0, from, to, () => T0)], [cp(0, to)]);
    add(0, 500_000);
    expect(warnings).toEqual([]);
    expect(a.stats()).toMatchObject({ ids: 500_000, filterBytes: 1 << 20, filterCapacity: 524_288 });
    add(500_000, 600_000);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/holds 600,000 ids, more than its filter holds at full speed \(524,288 with GAMESTREAM_DEDUPE_FILTER_MEMORY=1MiB\)/);
    expect(warnings[0]).toMatch(/Set GAMESTREAM_DEDUPE_FILTER_MEMORY=2MiB or more, or shorten GAMESTREAM_DEDUPE_HORIZON/);
    add(600_000, 1_100_000);
    expect(warnings.length).toBe(1);
    add(1_100_000, 1_200_000);
    expect(warnings.length).toBe(2);
    expect(warnings[1]).toMatch(/holds 1,200,000 ids.*GAMESTREAM_DEDUPE_FILTER_MEMORY=4MiB or more/);
    await a.close();
  });

  it('starts with a small filter and rebuilds it larger as ids come, up to its limit', async () => {
    const a = new IdIndex({ dir: join(root, 'grow'), setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: DAY, filterBytes: 4 << 20, log });
    a.open('wh', 'file:a');
    const origin = a.origin('file:a');
    expect(a.stats().filterBytes).toBe(1 << 20);
    const filters: SharedArrayBuffer[] = [];
    a.onChange((c) => c.filter && filters.push(c.filter));
    a.register('file:a', [flushRun(a, origin, 0, 0, 300_000, () => T0)], [cp(0, 300_000)]);
    a.register('file:a', [flushRun(a, origin, 0, 300_000, 600_000, () => T0)], [cp(0, 600_000)]);
    await a.settled();
    // 600k ids at 16 bits each want 1.2 MB, twice that with room: the 4 MiB limit.
    expect(a.stats().filterBytes).toBe(4 << 20);
    expect(filters.length).toBe(1);
    for (const id of ['id-0', 'id-299999', 'id-599999']) expect(holds(a, id)).toBe(true);
    await a.close();
  });
});
