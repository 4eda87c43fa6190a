/**
 * Micro bench of the dedupe index as a partition uses it (src/dedupe/): per accepted event, the key of its id,
 * the lookup (pending ids, filter, and run reads on a "maybe") and the pending entry; per flush, sorting the
 * pending ids and writing their run. The index holds `HELD` committed ids in runs, as after a long load.
 *   node bench/micro/dedupe.bench.ts
 * Latency is per event: each iteration times BATCH events and reports the mean.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Bench } from 'tinybench';
import { EntryList } from '../../src/dedupe/entries.ts';
import { KeyFilter } from '../../src/dedupe/filter.ts';
import { KEY, keyOf } from '../../src/dedupe/id-key.ts';
import { IndexView } from '../../src/dedupe/lookup.ts';
import { mergeRuns } from '../../src/dedupe/merge.ts';
import { writeRun } from '../../src/dedupe/run-file.ts';

export const BATCH = 1000;
const HELD = 1_000_000;
const HORIZON_MS = 7 * 86_400_000;
const T0 = 1_750_000_000_000;

/** Ids as the decoder hands them over: flat strings out of JSON.parse. */
function freshUuids(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(randomUUID());
  return JSON.parse(JSON.stringify(ids)) as string[];
}

/** An index of HELD committed UUIDs (another source), written as 8 runs and merged, as compaction leaves it. */
async function committedIndex(dir: string, filterBytes: number): Promise<{ view: IndexView; ids: string[]; runBytes: number }> {
  const ids = freshUuids(HELD);
  const filter = KeyFilter.create(filterBytes);
  const parts: string[] = [];
  const per = HELD / 8;
  for (let r = 0; r < 8; r++) {
    const list = new EntryList(per);
    for (let i = r * per; i < (r + 1) * per; i++) {
      keyOf(ids[i]!);
      list.push(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, T0 + i, 1, i, 0);
      filter.add(KEY[0]! >>> 0, KEY[2]!, KEY[4]!);
    }
    const path = join(dir, `part-${r}.ids`);
    writeRun(path, list.sorted());
    parts.push(path);
  }
  const merged = join(dir, 'merged.ids');
  await mergeRuns(parts, merged, () => 0);
  return { view: new IndexView(filter.sharedBuffer, [merged]), ids, runBytes: statSync(merged).size };
}

export async function benchDedupe(timeMs = 1000): Promise<{ bench: Bench; bytesPerId: number; maybeShare: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gs-dedupe-bench-'));
  try {
    // The size the index gives its filter for 1M ids (id-index.ts: room for twice as many at 16 bits each).
    const { view, ids: committed, runBytes } = await committedIndex(dir, 4 << 20);
    let offset = 0;
    let maxTs = T0 + HELD;
    let seq = 0;
    let n = 0;
    /** One partition's BATCH events: new ids, `retryShare` of them copies of committed ones; accepted ids go pending. */
    const run = (retryShare: number): number => {
      const fresh = freshUuids(BATCH);
      const batch = fresh.map((id, i) => (i / BATCH < retryShare ? committed[(n++ * 7919) % HELD]! : id));
      const t0 = performance.now();
      for (const id of batch) {
        keyOf(id);
        const h = KEY[0]! >>> 0;
        maxTs++;
        if (view.isDuplicate(h, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, 0, 0, offset, maxTs - HORIZON_MS)) continue;
        view.pending.add(h, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, maxTs, 0, offset++, 0);
      }
      // A flush every 100k accepted ids: sort and write the run, as a worker does.
      if (view.pending.size >= 100_000) {
        writeRun(join(dir, `flush-${++seq}.ids`), view.pending.seal(seq));
        view.pending.release(seq);
      }
      return performance.now() - t0;
    };
    // How often the filter says "maybe" for an id the index does not hold (each costs run reads).
    const probe = freshUuids(200_000);
    const before = view.stats.filterMaybes;
    for (const id of probe) {
      keyOf(id);
      view.isDuplicate(KEY[0]! >>> 0, KEY[1]!, KEY[2]!, KEY[3]!, KEY[4]!, 1, 0, 0, 0);
    }
    const maybeShare = (view.stats.filterMaybes - before) / probe.length;
    const bench = new Bench({ name: `dedupe index, ${HELD / 1e6}M committed ids in runs, per event`, time: timeMs });
    const task = (retryShare: number) => () => {
      const ms = run(retryShare);
      return { overriddenDuration: ms / BATCH, overriddenIterationCost: ms };
    };
    bench.add('new UUIDs (lookup, pending, flush runs)', task(0)).add('1% copies of committed ids', task(0.01)).add('all copies of committed ids (disk reads)', task(1));
    await bench.run();
    return { bench, bytesPerId: runBytes / HELD, maybeShare };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { bench, bytesPerId, maybeShare } = await benchDedupe();
  console.log(bench.name);
  console.table(bench.table());
  console.log(`run file: ${bytesPerId.toFixed(1)} bytes per id; the filter (4 MiB) said "maybe" for ${(maybeShare * 100).toFixed(3)}% of ids it did not hold`);
}
