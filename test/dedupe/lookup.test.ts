/**
 * A worker's view of the index: pending ids through many generations and table growth, and the rule that
 * decides which earlier entries make an event a duplicate (docs/SEMANTICS.md, "Duplicates").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EntryList } from '../../src/dedupe/entries.ts';
import { KeyFilter } from '../../src/dedupe/filter.ts';
import { KEY, keyOf } from '../../src/dedupe/id-key.ts';
import { IndexView } from '../../src/dedupe/lookup.ts';
import { PendingIds } from '../../src/dedupe/pending.ts';
import { writeRun } from '../../src/dedupe/run-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-lookup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function k(id: string): [number, number, number, number, number] {
  keyOf(id);
  return [KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!];
}

describe('pending ids', () => {
  it('finds every id it holds, through table growth and sealed generations, until they are released', () => {
    const p = new PendingIds();
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      p.add(...k(`id-${i}`), 1000 + i, 0, i, i % 7);
      if (i === 20_000) p.seal(1);
      if (i === 40_000) p.seal(2);
    }
    const found = (id: string): number[] => {
      const offsets: number[] = [];
      p.find(...k(id), (w, at) => void offsets.push(w[at + 6]!) as unknown as boolean);
      return offsets;
    };
    for (let i = 0; i < n; i += 97) expect(found(`id-${i}`)).toEqual([i]);
    expect(found('id-absent')).toEqual([]);
    expect(p.held).toBe(n);
    p.release(1);
    expect(found('id-5')).toEqual([]);
    expect(found('id-30000')).toEqual([30000]);
    p.release(2);
    expect(found('id-30000')).toEqual([]);
    expect(found('id-45000')).toEqual([45000]);
    expect(p.held).toBe(n - 40_001);
  });
});

describe('which earlier entries count', () => {
  // Committed entries, as the index holds them: origin 0 (this source) partition 3 at offset 10, origin 1
  // (another source) at offset 500 of its partition 9, both at event time 100_000.
  const list = new EntryList();
  list.push(...k('mine'), 100_000, 0, 10, 3);
  list.push(...k('theirs'), 100_000, 1, 500, 9);
  list.push(...k('other-partition'), 100_000, 0, 2, 4);
  const run = join(dir, 'committed.ids');
  writeRun(run, list.sorted());
  const filter = KeyFilter.create(1 << 16);
  for (const id of ['mine', 'theirs', 'other-partition']) {
    const [h, , k1, , k3] = k(id);
    filter.add(h, k1, k3);
  }
  const view = new IndexView(filter.sharedBuffer, [run]);
  const dup = (id: string, origin: number, partition: number, offset: number, cutoff = 0): boolean => view.isDuplicate(...k(id), origin, partition, offset, cutoff);

  it('this source, the same partition, a lower offset: yes; a higher one (a replay of the original): no', () => {
    expect(dup('mine', 0, 3, 11)).toBe(true);
    expect(dup('mine', 0, 3, 10)).toBe(false);
    expect(dup('mine', 0, 3, 5)).toBe(false);
  });

  it('another source, whatever its partition or offset: yes', () => {
    expect(dup('theirs', 0, 3, 0)).toBe(true);
    expect(dup('theirs', 2, 9, 1)).toBe(true);
    expect(dup('mine', 1, 3, 0)).toBe(true);
  });

  it('another partition of the same source: no (partitions decide alone, so replays decide the same)', () => {
    expect(dup('other-partition', 0, 3, 100)).toBe(false);
  });

  it('an entry older than the horizon (below the cutoff): no; at the cutoff: yes', () => {
    expect(dup('theirs', 0, 3, 0, 100_001)).toBe(false);
    expect(dup('theirs', 0, 3, 0, 100_000)).toBe(true);
  });

  it('pending entries follow the same rule', () => {
    view.pending.add(...k('fresh'), 50, 0, 7, 3);
    expect(dup('fresh', 0, 3, 8)).toBe(true);
    expect(dup('fresh', 0, 3, 7)).toBe(false);
    expect(dup('fresh', 0, 5, 8)).toBe(false);
  });

  it('a rebuilt filter of the runs leaves the worker\'s pending ids found', () => {
    const v = new IndexView(KeyFilter.create(1 << 16).sharedBuffer, []);
    v.pending.add(...k('pending-across-a-rebuild'), 50, 0, 7, 3);
    v.pending.seal(1);
    v.setFilter(KeyFilter.create(1 << 16).sharedBuffer);
    expect(v.isDuplicate(...k('pending-across-a-rebuild'), 0, 3, 8, 0)).toBe(true);
  });

  it('an id in no run and not pending is new, and the filter spares the disk for it', () => {
    const before = view.stats.runReads;
    for (let i = 0; i < 1000; i++) expect(dup(`new-${i}`, 0, 3, 100)).toBe(false);
    expect(view.stats.runReads - before).toBeLessThan(20);
  });
});
