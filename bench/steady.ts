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
 * min) and at the end with the growth, peak RSS (VmHWM), and p50/p99/max of the two freshness histograms
 * (gamestream_event_freshness_seconds, gamestream_window_emit_latency_seconds) over the load: p50 and p99
 * interpolated linearly inside their bucket as Prometheus' histogram_quantile does, max as the bucket it fell in,
 * and the exact shares at or below 1 s and 2 s (bucket edges). Results go to bench/results/steady-<date>.json.
 * The daemon is stopped with SIGTERM and awaited by its pid; the topics it used are deleted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createAdmin } from '../src/kafka-platformatic/client.ts';
import { ProducerSession } from '../src/kafka-platformatic/producer.ts';
import { endOffsetsOf, ensureTopics } from '../src/kafka-platformatic/topics.ts';
import { formatLoadgenReport, runLoadgen, type LoadgenOptions, type LoadgenReport } from '../src/ingest/loadgen.ts';
import { startIngestServer } from '../src/ingest/server.ts';
import { createLogger } from '../src/log.ts';
import { freePort, startLocalBroker, stopLocalBroker, type LocalBroker } from '../test/setup/kafka-broker.ts';

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
const num = (name: string, def: number) => Number(process.env[name] ?? def);
const SAMPLE_MS = 10_000;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const FRESHNESS = 'gamestream_event_freshness_seconds';
const EMIT = 'gamestream_window_emit_latency_seconds';

/** The daemon process from /proc: resident and peak resident MB, CPU seconds (user + system, all threads). */
function procStats(pid: number): { rssMb: number; hwmMb: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, cpuSeconds: (Number(f[11]) + Number(f[12])) / CLK_TCK };
}

/** Prometheus text → series (name plus labels as exposed) → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function sumOf(m: Map<string, number>, name: string): number {
  let n = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) n += v;
  return n;
}

/** A histogram's cumulative buckets, by upper bound (Infinity for +Inf). */
function buckets(m: Map<string, number>, name: string): { le: number; count: number }[] {
  const out: { le: number; count: number }[] = [];
  for (const [k, v] of m) {
    const b = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
    if (b) out.push({ le: b[1] === '+Inf' ? Infinity : Number(b[1]), count: v });
  }
  return out.sort((a, b) => a.le - b.le);
}

interface Latency {
  count: number;
  /** Interpolated inside the bucket (seconds); a string when it fell in the +Inf bucket. */
  p50: number | string | null;
  p99: number | string | null;
  /** The bucket the largest observation fell in. */
  max: string | null;
  atMost1s: number | null;
  atMost2s: number | null;
  mean: number | null;
}

/** Quantiles of the observations made between two scrapes. */
function latency(before: Map<string, number>, after: Map<string, number>, name: string): Latency {
  const b0 = new Map(buckets(before, name).map((b) => [b.le, b.count]));
  const bs = buckets(after, name).map((b) => ({ le: b.le, count: b.count - (b0.get(b.le) ?? 0) }));
  const total = bs.at(-1)?.count ?? 0;
  const sum = (after.get(`${name}_sum`) ?? 0) - (before.get(`${name}_sum`) ?? 0);
  if (total === 0) return { count: 0, p50: null, p99: null, max: null, atMost1s: null, atMost2s: null, mean: null };
  const quantile = (q: number): number | string => {
    const rank = q * total;
    let prevLe = 0;
    let prev = 0;
    for (const b of bs) {
      if (b.count >= rank && b.count > prev) {
        if (b.le === Infinity) return `> ${prevLe}`;
        return prevLe + (b.le - prevLe) * ((rank - prev) / (b.count - prev));
      }
      prevLe = b.le;
      prev = b.count;
    }
    return NaN;
  };
  let max: string | null = null;
  for (let i = bs.length - 1; i >= 0; i--) {
    if (bs[i]!.count > (i > 0 ? bs[i - 1]!.count : 0)) {
      max = bs[i]!.le === Infinity ? `> ${bs[i - 1]?.le ?? 0} s` : `in (${i > 0 ? bs[i - 1]!.le : 0}, ${bs[i]!.le}] s`;
      break;
    }
  }
  const share = (le: number) => (bs.find((b) => b.le === le)?.count ?? NaN) / total;
  return { count: total, p50: quantile(0.5), p99: quantile(0.99), max, atMost1s: share(1), atMost2s: share(2), mean: sum / total };
}

