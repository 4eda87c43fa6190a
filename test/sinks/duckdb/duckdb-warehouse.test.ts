/**
 * The warehouse side of exactness: a commit is atomic with its checkpoints, and the state rebuilt from the
 * warehouse makes a restored actor decide exactly as the uninterrupted one did.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/contract/checkpoint.ts';
import { EnrichmentTables } from '../../../src/enrich/tables.ts';
import { actorOutput, PartitionActor, type ActorOutput, type ActorSettings } from '../../../src/partition/actor.ts';
import type { RawRecord } from '../../../src/partition/record.ts';
import { DuckDbWarehouse } from '../../../src/sinks/duckdb/duckdb-warehouse.ts';
import { RowBuffer } from '../../../src/sinks/row-files.ts';
import { IdIndex } from '../../../src/dedupe/id-index.ts';
import { IndexView } from '../../../src/dedupe/lookup.ts';
import { pino } from 'pino';

const dir = mkdtempSync(join(tmpdir(), 'gs-wh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 20, 10);
const settings: ActorSettings = {
  partition: 3, windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 60_000, dedupeHorizonMs: 300_000,
  futureToleranceMs: 3_600_000, maxEventBytes: 1 << 20, avro: null, origin: 0,
};

/** Out-of-order events with retries inside and outside the horizon, late events and a few bad records. */
function records(n: number): RawRecord[] {
  const out: RawRecord[] = [];
  const sent: string[] = [];
  let seed = 7;
  const r = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    let line: string;
    const x = r();
    if (x < 0.05 && sent.length > 0) line = sent[Math.floor(r() * sent.length)]; // a retry, maybe beyond the horizon
    else if (x < 0.07) line = '{"broken":';
    else {
      const skew = x < 0.1 ? -200_000 : -Math.floor(r() * 8000);
      const ev = { id: `e${i}`, user_id: `u${i % 13}`, timestamp: new Date(T0 + i * 200 + skew).toISOString(), type: 1001 + (i % 3), parameters: { level_id: i % 7 } };
      line = JSON.stringify(ev);
      sent.push(line);
    }
    out.push({ partition: 3, offset: i, bytes: Buffer.from(line) });
  }
  return out;
}

function newActor(index?: IndexView): { actor: PartitionActor; out: ActorOutput } {
  const out = actorOutput(() => EnrichmentTables.empty(), index);
  return { actor: new PartitionActor(settings, out), out };
}

const silent = pino({ level: 'silent' });

function drain(out: { events: RowBuffer; dlq: RowBuffer; agg: RowBuffer }, tag: string): { events: string; dlq: string; agg: string; aggUpdates: null } {
  const f = { events: join(dir, `${tag}.events.ndjson`), dlq: join(dir, `${tag}.dlq.ndjson`), agg: join(dir, `${tag}.agg.ndjson`), aggUpdates: null };
  out.events.writeTo(f.events);
  out.dlq.writeTo(f.dlq);
  out.agg.writeTo(f.agg);
  return f;
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

describe('DuckDbWarehouse', () => {
  it('commits rows with checkpoints and rebuilds state that continues exactly', async () => {
    const recs = records(6000);
    const now = T0 + 2 * 3_600_000;
    // The reference: one actor over everything.
    const ref = newActor();
    ref.actor.processBatch(recs.slice(0, 3000), now, now);
    const refFirst = drain(ref.out, 'ref1');
    const refCp1 = ref.actor.flush()!;
    ref.actor.processBatch(recs.slice(3000), now, now);
    ref.actor.endOfInput();
    const refSecond = drain(ref.out, 'ref2');

    const wh = new DuckDbWarehouse({ path: join(dir, 'wh.duckdb'), source: 'test-src', maxEventBytes: 1 << 20 });
    await wh.open();
    // First half committed, as a worker would flush it.
    await wh.commit({ files: [refFirst], checkpoints: [refCp1], engineWatermarkMs: null, endOfInput: false });
    const cps = await wh.loadCheckpoints('test-src');
    expect(cps.get(3)).toEqual(refCp1);
    // A new actor, rebuilt from the warehouse, given the whole input again (a replay): it must skip the
    // durable half and then produce exactly what the reference produced. Its duplicates come from a dedupe
    // index read back from the warehouse, as at a start without one.
    const [restore] = await wh.loadRestore('test-src', [cps.get(3) as Checkpoint], { windowSizeMs: 60_000 });
    const index = new IdIndex({ dir: join(dir, 'index'), setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: 300_000, filterBytes: 1 << 16, log: silent });
    index.open(await wh.identity(), 'test-src');
    const read = await index.catchUp([{ source: 'test-src', partition: 3, nextOffset: refCp1.nextOffset, maxEventMs: refCp1.maxEventMs }], (r, f) => wh.readCommittedIds(r, f));
    expect(read).toBeGreaterThan(0);
    const handle = index.handle('test-src');
    expect(handle.origin).toBe(0);
    const resumed = newActor(new IndexView(handle.filter, handle.runs));
    resumed.actor.start(restore);
    resumed.actor.processBatch(recs, now, now);
    resumed.actor.endOfInput();
    const second = drain(resumed.out, 'resumed2');
    expect(lines(second.events)).toEqual(lines(refSecond.events));
    expect(lines(second.dlq)).toEqual(lines(refSecond.dlq));
    // Rows of one window may come out in another order after a rebuild; the set must be identical.
    expect(lines(second.agg).sort()).toEqual(lines(refSecond.agg).sort());
    expect(lines(second.agg).length).toBeGreaterThan(10);
    const refCp2 = ref.actor.flush()!;
    expect(resumed.actor.flush()).toEqual(refCp2);
    await index.close();
    await wh.close();
  });

  it('a failed commit leaves nothing behind', async () => {
    const wh = new DuckDbWarehouse({ path: join(dir, 'wh2.duckdb'), source: 's', maxEventBytes: 1 << 20 });
    await wh.open();
    const { actor, out } = newActor();
    actor.processBatch(records(100), T0 + 3_600_000, T0 + 3_600_000);
    const files = drain(out, 'bad');
    const missing = { ...files, dlq: join(dir, 'does-not-exist.ndjson') };
    await expect(wh.commit({ files: [missing], checkpoints: [actor.flush()!], engineWatermarkMs: null, endOfInput: false })).rejects.toMatchObject({ code: 'warehouse_write_failed' });
    expect((await wh.loadCheckpoints('s')).size).toBe(0);
    await wh.commit({ files: [files], checkpoints: [], engineWatermarkMs: T0, endOfInput: false });
    await wh.close();
    const again = new DuckDbWarehouse({ path: join(dir, 'wh2.duckdb'), source: 's', maxEventBytes: 1 << 20 });
    await again.open();
    const restore = await again.loadRestore('s', [], { windowSizeMs: 60_000 });
    expect(restore).toEqual([]);
    await again.close();
  });
});
