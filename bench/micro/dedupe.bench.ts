/**
 * Micro bench of the per-partition duplicate detector (src/partition/dedupe.ts): the cost of one seen() call
 * with a realistic moving maxTs, and the memory per held id.
 *   node bench/micro/dedupe.bench.ts
 * Latency is per seen() call: each run times BATCH calls (plus one evict(), as the partition does per batch)
 * and reports the mean, excluding the untimed preparation of the batch's ids.
 */
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bench } from 'tinybench';
import { DedupeStore } from '../../src/partition/dedupe.ts';

export const BATCH = 1000;
const HORIZON_MS = 300_000;
const T0 = 1_750_000_000_000;

/** Ids as the decoder hands them over: flat strings out of JSON.parse (not the cons strings of concatenation). */
function freshUuids(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(randomUUID());
  return JSON.parse(JSON.stringify(ids)) as string[];
}

let serial = 0;
function freshShortIds(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(`evt-${(serial++).toString(36)}-${i & 7}`);
  return JSON.parse(JSON.stringify(ids)) as string[];
}

/**
 * One partition's event stream: `rate` events per second of event time, each up to 2 s late, a share of them
 * retries of recent ids (≤ 30 s ago). It feeds a DedupeStore exactly as the partition does.
 */
class Stream {
  readonly store = new DedupeStore(HORIZON_MS);
  ids: string[] = [];
  readonly ts = new Float64Array(BATCH);
  readonly max = new Float64Array(BATCH);
  readonly #rate: number;
  readonly #fresh: (n: number) => string[];
  readonly #recent: string[] = [];
  #events = 0;
  #maxTs = 0;
  #rnd = 0x9e3779b9;
  dups = 0;

  constructor(rate: number, fresh: (n: number) => string[]) {
    this.#rate = rate;
    this.#fresh = fresh;
  }

  #random(): number {
    this.#rnd ^= this.#rnd << 13;
    this.#rnd ^= this.#rnd >>> 17;
    this.#rnd ^= this.#rnd << 5;
    return (this.#rnd >>> 0) / 4294967296;
  }

  /** Prepares the next BATCH events in ids/ts/max (untimed). */
  prepare(retryShare: number): void {
    const fresh = this.#fresh(BATCH);
    const recent = this.#recent;
    const ids: string[] = [];
    for (let i = 0; i < BATCH; i++) {
      const ts = T0 + Math.floor((this.#events++ * 1000) / this.#rate) - Math.floor(this.#random() * 2000);
      this.#maxTs = Math.max(this.#maxTs, ts);
      const retry = recent.length > 0 && this.#random() < retryShare;
      ids.push(retry ? recent[Math.floor(this.#random() * recent.length)] : fresh[i]);
      this.ts[i] = ts;
      this.max[i] = this.#maxTs;
      if (!retry) {
        if (recent.length < this.#rate * 30) recent.push(fresh[i]);
        else recent[Math.floor(this.#random() * recent.length)] = fresh[i];
      }
    }
    // Every id the store sees is a new string fresh out of the decoder, retries too (hot in cache, as in use).
    this.ids = JSON.parse(JSON.stringify(ids)) as string[];
  }

  /** Feeds the prepared batch; returns the elapsed ms. */
  run(): number {
    const { store, ids, ts, max } = this;
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) if (store.seen(ids[i], ts[i], max[i])) this.dups++;
    store.evict(max[BATCH - 1]);
    return performance.now() - t0;
  }

  /** Lets go of everything but the store, so a heap measurement sees only the store. */
  release(): void {
    this.#recent.length = 0;
    this.ids = [];
  }

  /** Runs until the horizon is full and the store is in its steady state. */
  fill(): this {
    const batches = Math.ceil(((HORIZON_MS / 1000) * 1.15 * this.#rate) / BATCH);
    for (let b = 0; b < batches; b++) {
      this.prepare(0.01);
      this.run();
    }
    return this;
  }
}

export async function benchDedupe(timeMs = 1000): Promise<Bench> {
  const big = new Stream(10_000, freshUuids).fill();
  const small = new Stream(100, freshUuids).fill();
  const strings = new Stream(3_000, freshShortIds).fill();
  const held = (s: Stream): string => `${(s.store.size / 1e6).toFixed(s.store.size < 1e6 ? 2 : 1)}M held`;

  const bench = new Bench({ name: `DedupeStore.seen(), ${HORIZON_MS / 60_000} min horizon, per call`, time: timeMs });
  const task = (stream: Stream, retryShare: number) => () => {
    stream.prepare(retryShare);
    const ms = stream.run();
    return { overriddenDuration: ms / BATCH, overriddenIterationCost: ms };
  };
  bench
    .add(`UUID, 1% retries, ${held(big)}`, task(big, 0.01))
    .add(`UUID, all retries (duplicates), ${held(big)}`, task(big, 1))
    .add(`UUID, 1% retries, ${held(small)}`, task(small, 0.01))
    .add(`short string id (Map path), 1% retries, ${held(strings)}`, task(strings, 0.01));
  await bench.run();
  return bench;
}

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Bytes per held id after a steady fill: approxBytes, and what the process actually gained. */
export function dedupeMemory(): { ids: string; held: number; approxBytesPerId: number; measuredBytesPerId: number; measuredBy: string }[] {
  const gc = gcFunction();
  const rows = [];
  for (const [ids, rate, fresh] of [
    ['UUID', 10_000, freshUuids],
    ['short string', 3_000, freshShortIds],
  ] as const) {
    gc();
    const before = process.memoryUsage();
    const stream = new Stream(rate, fresh).fill();
    stream.release();
    gc();
    const after = process.memoryUsage();
    const store = stream.store;
    const onHeap = ids === 'UUID' ? after.arrayBuffers - before.arrayBuffers : after.heapUsed - before.heapUsed;
    rows.push({
      ids,
      held: store.size,
      approxBytesPerId: Math.round((store.approxBytes / store.size) * 10) / 10,
      measuredBytesPerId: Math.round((onHeap / store.size) * 10) / 10,
      measuredBy: ids === 'UUID' ? 'arrayBuffers delta' : 'heapUsed delta (Maps and the id strings they keep)',
    });
  }
  return rows;
}

if (import.meta.main) {
  const bench = await benchDedupe();
  console.log(bench.name);
  console.table(bench.table());
  console.table(dedupeMemory());
}
