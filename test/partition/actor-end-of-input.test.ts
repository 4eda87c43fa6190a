// The end of input writes every open window as it stands but does not close it: a later run over more input
// counts what arrives for those windows and rewrites their rows when they close. The windows that come out
// equal those of one actor that saw the whole input in one run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ActorRestore, Checkpoint } from '../../src/contract/checkpoint.ts';
import { EnrichmentTables } from '../../src/enrich/tables.ts';
import { actorOutput, PartitionActor, type ActorOutput } from '../../src/partition/actor.ts';
import type { RowBuffer } from '../../src/sinks/row-files.ts';

const M = 60_000;
const T0 = Date.UTC(2026, 10, 20, 10);
const dir = mkdtempSync(join(tmpdir(), 'gamestream-actor-eoi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type AggRow = { window_start_ms: number; event_type: number; level_id: number | null; event_count: number };
let files = 0;
function take(buf: RowBuffer): AggRow[] {
  if (buf.rows === 0) return [];
  const path = join(dir, `rows-${++files}.ndjson`);
  buf.writeTo(path);
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AggRow);
}

function actor(): { a: PartitionActor; out: ActorOutput } {
  const out = actorOutput(() => EnrichmentTables.empty());
  const a = new PartitionActor({
    partition: 0, windowSizeMs: M, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: M, dedupeHorizonMs: 5 * M,
    futureToleranceMs: 3_600_000, maxEventBytes: 1 << 20, avro: null, origin: 0,
  }, out);
  return { a, out };
}

/** Events of one partition, a few seconds apart and out of order, with some far behind (late). */
function records(n: number, seed = 7): { offset: number; bytes: Buffer; ts: number; type: number }[] {
  let x = seed;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, (_, i) => {
    const ts = T0 + i * 3000 - Math.floor(rnd() * (rnd() < 0.05 ? 4 * M : 20_000));
    const type = 1001 + Math.floor(rnd() * 3);
    return { offset: i, ts, type, bytes: Buffer.from(JSON.stringify({ id: `e${i}`, user_id: 'u', timestamp: new Date(ts).toISOString(), type })) };
  });
}

const key = (r: { window_start_ms: number; event_type: number; level_id: number | null }): string => `${r.window_start_ms}|${r.event_type}|${r.level_id}`;

describe('the end of input', () => {
  it('writes open windows early and the next run completes them: the same windows as one run over everything', () => {
    const all = records(400);
    const now = T0 + 3_600_000;
    const batch = (rs: typeof all) => rs.map((r) => ({ partition: 0, offset: r.offset, bytes: r.bytes }));

    const whole = actor();
    whole.a.processBatch(batch(all), now, now);
    whole.a.endOfInput();
    const want = new Map(take(whole.out.agg).map((r) => [key(r), r.event_count]));

    // Run 1 over the first part, to its end.
    const cut = 250;
    const first = actor();
    first.a.processBatch(batch(all.slice(0, cut)), now, now);
    first.a.endOfInput();
    const table = new Map(take(first.out.agg).map((r) => [key(r), r.event_count]));
    const cp = first.a.flush()!;
    expect(cp.provisionalFromMs).not.toBeNull();
    expect(cp.provisionalToMs).toBeGreaterThan(cp.provisionalFromMs!);
    expect(cp.closedThroughMs, 'the boundary stays the watermark\'s').toBeLessThan(cp.provisionalToMs!);

    // Run 2 restored as a warehouse would restore it: open windows from the events at or after the boundary,
    // and the keys of the windows written early that have a row.
    const accepted = all.slice(0, cut).filter((r) => r.ts >= cp.closedThroughMs!);
    const counts = new Map<string, { windowStart: number; eventType: number; levelId: null; count: number }>();
    for (const r of accepted) {
      const ws = r.ts - (r.ts % M);
      const k = `${ws}|${r.type}`;
      const c = counts.get(k) ?? { windowStart: ws, eventType: r.type, levelId: null, count: 0 };
      c.count++;
      counts.set(k, c);
    }
    const restore: ActorRestore = {
      checkpoint: cp as Checkpoint, windows: [...counts.values()],
      written: [...table.keys()].map((k) => k.split('|')).map(([ws, et]) => ({ windowStart: Number(ws), eventType: Number(et), levelId: null }))
        .filter((w) => w.windowStart >= cp.provisionalFromMs! && w.windowStart < cp.provisionalToMs!),
    };
    const second = actor();
    second.a.start(restore);
    second.a.processBatch(batch(all), now, now); // a replay from offset 0: the first part is skipped
    second.a.endOfInput();
    const inserted = take(second.out.agg);
    const rewritten = take(second.out.aggUpdates);
    expect(rewritten.length, 'rows of windows written early are rewritten').toBeGreaterThan(0);
    for (const r of rewritten) {
      expect(table.has(key(r)), `a rewrite of a row that exists: ${key(r)}`).toBe(true);
      table.set(key(r), r.event_count);
    }
    for (const r of inserted) {
      expect(table.has(key(r)), `an insert of a row that does not exist yet: ${key(r)}`).toBe(false);
      table.set(key(r), r.event_count);
    }
    expect(new Map([...table].sort())).toEqual(new Map([...want].sort()));
    // The counters match too: rows in the table, late events.
    const wholeCp = whole.a.flush()!;
    const secondCp = second.a.flush()!;
    expect(secondCp.windowRows).toBe(wholeCp.windowRows);
    expect(secondCp.lateEvents).toBe(wholeCp.lateEvents);
    expect(secondCp.events).toBe(wholeCp.events);
  });
});

describe('after the end of input', () => {
  it('an idle partition following the engine watermark does not write the windows written early again', () => {
    const { a, out } = actor();
    const all = records(100);
    const now = T0 + 3_600_000;
    a.processBatch(all.map((r) => ({ partition: 0, offset: r.offset, bytes: r.bytes })), now, now);
    a.endOfInput();
    const early = take(out.agg).length + take(out.aggUpdates).length;
    expect(early).toBeGreaterThan(0);
    // The supervisor keeps ticking while it drains; the engine watermark is then the highest partition's.
    a.onWatermark(T0 + 24 * 3_600_000, true);
    expect(out.agg.rows + out.aggUpdates.rows).toBe(0);
    expect(a.flush()!.provisionalToMs).not.toBeNull();
  });
});
