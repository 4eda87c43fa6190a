/**
 * Steady load, for freshness and for a soak: a local broker (scripts/kafka/start.sh, unless
 * GAMESTREAM_KAFKA_BROKERS names one), the tracking server in this process, the load generator in a worker thread
 * of this process posting BENCH_RATE events/s for BENCH_SECONDS, and the daemon as a child process
 * (`gamestream run`, GAMESTREAM_SOURCE=kafka, GAMESTREAM_KAFKA_STOP=never, default settings otherwise) reading a
 * fresh 64-partition topic, with its metrics server on a free 127.0.0.1 port.
 *
 *   node bench/steady.ts                          120 s at 50k events/s: freshness
 *   BENCH_SECONDS=1800 node bench/steady.ts       the 30-minute soak
 *   BENCH_RATE=50000 BENCH_SECONDS=120 BENCH_WARMUP=10 BENCH_BATCH=500 BENCH_CONCURRENCY=64 node bench/steady.ts
 *
 * Before the measured load: the daemon's first partition assignment, then BENCH_WARMUP seconds of the same load
 * (not measured) and until the daemon has committed it. BENCH_COPIES=off turns the daemon's copies of committed
 * rows to the enriched and dead-letter topics off (they are on by default).
 * Every 10 s it samples the daemon's RSS (VmRSS) and CPU (utime + stime) from /proc, the rate the tracking server
 * accepted, what the daemon committed and its consumer lag. When the load ends it waits (up to 60 s) until the
 * daemon has committed everything in the topic, then prints: events/s achieved, daemon CPU µs per event (CPU
 * over the load and catch-up ÷ records committed meanwhile), RSS at 5 min (at 25% of the run for runs under 20
 * min) and at the end with the growth and the daemon's memory by part at both (its gauges: each thread's V8 heap and
 * buffers, the dedupe filter, DuckDB's buffer manager, and the rest), peak RSS (VmHWM), and p50/p99/max of the two freshness histograms
 * (gamestream_event_freshness_seconds, gamestream_window_emit_latency_seconds) over the load: p50 and p99
 * interpolated linearly inside their bucket as Prometheus' histogram_quantile does, max as the bucket it fell in,
 * and the exact shares at or below 1 s and 2 s (bucket edges). Results go to bench/results/steady-<date>.json.
 * The daemon is stopped with SIGTERM and awaited by its pid; the topics it used are deleted.
 *
 * BENCH_SOURCE=generator soaks the daemon's own generator source instead, with nothing else running (no broker,
 * tracking server or load generator): the daemon as a child (GAMESTREAM_SOURCE=generator,
 * GAMESTREAM_GENERATOR_RATE=BENCH_RATE, default settings otherwise) with a fresh DuckDB warehouse in a temp
 * folder (deleted at the end) and its metrics server on a free 127.0.0.1 port. After /readyz and BENCH_WARMUP
 * seconds (not measured) it measures for BENCH_SECONDS, sampling every 10 s the daemon's RSS, CPU, the records it
 * committed and its watermark delay, then prints the same summary over the measured period: records committed per
 * second (gamestream_records_in_total), CPU µs per record, RSS at 5 min / 25% and at the end, peak RSS, and the two
 * latency histograms. The generator stamps events with the current time, so windows close as time passes; it is
 * pulled by the daemon, so a daemon that cannot keep up shows as a committed rate below BENCH_RATE rather than as
 * freshness. Results go to bench/results/steady-generator-<date>.json.
 *
 *   BENCH_SOURCE=generator node bench/steady.ts                       120 s at 50k events/s
 *   BENCH_SOURCE=generator BENCH_SECONDS=1800 node bench/steady.ts    the 30-minute soak of the daemon alone
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdmin } from '../src/kafka-platformatic/client.ts';
import { endOffsetsOf, ensureTopics } from '../src/kafka-platformatic/topics.ts';
import { formatLoadgenReport } from '../src/ingest/loadgen.ts';
import type { startIngestServer } from '../src/ingest/server.ts';
import { createLogger } from '../src/log.ts';
import { freePort, startLocalBroker, stopLocalBroker, type LocalBroker } from '../test/setup/kafka-broker.ts';
import {
  BUCKETS_NOTE, cpuOf, EMIT, FRESHNESS, latency, machine as machineInfo, memoryParts, num, printSummary, printTail, printWarnings, procStats, rssOf,
  SAMPLE_MS, scrape, spawnDaemon, stopDaemon, sumOf, waitReady, writeResults, type Daemon, type MemoryParts,
} from './daemon-watch.ts';
import { BENCH_API_KEY, loadgenInWorker, startBenchServer } from './tracking-server.ts';

interface Sample {
  t: number;
  rssMb: number;
  cpuSeconds: number;
  acceptedPerSec: number;
  committed: number;
  lag: number;
  /** Warehouse commits since the previous sample, and their mean duration. */
  commits: number;
  commitMs: number;
  memory: MemoryParts;
}

