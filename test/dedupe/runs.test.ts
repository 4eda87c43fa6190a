/**
 * Entries, run files and merges against a plain Map of what was written: every key is found with every one of
 * its entries, absent keys are not, and a merge keeps exactly the entries inside the cutoff, in order.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EntryList, ENTRY_WORDS, entryOffset, entryOrigin, entryPartition, entrySeen } from '../../src/dedupe/entries.ts';
import { KEY, keyOf } from '../../src/dedupe/id-key.ts';
import { mergeRuns } from '../../src/dedupe/merge.ts';
import { RunReader, writeRun } from '../../src/dedupe/run-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-runs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Row { id: string; ts: number; origin: number; offset: number; partition: number }

function listOf(rows: Row[]): EntryList {
  const l = new EntryList(16);
  for (const r of rows) {
    keyOf(r.id);
    l.push(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, r.ts, r.origin, r.offset, r.partition);
  }
  return l;
}

function find(run: RunReader, id: string): Row[] {
  keyOf(id);
  const got: Row[] = [];
  run.find(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, (w, at) => {
    got.push({ id, ts: entrySeen(w, at), origin: entryOrigin(w, at), offset: entryOffset(w, at), partition: entryPartition(w, at) });
    return false;
  });
  return got;
}

function rows(n: number, seed: number, tsBase: number): Row[] {
  let s = seed;
  const r = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, (_, i) => ({
    // Some ids repeat (the same key twice in one run), some are UUIDs, some not.
    id: r() < 0.1 ? `dup-${Math.floor(r() * 50)}` : r() < 0.5 ? crypto.randomUUID() : `evt-${seed}-${i}`,
    ts: tsBase + Math.floor(r() * 2 ** 40), origin: Math.floor(r() * 3), offset: Math.floor(r() * 2 ** 47), partition: Math.floor(r() * 65536),
  }));
}

const sortRows = (a: Row[]): Row[] => [...a].sort((x, y) => x.ts - y.ts || x.offset - y.offset || x.origin - y.origin || x.partition - y.partition);

describe('dedupe runs', () => {
  it('keeps every field of every entry, and finds all of a key\'s entries across block boundaries', () => {
    const data = rows(5000, 1, 1.7e12);
    const path = join(dir, 'a.ids');
    const stats = writeRun(path, listOf(data).sorted());
    expect(stats.count).toBe(5000);
    expect(stats.minSeenMs).toBe(Math.min(...data.map((d) => d.ts)));
    const run = new RunReader(path);
    const byId = new Map<string, Row[]>();
    for (const d of data) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
    for (const [id, want] of byId) expect(sortRows(find(run, id))).toEqual(sortRows(want));
    for (let i = 0; i < 500; i++) expect(find(run, `absent-${i}`)).toEqual([]);
    // A key with hundreds of entries spans several blocks.
    const many = listOf(Array.from({ length: 700 }, (_, i) => ({ id: 'same', ts: i, origin: 1, offset: i, partition: 2 })));
    writeRun(join(dir, 'b.ids'), many.sorted());
    const b = new RunReader(join(dir, 'b.ids'));
    expect(find(b, 'same').length).toBe(700);
    run.close();
    b.close();
  });

  it('refuses a run file that is cut short', () => {
    const path = join(dir, 'c.ids');
    writeRun(path, listOf(rows(300, 2, 1.7e12)).sorted());
    const whole = new RunReader(path);
    whole.close();
    writeFileSync(path, Buffer.alloc(100));
    expect(() => new RunReader(path)).toThrow(/not a dedupe run|cut short/);
  });

  it('merges runs in order, keeping the entries at or after the cutoff', async () => {
    const parts = [rows(3000, 3, 0), rows(10, 4, 0), rows(4500, 5, 0)];
    const paths = parts.map((p, i) => {
      const path = join(dir, `m${i}.ids`);
      writeRun(path, listOf(p).sorted());
      return path;
    });
    const cutoff = 2 ** 39;
    const stats = (await mergeRuns(paths, join(dir, 'merged.ids'), () => cutoff))!;
    const kept = parts.flat().filter((r) => r.ts >= cutoff);
    expect(stats.count).toBe(kept.length);
    const merged = new RunReader(join(dir, 'merged.ids'));
    const expected = listOf(kept).sorted();
    const got = new Int32Array(merged.count * ENTRY_WORDS);
    merged.readEntries(0, merged.count, got);
    // Equal keys may come in any order; the set of entries per key is what must match.
    const byId = new Map<string, Row[]>();
    for (const d of kept) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
    for (const [id, want] of byId) expect(sortRows(find(merged, id))).toEqual(sortRows(want));
    expect(got.length).toBe(expected.length);
    merged.close();
  });
});