const fmtS = (x: number | string | null) => (x === null ? '–' : typeof x === 'string' ? `${x} s` : `${x.toFixed(2)} s`);
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)}%`);

async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  return parseMetrics(await res.text());
}

function loadgenInWorker(opts: LoadgenOptions): Promise<LoadgenReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: opts });
    w.once('message', (r: LoadgenReport) => resolve(r));
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`loadgen worker exited ${code}`)));
  });
}

/** SIGTERM, then wait for the exit (SIGKILL after `graceMs`); the daemon drains and commits on SIGTERM. */
async function stopDaemon(child: ChildProcess, graceMs = 60_000): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<number | string | null>((r) => child.once('exit', (code, sig) => r(code ?? sig)));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(t);
  return code;
}

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
}

async function main(): Promise<void> {
  const seconds = num('BENCH_SECONDS', 120);
  const rate = num('BENCH_RATE', 50_000);
  const batchSize = num('BENCH_BATCH', 500);
  const concurrency = num('BENCH_CONCURRENCY', 64);
  const warmup = num('BENCH_WARMUP', 10);
  // The daemon's copies of committed rows to Kafka (on by default when it reads Kafka); BENCH_COPIES=off for none.
  const copies = process.env.BENCH_COPIES !== 'off';
  const log = createLogger(process.env.GAMESTREAM_LOG_LEVEL ?? 'warn');
  const machine = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memoryGiB: Math.round(totalmem() / 2 ** 30) };
  console.log(`[steady] machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);

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
  let daemon: ChildProcess | null = null;
  let server: Awaited<ReturnType<typeof startIngestServer>> | null = null;
  const timers: NodeJS.Timeout[] = [];
  try {
    await ensureTopics(admin, [{ name: topic, partitions: 64, retentionMs: 3_600_000 }]);
    const apiKey = 'bench-key-0123456789abcdef';
    server = await startIngestServer({
      logger: log,
      openProducer: (o) => new ProducerSession(o),
      config: {
        brokers, host: '127.0.0.1', port: 0, topic, maxBodyBytes: 5 << 20, maxBatchEvents: 1000, maxEventBytes: 1_000_000,
        maxInflightBytes: 64 << 20, apiKeys: [{ app: 'bench', key: apiKey }], ackTimeoutMs: 5000,
        maxConnections: 4096, idleTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, maxJsonDepth: 64,
        keyRate: 0, keyBurst: 2000, keyRateOverrides: [], authFailureRate: 0, authFailureBurst: 20, authTrackedAddresses: 100_000,
      },
    });
    if (!(await server.whenProducerReady(15_000))) throw new Error('the tracking server\'s producer did not connect');

    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    const out = createWriteStream(daemonLog);
    daemon = spawn(process.execPath, [CLI, 'run'], {
      env: {
        ...process.env,
        GAMESTREAM_SOURCE: 'kafka', GAMESTREAM_KAFKA_BROKERS: brokers.join(','), GAMESTREAM_KAFKA_TOPIC: topic,
        GAMESTREAM_KAFKA_GROUP: `${topic}-group`, GAMESTREAM_KAFKA_STOP: 'never',
        GAMESTREAM_KAFKA_ENRICHED_TOPIC: copies ? topics[1] : 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: copies ? topics[2] : 'off',
        GAMESTREAM_WAREHOUSE: `duckdb:${join(work, 'steady.duckdb')}`,
        GAMESTREAM_METRICS_HOST: '127.0.0.1', GAMESTREAM_METRICS_PORT: String(metricsPort),
        GAMESTREAM_LOG_LEVEL: process.env.GAMESTREAM_LOG_LEVEL ?? 'warn', GAMESTREAM_PROGRESS_INTERVAL: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout!.pipe(out);
    daemon.stderr!.pipe(out);
    const pid = daemon.pid!;
    const dead = new Promise<never>((_, reject) => daemon!.once('exit', (code, sig) => reject(new Error(`the daemon exited (${code ?? sig}); see ${daemonLog}`))));
    dead.catch(() => undefined);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const ready = await fetch(`${metricsUrl}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      if (daemon.exitCode !== null || Date.now() > deadline) throw new Error(`the daemon did not become ready; see ${daemonLog}`);
      await sleep(250);
    }
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

    const baseAt = Math.min(300, seconds * 0.25);
    const base = samples.find((s) => s.t >= baseAt) ?? samples[0]!;
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
      daemonCpuSeconds: Number((p1.cpuSeconds - p0.cpuSeconds).toFixed(2)),
      daemonCpuUsPerEvent: committed > 0 ? Number((((p1.cpuSeconds - p0.cpuSeconds) / committed) * 1e6).toFixed(2)) : null,
      daemonCpuShareOfACore: Number(((p1.cpuSeconds - p0.cpuSeconds) / ((performance.now() - t0) / 1000)).toFixed(2)),
      rss: {
        baseline: { atSeconds: base.t, mb: base.rssMb }, end: { atSeconds: last.t, mb: last.rssMb },
        growthPercent: Number((((last.rssMb - base.rssMb) / base.rssMb) * 100).toFixed(1)),
        maxSampledMb: Math.max(...samples.map((s) => s.rssMb)), peakMb: Math.round(p1.hwmMb),
        minAcceptedPerSecDuringLoad: loadSamples.length ? Math.min(...loadSamples.map((s) => s.acceptedPerSec)) : null,
      },
      freshness: latency(before, after, FRESHNESS),
      windowEmitLatency: latency(before, after, EMIT),
      bucketsNote: 'p50/p99 interpolated linearly inside their bucket (0.05 s wide to 0.5 s, 0.1 s wide to 2 s, then 2.5, 3, 4, 5, 7.5, 10 s …); max is the bucket of the largest observation; the shares at or below 1 s and 2 s are exact',
      samples,
    };

    console.log(`[steady] ${formatLoadgenReport(report)}`);
    console.log(`[steady] achieved ${result.achievedEventsPerSec} events/s (target ${rate}); in the topic ${target}, committed ${committed}${caughtUp ? `, caught up ${result.catchUpSeconds} s after the load` : ' — NOT caught up 60 s after the load'}`);
    console.log(`[steady] daemon CPU ${result.daemonCpuSeconds} s = ${result.daemonCpuUsPerEvent} µs per event (${result.daemonCpuShareOfACore} of a core over the load and catch-up)`);
    console.log(`[steady] daemon RSS ${base.rssMb} MB at ${base.t} s, ${last.rssMb} MB at the end (${last.t} s): ${result.rss.growthPercent >= 0 ? '+' : ''}${result.rss.growthPercent}%; peak ${result.rss.peakMb} MB (VmHWM, start-up included)`);
    for (const [what, l] of [['event received → committed (gamestream_event_freshness_seconds)', result.freshness], ['window closed → committed (gamestream_window_emit_latency_seconds)', result.windowEmitLatency]] as const) {
      console.log(`[steady] ${what}: ${l.count} observations; p50 ${fmtS(l.p50)}, p99 ${fmtS(l.p99)}, max ${l.max ?? '–'}; ≤ 1 s ${pct(l.atMost1s)}, ≤ 2 s ${pct(l.atMost2s)}; mean ${fmtS(l.mean)} (p50/p99 bucket-interpolated)`);
    }
    const dir = new URL('./results/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    const file = new URL(`steady-${machine.date.replaceAll(':', '-')}.json`, dir);
    writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(`[steady] results written to ${file.pathname}`);
    ok = true;
    // What the daemon warned about (its alerts among them: consumer lag, dead-letter share).
    const warned = readFileSync(daemonLog, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
    const msgs = [...new Set(warned.filter((l) => l.level >= 40).map((l) => l.msg.replace(/\d[\d.]*/g, 'N')))];
    if (msgs.length > 0) console.log(`[steady] the daemon warned (numbers elided): ${msgs.join('; ')}`);
  } finally {
    for (const t of timers) clearInterval(t);
    if (daemon) {
      const code = await stopDaemon(daemon);
      console.log(`[steady] daemon stopped (exit ${code})`);
    }
    await server?.close().catch(() => undefined);
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.close().catch(() => undefined);
    if (broker) stopLocalBroker(broker);
    if (!ok) {
      const tail = (() => { try { return readFileSync(daemonLog, 'utf8').trim().split('\n').slice(-20).join('\n'); } catch { return ''; } })();
      if (tail) console.error(`[steady] the daemon's last output:\n${tail}`);
    }
    // The warehouse and the dedupe index: about 61 + 32 MB per million events.
    rmSync(work, { recursive: true, force: true });
  }
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error('[steady] failed:', err);
    process.exitCode = 1;
  });
} else {
  runLoadgen(workerData as LoadgenOptions).then((r) => parentPort!.postMessage(r));
}