async function kafkaMode(): Promise<void> {
  const seconds = num('BENCH_SECONDS', 120);
  const rate = num('BENCH_RATE', 50_000);
  const batchSize = num('BENCH_BATCH', 500);
  const concurrency = num('BENCH_CONCURRENCY', 64);
  const warmup = num('BENCH_WARMUP', 10);
  // The daemon's copies of committed rows to Kafka (on by default when it reads Kafka); BENCH_COPIES=off for none.
  const copies = process.env.BENCH_COPIES !== 'off';
  const log = createLogger(process.env.GAMESTREAM_LOG_LEVEL ?? 'warn');
  const machine = machineInfo();

  let broker: LocalBroker | null = null;
  let brokers = process.env.GAMESTREAM_KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean);
  if (!brokers?.length) {
    broker = await startLocalBroker();
    brokers = [broker.bootstrap];
    console.log(`[steady] broker ${broker.bootstrap} started in ${(broker.startMs / 1000).toFixed(1)} s`);
  }
  const work = mkdtempSync(join(tmpdir(), 'gamestream-steady-'));
  const topic = `bench-steady-${Date.now()}`;
  const topics = [topic, `${topic}-enriched`, `${topic}-dlq`];
  const admin = createAdmin({ brokers, clientId: 'gamestream-bench' });
  const daemonLog = join(work, 'daemon.log');
  let ok = false;
  let daemon: Daemon | null = null;
  let server: Awaited<ReturnType<typeof startIngestServer>> | null = null;
  const timers: NodeJS.Timeout[] = [];
  try {
    await ensureTopics(admin, [{ name: topic, partitions: 64, retentionMs: 3_600_000 }]);
    const apiKey = BENCH_API_KEY;
    server = await startBenchServer(brokers, topic, log);

    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    daemon = spawnDaemon({
      GAMESTREAM_SOURCE: 'kafka', GAMESTREAM_KAFKA_BROKERS: brokers.join(','), GAMESTREAM_KAFKA_TOPIC: topic,
      GAMESTREAM_KAFKA_GROUP: `${topic}-group`, GAMESTREAM_KAFKA_STOP: 'never',
      GAMESTREAM_KAFKA_ENRICHED_TOPIC: copies ? topics[1] : 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: copies ? topics[2] : 'off',
      GAMESTREAM_WAREHOUSE: `duckdb:${join(work, 'steady.duckdb')}`,
      GAMESTREAM_METRICS_HOST: '127.0.0.1', GAMESTREAM_METRICS_PORT: String(metricsPort),
      GAMESTREAM_LOG_LEVEL: process.env.GAMESTREAM_LOG_LEVEL ?? 'warn', GAMESTREAM_PROGRESS_INTERVAL: '0',
    }, daemonLog);
    const { pid, dead } = daemon;
    const deadline = Date.now() + 120_000;
    await waitReady(daemon, metricsUrl, daemonLog, deadline);
    // Ready means consuming; the group's first assignment (after its initial rebalance delay) comes a little later.
    while (sumOf(await scrape(metricsUrl), 'gamestream_kafka_rebalances_total') < 1) {
      if (Date.now() > deadline) throw new Error(`the daemon was given no partitions; see ${daemonLog}`);
      await sleep(250);
    }
    await sleep(1000);
    // Caught up: the daemon has committed every record the topic holds (a fresh warehouse counts from offset 0).
    const inTopic = async () => [...(await endOffsetsOf(admin, topic)).values()].reduce((n, o) => n + o, 0);
    const catchUp = async (withinMs: number): Promise<boolean> => {
      const target = await inTopic();
      for (const until = Date.now() + withinMs; Date.now() < until; await sleep(500)) {
        if (sumOf(await scrape(metricsUrl), 'gamestream_records_in_total') >= target) return true;
      }
      return false;
    };
    console.log(`[steady] daemon pid ${pid} ready (metrics ${metricsUrl}); topic ${topic}; warming up for ${warmup} s`);
    if (warmup > 0) {
      // The client, the broker and the daemon's JIT are slow for their first records; not measured.
      await Promise.race([loadgenInWorker({ url: server.url, apiKey, rate, seconds: warmup, batchSize, concurrency, seed: 1 }), dead]);
      if (!(await catchUp(60_000))) throw new Error('the daemon did not catch up with the warm-up within 60 s');
    }
    console.log(`[steady] measuring: ${rate} events/s for ${seconds} s, batches of ${batchSize}, ${concurrency} in flight`);

    const before = await scrape(metricsUrl);
    const warmedUp = await inTopic();
    const p0 = procStats(pid);
    const t0 = performance.now();
    const samples: Sample[] = [];
    let lastAccepted = server.stats().acceptedEvents;
    let lastT = t0;
    let lastScrape = before;
    const COMMIT = 'gamestream_sink_flush_duration_seconds';
    const since = (m: Map<string, number>, series: string) => (m.get(series) ?? 0) - (lastScrape.get(series) ?? 0);
    const sample = async (): Promise<Sample> => {
      const p = procStats(pid);
      const m = await scrape(metricsUrl);
      const now = performance.now();
      const accepted = server!.stats().acceptedEvents;
      const s: Sample = {
        t: Math.round((now - t0) / 1000), rssMb: Math.round(p.rssMb), cpuSeconds: Number((p.cpuSeconds - p0.cpuSeconds).toFixed(2)),
        acceptedPerSec: Math.round((accepted - lastAccepted) / ((now - lastT) / 1000)),
        committed: sumOf(m, 'gamestream_records_in_total') - sumOf(before, 'gamestream_records_in_total'), lag: sumOf(m, 'gamestream_kafka_consumer_lag'),
        commits: since(m, `${COMMIT}_count{sink="warehouse"}`),
        commitMs: Math.round((since(m, `${COMMIT}_sum{sink="warehouse"}`) / Math.max(1, since(m, `${COMMIT}_count{sink="warehouse"}`))) * 1000),
        memory: memoryParts(m),
      };
      lastScrape = m;
      lastAccepted = accepted;
      lastT = now;
      samples.push(s);
      console.log(`[steady] t=${String(s.t).padStart(5)} s  RSS ${String(s.rssMb).padStart(5)} MB  CPU ${s.cpuSeconds.toFixed(1).padStart(7)} s  accepted ${String(s.acceptedPerSec).padStart(6)}/s  committed ${s.committed}  lag ${s.lag}  commits ${s.commits} (mean ${s.commitMs} ms)`);
      return s;
    };
    timers.push(setInterval(() => void sample().catch((err: unknown) => console.error('[steady] sample failed:', (err as Error).message)), SAMPLE_MS));

    const report = await Promise.race([loadgenInWorker({ url: server.url, apiKey, rate, seconds, batchSize, concurrency, seed: 42 }), dead]);
    const loadEnd = performance.now();
    // Caught up: everything in the topic committed (the lag metric is refreshed only every 10 s).
    const caughtUp = await catchUp(60_000);
    const target = (await inTopic()) - warmedUp;
    const baseCommitted = sumOf(before, 'gamestream_records_in_total');
    const catchUpSeconds = (performance.now() - loadEnd) / 1000;
    for (const t of timers.splice(0)) clearInterval(t);
    const last = await sample();
    const after = await scrape(metricsUrl);
    const p1 = procStats(pid);
    const committed = sumOf(after, 'gamestream_records_in_total') - baseCommitted;

    const loadSamples = samples.filter((s) => s.t <= seconds);
    const result = {
      machine,
      settings: { rate, seconds, warmupSeconds: warmup, batchSize, concurrency, partitions: 64, copiesToKafka: copies, sampleSeconds: SAMPLE_MS / 1000, brokers: broker ? 'started by the bench' : brokers.join(',') },
      loadgen: report,
      achievedEventsPerSec: Math.round(report.rate),
      inTopic: target,
      committed,
      caughtUp,
      catchUpSeconds: Number(catchUpSeconds.toFixed(1)),
      ...cpuOf(p0, p1, committed, (performance.now() - t0) / 1000),
      rss: {
        ...rssOf(samples, last, seconds, p1),
        minAcceptedPerSecDuringLoad: loadSamples.length ? Math.min(...loadSamples.map((s) => s.acceptedPerSec)) : null,
      },
      freshness: latency(before, after, FRESHNESS),
      windowEmitLatency: latency(before, after, EMIT),
      bucketsNote: BUCKETS_NOTE,
      samples,
    };

    console.log(`[steady] ${formatLoadgenReport(report)}`);
    console.log(`[steady] achieved ${result.achievedEventsPerSec} events/s (target ${rate}); in the topic ${target}, committed ${committed}${caughtUp ? `, caught up ${result.catchUpSeconds} s after the load` : ' — NOT caught up 60 s after the load'}`);
    printSummary(result, 'the load and catch-up');
    writeResults('steady', machine.date, result);
    ok = true;
    // What the daemon warned about (its alerts among them: consumer lag, dead-letter share).
    printWarnings(daemonLog);
  } finally {
    for (const t of timers) clearInterval(t);
    if (daemon) {
      const code = await stopDaemon(daemon.child);
      console.log(`[steady] daemon stopped (exit ${code})`);
    }
    await server?.close().catch(() => undefined);
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.close().catch(() => undefined);
    if (broker) stopLocalBroker(broker);
    if (!ok) printTail(daemonLog);
    // The warehouse and the dedupe index: about 61 + 32 MB per million events.
    rmSync(work, { recursive: true, force: true });
  }
}

