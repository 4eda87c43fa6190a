// An event id is stored once, whichever source brings it (docs/SEMANTICS.md, "Duplicates"): the ground-truth
// set loaded from a file, then again from a copy under another path (killed with kill -9 along the way), then
// once more through Kafka, into one DuckDB warehouse. After the first load the warehouse equals the independent
// truth; the later loads add no event and no window row, and change no count. And a client retry three days
// after its original, in event time, is dropped with the default horizon, from the same file and from another.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kafkaConn } from '../support/kafka/client.ts';
import { createTopics, produceDataset } from '../support/kafka/dataset.ts';
import { compareWarehouse } from '../support/truth/compare.ts';
import { describeRun, runEngine, type EngineRun } from '../support/truth/engine.ts';
import type { Expected } from '../support/truth/expected.ts';
import { truthFixture } from '../support/truth/fixture.ts';
import type { Dataset } from '../support/truth/generate.ts';

const TIMEOUT = 240_000;
const PARTITIONS = 16;
// The index keeps an id while the newest event it has seen is within the horizon plus its slack (5 + 10 min
// here) of it (docs/SEMANTICS.md); a re-sent file is deduplicated whole only if it spans less than that.
const SPAN_MS = 10 * 60_000;

/** The last "duplicates N" figure of the progress lines. */
function duplicatesSoFar(stdout: string): number {
  const all = [...stdout.matchAll(/duplicates ([\d,]+)/g)];
  return all.length === 0 ? 0 : Number(all.at(-1)![1]!.replaceAll(',', ''));
}

