// Ground truth through a real Kafka broker: the dataset is produced to a topic exactly as a tracking server
// keyed by user_id would place it, and the daemon consumes it (stopping once caught up). The warehouse must
// equal the same independent truth as the file runs, after a clean run and after repeated kill -9.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { chromium } from 'playwright-core';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { truthFixture } from '../support/truth/fixture.ts';
import { compareWarehouse } from '../support/truth/compare.ts';
import { describeRun, runEngine, runWithKills } from '../support/truth/engine.ts';
import type { Expected } from '../support/truth/expected.ts';
import type { Dataset } from '../support/truth/generate.ts';
import {
  committedOffsets as committedOffsetsOn, createTopics as createTopicsOn, endOffsets as endOffsetsOn, produceDataset as produceDatasetOn,
} from '../support/kafka/dataset.ts';
import { kafkaConn, readTopic } from '../support/kafka/client.ts';

const TIMEOUT = 180_000;
const PARTITIONS = 16;

describe('ground truth through Kafka', { timeout: TIMEOUT }, () => {
  const brokers = inject('kafkaBrokers');
  // The copies the daemon publishes are LZ4 batches; the test's client (@platformatic/kafka) decompresses them.
  const kafka = kafkaConn(brokers);
  let dir: string;
  let ds: Dataset;
  let truth: Expected;
  let devices: string;
  let cityDb: string;

  const createTopics = (specs: { name: string; partitions: number }[]): Promise<void> => createTopicsOn(kafka, specs);
  const produceDataset = (topic: string, range: { from?: number; to?: number } = {}): Promise<void> => produceDatasetOn(kafka, topic, ds, PARTITIONS, range);
  const committedOffsets = (group: string, topic: string): Promise<Map<number, number>> => committedOffsetsOn(kafka, group, topic);
  const endOffsets = (topic: string): Promise<Map<number, number>> => endOffsetsOn(kafka, topic);

  function settings(topic: string, warehouse: string, group: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      GAMESTREAM_SOURCE: 'kafka',
      GAMESTREAM_KAFKA_BROKERS: brokers,
      GAMESTREAM_KAFKA_TOPIC: topic,
      GAMESTREAM_KAFKA_GROUP: group,
      GAMESTREAM_KAFKA_STOP: 'caught-up',
      GAMESTREAM_KAFKA_RAW_PARTITIONS: String(PARTITIONS),
      GAMESTREAM_KAFKA_ENRICHED_PARTITIONS: '4',
      GAMESTREAM_KAFKA_DLQ_PARTITIONS: '2',
      GAMESTREAM_WAREHOUSE: `duckdb:${warehouse}`,
      GAMESTREAM_DEVICE_TABLE: devices,
      GAMESTREAM_GEOIP_DB: cityDb,
      GAMESTREAM_WORKERS: '2',
      GAMESTREAM_LOG_LEVEL: 'warn',
      GAMESTREAM_IDLE_TIMEOUT: '1h',
      // The truth's dedupe horizon (5 min), so that retries on both sides of it are exercised.
      GAMESTREAM_DEDUPE_HORIZON: `${ds.options.horizonMs}ms`,
      ...extra,
    };
  }

  beforeAll(async () => {
    ({ dir, ds, truth, devices, cityDb } = await truthFixture('gamestream-kafka-truth-', { seed: 4242, events: 15_000, partitions: PARTITIONS }));
  }, TIMEOUT);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the live daemon's status page in headless Chromium and reads the totals it shows. */
  async function statusPageTotals(url: string): Promise<Record<string, string>> {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(`${url}/`, { waitUntil: 'load' });
      // Rendered from /api/status, with the warehouse view read (the 24 h chart is drawn, even if flat).
      await page.waitForFunction(() => {
        const d = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null; querySelector(q: string): unknown } }).document;
        return (d.getElementById('total-eventsWritten')?.textContent ?? '') !== '' && (d.getElementById('volat')?.textContent ?? '').startsWith('read ') && d.querySelector('#chart-volume canvas') !== null;
      }, undefined, { timeout: 20_000 });
      const read = async (id: string) => ((await page.locator(`#${id}`).innerText()) ?? '').replace(/,/g, '');
      await mkdir(new URL('../../test-artifacts', import.meta.url), { recursive: true });
      await page.screenshot({ path: new URL('../../test-artifacts/status-page-live.png', import.meta.url).pathname, fullPage: true });
      return { eventsWritten: await read('total-eventsWritten'), deadLetters: await read('total-deadLetters'), volumeChart: 'drawn' };
    } finally {
      await browser.close();
    }
  }

  /** The whole topic, every partition from offset 0 to its end offset. */
  async function readAll(topic: string): Promise<{ key: string | null; value: Buffer; headers: Record<string, string> }[]> {
    return readTopic(kafka, topic, { timeoutMs: 30_000 });
  }

  it('a clean run equals the truth, the group commits what the warehouse holds, and copies reach Kafka', async () => {
    const topic = `truth-${Date.now()}`;
    await produceDataset(topic);
    await createTopics([{ name: `${topic}-enriched`, partitions: 4 }, { name: `${topic}-dlq`, partitions: 2 }]);
    const wh = join(dir, 'clean.duckdb');
    const r = await runEngine(
      settings(topic, wh, `g-${topic}`, { GAMESTREAM_KAFKA_ENRICHED_TOPIC: `${topic}-enriched`, GAMESTREAM_KAFKA_DLQ_TOPIC: `${topic}-dlq` }),
      TIMEOUT - 10_000,
    );
    expect(r.code, describeRun(r)).toBe(0);
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
    expect(await committedOffsets(`g-${topic}`, topic)).toEqual(await endOffsets(topic));

    const enriched = await readAll(`${topic}-enriched`);
    expect(enriched.length).toBe(truth.events.length);
    const ids = new Set(enriched.map((m) => (JSON.parse(m.value.toString()) as { event_id: string; user_id: string }).event_id));
    expect(ids.size).toBe(new Set(truth.events.map((e) => `${e.event_id}`)).size);
    for (const m of enriched.slice(0, 100)) expect(m.key).toBe((JSON.parse(m.value.toString()) as { user_id: string }).user_id);
    const dlq = await readAll(`${topic}-dlq`);
    expect(dlq.length).toBe(truth.dlqRows.length);
    const codes: Record<string, number> = {};
    for (const m of dlq) codes[m.headers.error_code] = (codes[m.headers.error_code] ?? 0) + 1;
    expect(codes).toEqual(Object.fromEntries(Object.entries(truth.dlqCounts).filter(([, n]) => n > 0)));
    expect(dlq.every((m) => m.headers.stage && m.headers.source_offset && m.headers.failure_schema)).toBe(true);
  });

  it('kill -9 again and again, then restart: still exact', async () => {
    const topic = `crash-${Date.now()}`;
    await produceDataset(topic);
    const wh = join(dir, 'crash.duckdb');
    const env = settings(topic, wh, `g-${topic}`, {
      GAMESTREAM_FLUSH_INTERVAL: '200ms', GAMESTREAM_PROGRESS_INTERVAL: '100ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
      GAMESTREAM_BATCH_RECORDS: '300',
      // A killed member is only noticed when its session times out; keep that short so restarts are quick.
      GAMESTREAM_KAFKA_SESSION_TIMEOUT: '6s',
      GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off',
      GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
    });
    // Killed each time a tenth of the events more is written: every restart first waits out the killed member's
    // session (6 s), and a worker's first flush comes as soon as a window closes, so killing at every commit
    // took 20+ restarts of a few hundred events each on a busy machine.
    const { kills, last } = await runWithKills(env, TIMEOUT - 10_000, 20, Math.ceil(truth.events.length / 10));
    expect(last.code, describeRun(last)).toBe(0);
    expect(kills, 'the daemon was never killed mid-run').toBeGreaterThanOrEqual(2);
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
  }, 2 * TIMEOUT);

  it('a worker crashing mid-run: the batches it had read that were not yet durable are fetched again from the broker, and the warehouse is exact', async () => {
    const topic = `worker-crash-${Date.now()}`;
    await produceDataset(topic);
    const wh = join(dir, 'worker-crash.duckdb');
    // Small batches and a slow commit: worker 0 crashes with batches it has read (their bytes let go) not yet durable.
    const r = await runEngine(
      settings(topic, wh, `g-${topic}`, {
        GAMESTREAM_TEST_CRASH_WORKER: '0:5', GAMESTREAM_BATCH_RECORDS: '300', GAMESTREAM_TEST_COMMIT_DELAY: '300ms',
        GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
      }),
      TIMEOUT - 10_000,
    );
    expect(r.code, describeRun(r)).toBe(0);
    const m = /worker 0 crashed .*replayed (\d+) batch\(es\) that were not yet durable \((\d+) read again from the source\)/.exec(r.stdout);
    expect(m, describeRun(r)).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(0);
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
  });

  it('a slow warehouse and slow workers: partitions pause, the source waits, memory stays bounded, nothing is lost', async () => {
    const topic = `slow-${Date.now()}`;
    await produceDataset(topic);
    const wh = join(dir, 'slow.duckdb');
    // Only 4 MiB (the least allowed with 1 MiB events) may wait for a commit, and every commit takes 1 s more: the
    // source reads 4 MiB long before the first commit lands, so the bound is reached however busy the machine is.
    // (8 MiB with 400 ms against this 9.1 MB topic bound only when commits happened to be slow enough.)
    const limitMiB = 4;
    const topicBytes = ds.records.reduce((a, rec) => a + Buffer.byteLength(rec.line), 0);
    expect(topicBytes).toBeGreaterThan(2 * limitMiB * 2 ** 20);
    const r = await runEngine(
      settings(topic, wh, `g-${topic}`, {
        GAMESTREAM_TEST_COMMIT_DELAY: '1s', GAMESTREAM_MAX_UNCOMMITTED_BYTES: `${limitMiB}MiB`, GAMESTREAM_FLUSH_INTERVAL: '100ms',
        GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off', GAMESTREAM_LOG_LEVEL: 'debug',
        // A one-batch mailbox makes the workers fall behind the fetch, so their partitions get paused.
        GAMESTREAM_MAILBOX_BATCHES: '1', GAMESTREAM_BATCH_RECORDS: '200',
      }),
      TIMEOUT - 10_000,
    );
    expect(r.code, describeRun(r)).toBe(0);
    // The replay buffer never held more than its limit plus one batch, so the source really waited.
    expect(r.stderr).toMatch(/source waited/);
    expect(r.stderr).toMatch(/kafka partitions paused/);
    const peak = Math.max(...[...r.stderr.matchAll(/"retainedMB":(\d+)/g)].map((m) => Number(m[1])));
    expect(peak).toBeLessThanOrEqual(limitMiB * 1.05 + 2.2);
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
  });

  it('SIGTERM drains, commits the group at the warehouse position, leaves; a restart finishes exactly', async () => {
    const topic = `term-${Date.now()}`;
    await produceDataset(topic);
    const wh = join(dir, 'term.duckdb');
    const env = settings(topic, wh, `g-${topic}`, {
      GAMESTREAM_KAFKA_STOP: 'never', GAMESTREAM_PROGRESS_INTERVAL: '100ms', GAMESTREAM_MAX_UNCOMMITTED_BYTES: '4MiB',
      GAMESTREAM_BATCH_RECORDS: '300', GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
    });
    const first = await runEngine(env, TIMEOUT - 10_000, (out) => /written [1-9]/.test(out), 'SIGTERM');
    expect(first.code, describeRun(first)).toBe(0);
    expect(first.stdout).toMatch(/stopped:/);
    // The group's offsets are exactly the warehouse checkpoints, partition by partition.
    const inst = await DuckDBInstance.create(wh, { access_mode: 'READ_ONLY' });
    const conn = await inst.connect();
    const rows = (await conn.runAndReadAll(`SELECT source_partition, next_offset FROM gamestream_checkpoints WHERE source = 'kafka:${topic}'`)).getRows();
    conn.closeSync();
    inst.closeSync();
    const checkpoints = new Map(rows.map((r) => [Number(r[0]), Number(r[1])]));
    expect(checkpoints.size).toBeGreaterThan(0);
    const committed = await committedOffsets(`g-${topic}`, topic);
    for (const [p, next] of checkpoints) expect(committed.get(p), `partition ${p}`).toBe(next);
    const second = await runEngine(settings(topic, wh, `g-${topic}`, { GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off' }), TIMEOUT - 10_000);
    expect(second.code, describeRun(second)).toBe(0);
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
  });

  it('caught up, then more records, then a normal daemon: the windows the first wrote early are completed exactly', async () => {
    const topic = `grow-${Date.now()}`;
    const cut = Math.floor(ds.records.length / 2);
    await produceDataset(topic, { to: cut });
    const wh = join(dir, 'grow.duckdb');
    const env = settings(topic, wh, `g-${topic}`, { GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off', GAMESTREAM_PROGRESS_INTERVAL: '200ms' });
    const first = await runEngine(env, TIMEOUT - 10_000);
    expect(first.code, describeRun(first)).toBe(0);
    await produceDataset(topic, { from: cut });
    // A normal daemon reads the rest; SIGTERM once it has read all of it (it drains: everything read is
    // committed). Its windows stay open, as for any stopped daemon, and a last caught-up run closes them.
    const read = (out: string): number => Math.max(0, ...[...out.matchAll(/ in ([\d,]+) /g)].map((m) => Number(m[1]!.replaceAll(',', ''))));
    const normal = await runEngine({ ...env, GAMESTREAM_KAFKA_STOP: 'never' }, TIMEOUT - 10_000, (out) => read(out) >= ds.records.length - cut, 'SIGTERM');
    expect(normal.code, describeRun(normal)).toBe(0);
    expect(read(normal.stdout), describeRun(normal)).toBe(ds.records.length - cut);
    const last = await runEngine(env, TIMEOUT - 10_000);
    expect(last.code, describeRun(last)).toBe(0);
    expect(await compareWarehouse(wh, truth, { geoLayout: 'official' })).toEqual([]);
  }, 2 * TIMEOUT);

  it('SIGTERM on an idle topic stops at once instead of waiting for data', async () => {
    const topic = `idle-${Date.now()}`;
    await createTopics([{ name: topic, partitions: PARTITIONS }]);
    const wh = join(dir, 'idle.duckdb');
    const started = Date.now();
    const r = await runEngine(
      settings(topic, wh, `g-${topic}`, { GAMESTREAM_KAFKA_STOP: 'never', GAMESTREAM_PROGRESS_INTERVAL: '500ms', GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off' }),
      60_000,
      // The second progress line: the daemon is up and has been idle for a while.
      (out) => (out.match(/ in 0 /g) ?? []).length >= 2,
      'SIGTERM',
    );
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(/stopped:/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('a live daemon: metrics and the status page in Chromium equal the truth, lag reaches 0, readyz is ready', async () => {
    const topic = `metrics-${Date.now()}`;
    await produceDataset(topic);
    const wh = join(dir, 'metrics.duckdb');
    let url = '';
    let scraped = '';
    let ready = 0;
    let pageTotals: Record<string, string> = {};
    let alive = 0;
    const total = truth.dlqRows.length;
    const run = runEngine(
      // Progress lines every 500 ms: the stop signal is sent on the first one after the scrape.
      settings(topic, wh, `g-${topic}`, { GAMESTREAM_KAFKA_STOP: 'never', GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off', GAMESTREAM_PROGRESS_INTERVAL: '500ms' }),
      TIMEOUT - 10_000,
      (out) => {
        const m = /status page on (http:\/\/[^\s]+)/.exec(out);
        if (m) url = m[1];
        return scraped !== '';
      },
      'SIGTERM',
    );
    const deadline = Date.now() + 90_000;
    const dlqSum = (text: string): number =>
      [...text.matchAll(/^gamestream_dead_letters_total\{code="[a-z_]+"\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      if (!url) continue;
      const text = await fetch(`${url}/metrics`).then((r) => r.text()).catch(() => '');
      const lags = [...text.matchAll(/^gamestream_kafka_consumer_lag\{partition="\d+"\} (\d+)/gm)].map((m) => Number(m[1]));
      // Lag is read from the broker every 10 s: wait until it shows every partition caught up too. The group's
      // offsets are committed after the warehouse commit and counted when the broker answers, so a run that fits
      // in one warehouse commit can show caught-up lag before its first group commit is counted.
      const groupCommits = Number(/^gamestream_kafka_offset_commits_total (\d+)/m.exec(text)?.[1] ?? 0);
      if (dlqSum(text) >= total && lags.length === PARTITIONS && lags.every((l) => l === 0) && groupCommits > 0) {
        ready = (await fetch(`${url}/readyz`)).status;
        alive = (await fetch(`${url}/healthz`)).status;
        pageTotals = await statusPageTotals(url);
        scraped = text;
        break;
      }
    }
    const r = await run;
    expect(scraped, describeRun(r)).not.toBe('');
    expect(ready).toBe(200);
    expect(alive).toBe(200);
    for (const [code, n] of Object.entries(truth.dlqCounts)) {
      const m = new RegExp(`^gamestream_dead_letters_total\\{code="${code}"\\} (\\d+)`, 'm').exec(scraped);
      expect(m ? Number(m[1]) : 0, code).toBe(n);
    }
    const written = [...scraped.matchAll(/^gamestream_events_written_total\{partition="\d+"\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    expect(written).toBe(truth.events.length);
    expect([...scraped.matchAll(/^gamestream_kafka_consumer_lag\{partition="\d+"\} 0$/gm)].length).toBe(PARTITIONS);
    // Gauges the threads report: every worker thread and the supervisor have an event-loop lag.
    for (const thread of ['main', 'worker-0', 'worker-1']) expect(scraped).toMatch(new RegExp(`^gamestream_event_loop_lag_seconds\\{thread="${thread}"\\} `, 'm'));
    expect(scraped).toMatch(/^gamestream_open_windows \d+/m);
    // Fetches, group commits and the first assignment were counted; rows and bytes went to the warehouse.
    expect(Number(/^gamestream_kafka_fetched_records_total (\d+)/m.exec(scraped)?.[1] ?? 0)).toBeGreaterThanOrEqual(ds.records.length);
    expect(Number(/^gamestream_kafka_offset_commits_total (\d+)/m.exec(scraped)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(Number(/^gamestream_kafka_rebalances_total (\d+)/m.exec(scraped)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(Number(/^gamestream_sink_bytes_total\{sink="warehouse",table="events"\} (\d+)/m.exec(scraped)?.[1] ?? 0)).toBeGreaterThan(1_000_000);
    // Every table's bytes move, not only the events' (the dead letters and window rows once never did).
    for (const table of ['dlq', 'agg']) {
      expect(Number(new RegExp(`^gamestream_sink_bytes_total\\{sink="warehouse",table="${table}"\\} (\\d+)`, 'm').exec(scraped)?.[1] ?? 0), table).toBeGreaterThan(1_000);
    }
    // Windows closed while the stream ran: each one's emit latency was observed at its commit.
    expect(Number(/^gamestream_window_emit_latency_seconds_count (\d+)/m.exec(scraped)?.[1] ?? 0)).toBeGreaterThan(0);
    // The status page of the same live daemon, in a real browser, shows the same committed totals.
    expect(pageTotals.eventsWritten).toBe(String(truth.events.length));
    expect(pageTotals.deadLetters).toBe(String(truth.dlqRows.length));
    expect(pageTotals.volumeChart).toBe('drawn');
  });
});