/** One sample of the generator mode: what the daemon committed since the previous one. */
interface GeneratorSample {
  t: number;
  rssMb: number;
  cpuSeconds: number;
  committedPerSec: number;
  committed: number;
  /** Wall clock minus the engine watermark. */
  watermarkDelaySeconds: number | null;
  commits: number;
  commitMs: number;
  /** Warehouse commits that took more than 1 s, and windows committed more than 1 s after they closed. */
  commitsOver1s: number;
  windowsOver1s: number;
  memory: MemoryParts;
}

/** BENCH_SOURCE=generator: the daemon's own generator source at BENCH_RATE, with nothing else running. */
async function generatorMode(): Promise<void> {
  const seconds = num('BENCH_SECONDS', 120);
  const rate = num('BENCH_RATE', 50_000);
  const warmup = num('BENCH_WARMUP', 10);
  const machine = machineInfo();
  const work = mkdtempSync(join(tmpdir(), 'gamestream-steady-'));
  const daemonLog = join(work, 'daemon.log');
  let ok = false;
  let daemon: Daemon | null = null;
  const timers: NodeJS.Timeout[] = [];
  try {
    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    daemon = spawnDaemon({
      GAMESTREAM_SOURCE: 'generator', GAMESTREAM_GENERATOR_RATE: String(rate),
      GAMESTREAM_WAREHOUSE: `duckdb:${join(work, 'steady.duckdb')}`,
      GAMESTREAM_METRICS_HOST: '127.0.0.1', GAMESTREAM_METRICS_PORT: String(metricsPort),
      GAMESTREAM_LOG_LEVEL: process.env.GAMESTREAM_LOG_LEVEL ?? 'warn', GAMESTREAM_PROGRESS_INTERVAL: '0',
    }, daemonLog);
    const { pid, dead } = daemon;
    await waitReady(daemon, metricsUrl, daemonLog, Date.now() + 120_000);
    console.log(`[steady] daemon pid ${pid} ready (metrics ${metricsUrl}); generator source at ${rate} events/s; warming up for ${warmup} s`);
    // The daemon's JIT and first commits; not measured.
    await Promise.race([sleep(warmup * 1000), dead]);
    console.log(`[steady] measuring for ${seconds} s`);

    const RECORDS = 'gamestream_records_in_total';
    const COMMIT = 'gamestream_sink_flush_duration_seconds';
    const before = await scrape(metricsUrl);
    const p0 = procStats(pid);
    const t0 = performance.now();
    const samples: GeneratorSample[] = [];
    let lastT = t0;
    let lastScrape = before;
    const since = (m: Map<string, number>, series: string) => (m.get(series) ?? 0) - (lastScrape.get(series) ?? 0);
    const sample = async (): Promise<GeneratorSample> => {
      const p = procStats(pid);
      const m = await scrape(metricsUrl);
      const now = performance.now();
      const delay = m.get('gamestream_watermark_delay_seconds');
      const s: GeneratorSample = {
        t: Math.round((now - t0) / 1000), rssMb: Math.round(p.rssMb), cpuSeconds: Number((p.cpuSeconds - p0.cpuSeconds).toFixed(2)),
        committedPerSec: Math.round((sumOf(m, RECORDS) - sumOf(lastScrape, RECORDS)) / ((now - lastT) / 1000)),
        committed: sumOf(m, RECORDS) - sumOf(before, RECORDS),
        watermarkDelaySeconds: delay === undefined ? null : Number(delay.toFixed(1)),
        commits: since(m, `${COMMIT}_count{sink="warehouse"}`),
        commitMs: Math.round((since(m, `${COMMIT}_sum{sink="warehouse"}`) / Math.max(1, since(m, `${COMMIT}_count{sink="warehouse"}`))) * 1000),
        commitsOver1s: since(m, `${COMMIT}_count{sink="warehouse"}`) - since(m, `${COMMIT}_bucket{le="1",sink="warehouse"}`),
        windowsOver1s: since(m, `${EMIT}_count`) - since(m, `${EMIT}_bucket{le="1"}`),
        memory: memoryParts(m),
      };
      lastScrape = m;
      lastT = now;
      samples.push(s);
      const slow = s.windowsOver1s + s.commitsOver1s > 0 ? `  over 1 s: ${s.commitsOver1s} commits, ${s.windowsOver1s} windows` : '';
      console.log(`[steady] t=${String(s.t).padStart(5)} s  RSS ${String(s.rssMb).padStart(5)} MB  CPU ${s.cpuSeconds.toFixed(1).padStart(7)} s  committed ${String(s.committedPerSec).padStart(6)}/s (${s.committed})  watermark delay ${s.watermarkDelaySeconds ?? '–'} s  commits ${s.commits} (mean ${s.commitMs} ms)${slow}`);
      return s;
    };
    timers.push(setInterval(() => void sample().catch((err: unknown) => console.error('[steady] sample failed:', (err as Error).message)), SAMPLE_MS));
    await Promise.race([sleep(seconds * 1000), dead]);
    for (const t of timers.splice(0)) clearInterval(t);
    const last = await sample();
    const after = await scrape(metricsUrl);
    const p1 = procStats(pid);
    const wallSeconds = (performance.now() - t0) / 1000;
    const delta = (name: string) => sumOf(after, name) - sumOf(before, name);
    const committed = delta(RECORDS);
    const result = {
      machine,
      settings: { source: 'generator', rate, seconds, warmupSeconds: warmup, sampleSeconds: SAMPLE_MS / 1000 },
      measuredSeconds: Number(wallSeconds.toFixed(1)),
      committed,
      committedPerSec: Math.round(committed / wallSeconds),
      eventsWritten: delta('gamestream_events_written_total'),
      deadLetters: delta('gamestream_dead_letters_total'),
      duplicatesDropped: delta('gamestream_duplicates_dropped_total'),
      ...cpuOf(p0, p1, committed, wallSeconds),
      rss: rssOf(samples, last, seconds, p1),
      freshness: latency(before, after, FRESHNESS),
      windowEmitLatency: latency(before, after, EMIT),
      bucketsNote: BUCKETS_NOTE,
      samples,
    };
    console.log(`[steady] committed ${result.committedPerSec} events/s (target ${rate}) over ${result.measuredSeconds} s: ${committed} records, ${result.eventsWritten} events written, ${result.deadLetters} dead letters, ${result.duplicatesDropped} duplicates dropped`);
    printSummary(result, 'the measured period');
    writeResults('steady-generator', machine.date, result);
    ok = true;
    printWarnings(daemonLog);
  } finally {
    for (const t of timers) clearInterval(t);
    if (daemon) {
      const code = await stopDaemon(daemon.child);
      console.log(`[steady] daemon stopped (exit ${code})`);
    }
    if (!ok) printTail(daemonLog);
    keepLog(daemonLog);
    rmSync(work, { recursive: true, force: true });
  }
}

/** BENCH_DAEMON_LOG=<file>: keep a copy of the daemon's log (the temp directory goes at the end). */
function keepLog(daemonLog: string): void {
  const to = process.env.BENCH_DAEMON_LOG;
  if (to) copyFileSync(daemonLog, to);
}

const source = process.env.BENCH_SOURCE ?? 'kafka';
if (source !== 'kafka' && source !== 'generator') throw new Error(`BENCH_SOURCE must be kafka or generator, not ${source}`);
(source === 'generator' ? generatorMode() : kafkaMode()).catch((err: unknown) => {
  console.error('[steady] failed:', err);
  process.exitCode = 1;
});