describe('one event id, stored once, whichever source brings it', { timeout: TIMEOUT }, () => {
  const brokers = inject('kafkaBrokers');
  const kafka = kafkaConn(brokers);
  let dir: string;
  let ds: Dataset;
  let truth: Expected;
  let devices: string;
  let cityDb: string;
  let ndjson: string;

  beforeAll(async () => {
    const fx = await truthFixture('gamestream-dedupe-sources-', { seed: 31337, events: 12_000, partitions: PARTITIONS, durationMs: SPAN_MS }, { ndjson: true });
    ({ dir, ds, truth, devices, cityDb } = fx);
    ndjson = fx.ndjson!;
  }, TIMEOUT);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function settings(source: string, warehouse: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      GAMESTREAM_SOURCE: source,
      GAMESTREAM_WAREHOUSE: `duckdb:${warehouse}`,
      GAMESTREAM_DEVICE_TABLE: devices,
      GAMESTREAM_GEOIP_DB: cityDb,
      GAMESTREAM_PARTITIONS: String(PARTITIONS),
      GAMESTREAM_WORKERS: '2',
      GAMESTREAM_LOG_LEVEL: 'warn',
      GAMESTREAM_ETL: 'off',
      GAMESTREAM_IDLE_TIMEOUT: '1h',
      // Small flushes: many runs, so the index merges (and prunes) while the files are read.
      GAMESTREAM_FLUSH_ROWS: '300',
      // The truth's horizon (5 min): the dataset's retries beyond it are stored again by its own rule; every
      // copy of a stored event that another source brings is within it.
      GAMESTREAM_DEDUPE_HORIZON: `${ds.options.horizonMs}ms`,
      ...extra,
    };
  }

  async function run(env: Record<string, string>): Promise<EngineRun> {
    const r = await runEngine(env, TIMEOUT - 30_000);
    expect(r.code, describeRun(r)).toBe(0);
    return r;
  }

  /** Every events and events_agg_1min row, and the per-source totals, as sorted text: what must not change. */
  async function snapshot(warehouse: string): Promise<{ events: string[]; agg: string[]; totals: Record<string, number[]>; dlq: Record<string, number> }> {
    const inst = await DuckDBInstance.create(warehouse, { access_mode: 'READ_ONLY' });
    const conn = await inst.connect();
    const all = async (sql: string): Promise<unknown[][]> => (await conn.runAndReadAll(sql)).getRowsJson() as unknown[][];
    try {
      const events = (await all('SELECT * FROM events')).map((r) => JSON.stringify(r)).sort();
      const agg = (await all('SELECT * FROM events_agg_1min')).map((r) => JSON.stringify(r)).sort();
      const totals: Record<string, number[]> = {};
      for (const [s, e, dup, w] of await all('SELECT source, sum(events), sum(duplicates), sum(window_rows) FROM gamestream_checkpoints GROUP BY ALL')) {
        totals[String(s)] = [Number(e), Number(dup), Number(w)];
      }
      const dlq: Record<string, number> = {};
      for (const [s, n] of await all('SELECT source, count(*) FROM events_dlq GROUP BY ALL')) dlq[String(s)] = Number(n);
      return { events, agg, totals, dlq };
    } finally {
      conn.closeSync();
      inst.closeSync();
    }
  }

  it('a file, its copy under another path (with kill -9 mid-run), then the same events through Kafka', async () => {
    const wh = join(dir, 'three.duckdb');
    await run(settings(`file:${ndjson}`, wh));
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
    const first = await snapshot(wh);
    const stored = truth.events.length;
    expect(first.events.length).toBe(stored);

    // The same file re-sent under a new name; killed whenever it has dropped more duplicates (it writes no
    // event), then run to its end.
    const copy = join(dir, 'resent.ndjson');
    copyFileSync(ndjson, copy);
    const paced = settings(`file:${copy}`, wh, {
      GAMESTREAM_BATCH_RECORDS: '300', GAMESTREAM_FLUSH_INTERVAL: '200ms', GAMESTREAM_PROGRESS_INTERVAL: '100ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
    });
    let kills = 0;
    let seen = 0;
    let last: EngineRun;
    for (;;) {
      last = await runEngine(paced, TIMEOUT - 30_000, (out) => duplicatesSoFar(out) > seen);
      if (last.signal !== 'SIGKILL') break;
      kills++;
      seen = Math.max(seen, duplicatesSoFar(last.stdout));
    }
    expect(last.code, describeRun(last)).toBe(0);
    expect(kills, 'the copy was never killed mid-run').toBeGreaterThanOrEqual(1);
    const second = await snapshot(wh);
    expect(second.events).toEqual(first.events);
    expect(second.agg).toEqual(first.agg);
    // Every valid record of the copy was a duplicate: the events it did not store, and the retries the
    // first load dropped. Its dead letters are its own (docs/SEMANTICS.md: dead letters are per source).
    const validRecords = stored + truth.duplicates;
    expect(second.totals[`file:${copy}`]).toEqual([0, validRecords, 0]);
    expect(second.totals[`file:${ndjson}`]).toEqual(first.totals[`file:${ndjson}`]);
    expect(second.dlq[`file:${copy}`]).toBe(truth.dlqRows.length);

    // The same events through Kafka, as a mirrored topic would bring them.
    const topic = `resent-${Date.now()}`;
    await createTopics(kafka, [{ name: topic, partitions: PARTITIONS }]);
    await produceDataset(kafka, topic, ds, PARTITIONS);
    await run(settings('kafka', wh, {
      GAMESTREAM_KAFKA_BROKERS: brokers, GAMESTREAM_KAFKA_TOPIC: topic, GAMESTREAM_KAFKA_GROUP: `g-${topic}`, GAMESTREAM_KAFKA_STOP: 'caught-up',
      GAMESTREAM_KAFKA_RAW_PARTITIONS: String(PARTITIONS), GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
    }));
    const third = await snapshot(wh);
    expect(third.events).toEqual(first.events);
    expect(third.agg).toEqual(first.agg);
    const kafkaTotals = Object.entries(third.totals).find(([s]) => s.startsWith('kafka:'));
    expect(kafkaTotals?.[1]).toEqual([0, validRecords, 0]);
  });

  it('a retry three days after its original in event time is dropped with the default horizon, from any source', async () => {
    const t0 = Date.parse('2026-11-20T10:00:00Z');
    const event = (id: string, ms: number, user = 'u-1'): string =>
      JSON.stringify({ id, user_id: user, timestamp: new Date(ms).toISOString(), type: 1001, name: 'level_start', parameters: { level_id: 3 } });
    const original = event('0b7c9d3e-1f2a-4b5c-8d9e-0a1b2c3d4e5f', t0);
    const lines = [original];
    // Three days of the same player's events, an hour apart, then the client resends the first one.
    for (let h = 1; h <= 72; h++) lines.push(event(`evt-${h}`, t0 + h * 3_600_000));
    lines.push(original);
    const file = join(dir, 'late-retry.ndjson');
    writeFileSync(file, lines.join('\n') + '\n');
    const only = join(dir, 'only-the-retry.ndjson');
    writeFileSync(only, `${original}\n`);
    const base = (source: string, wh: string): Record<string, string> => {
      const s = settings(source, wh);
      delete s.GAMESTREAM_DEDUPE_HORIZON;
      return s;
    };
    const wh = join(dir, 'retry.duckdb');
    await run(base(`file:${file}`, wh));
    await run(base(`file:${only}`, wh));
    const snap = await snapshot(wh);
    expect(snap.events.length).toBe(73);
    expect(snap.totals[`file:${file}`]).toEqual([73, 1, expect.any(Number)]);
    expect(snap.totals[`file:${only}`]).toEqual([0, 1, 0]);

    // With a horizon shorter than three days the same retry is stored again: the test can fail.
    const short = join(dir, 'retry-short.duckdb');
    await run({ ...base(`file:${file}`, short), GAMESTREAM_DEDUPE_HORIZON: '2d' });
    expect((await snapshot(short)).events.length).toBe(74);
  });
});
