/**
 * What bench/steady.ts reads from the daemon it runs as a child, in both its modes (Kafka, generator): starting
 * it with its output to a log file and waiting until it is ready, its RSS and CPU from /proc, its Prometheus
 * metrics (totals, and the quantiles of a histogram's observations between two scrapes), the summary printed
 * at the end, the results file, and stopping it (SIGTERM, awaited by its pid).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
export const SAMPLE_MS = 10_000;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
export const FRESHNESS = 'gamestream_event_freshness_seconds';
export const EMIT = 'gamestream_window_emit_latency_seconds';

export const num = (name: string, def: number) => Number(process.env[name] ?? def);

export interface Machine {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
}

/** The machine, printed as the first line. */
export function machine(): Machine {
  const m = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memoryGiB: Math.round(totalmem() / 2 ** 30) };
  console.log(`[steady] machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}`);
  return m;
}

export interface ProcStats {
  rssMb: number;
  hwmMb: number;
  cpuSeconds: number;
}

/** The daemon process from /proc: resident and peak resident MB, CPU seconds (user + system, all threads). */
export function procStats(pid: number): ProcStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, cpuSeconds: (Number(f[11]) + Number(f[12])) / CLK_TCK };
}

/** Prometheus text → series (name plus labels as exposed) → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

export function sumOf(m: Map<string, number>, name: string): number {
  let n = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) n += v;
  return n;
}

/** The daemon's memory by part, MB, from its gauges (null: the gauge is absent, e.g. DuckDB's before its first reading). */
export interface MemoryParts {
  supervisorHeap: number | null;
  supervisorExternal: number | null;
  workersHeap: number | null;
  workersExternal: number | null;
  dedupeFilter: number | null;
  duckdb: number | null;
}

export function memoryParts(m: Map<string, number>): MemoryParts {
  const mb = (name: string): number | null => {
    const has = [...m.keys()].some((k) => k === name || k.startsWith(`${name}{`));
    return has ? Math.round(sumOf(m, name) / 2 ** 20) : null;
  };
  return {
    supervisorHeap: mb('gamestream_nodejs_heap_size_total_bytes'), supervisorExternal: mb('gamestream_nodejs_external_memory_bytes'),
    workersHeap: mb('gamestream_worker_heap_bytes'), workersExternal: mb('gamestream_worker_external_memory_bytes'),
    dedupeFilter: mb('gamestream_dedupe_filter_bytes'), duckdb: mb('gamestream_duckdb_memory_bytes'),
  };
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

export interface Latency {
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
export function latency(before: Map<string, number>, after: Map<string, number>, name: string): Latency {
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

export const BUCKETS_NOTE = 'p50/p99 interpolated linearly inside their bucket (0.05 s wide to 0.5 s, 0.1 s wide to 2 s, then 2.5, 3, 4, 5, 7.5, 10 s …); max is the bucket of the largest observation; the shares at or below 1 s and 2 s are exact';

const fmtS = (x: number | string | null) => (x === null ? '–' : typeof x === 'string' ? `${x} s` : `${x.toFixed(2)} s`);
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)}%`);

export async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  return parseMetrics(await res.text());
}

export interface Daemon {
  child: ChildProcess;
  pid: number;
  /** Rejects when the daemon exits; race it against what waits on the daemon. */
  dead: Promise<never>;
}

/** `gamestream run` as a child process with `env` over this process's environment, its output to `logFile`. */
export function spawnDaemon(env: Record<string, string>, logFile: string): Daemon {
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, [CLI, 'run'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const dead = new Promise<never>((_, reject) => child.once('exit', (code, sig) => reject(new Error(`the daemon exited (${code ?? sig}); see ${logFile}`))));
  dead.catch(() => undefined);
  return { child, pid: child.pid!, dead };
}

/** Until the daemon's /readyz says ready (it reads its source and the warehouse takes commits). */
export async function waitReady(d: Daemon, metricsUrl: string, logFile: string, deadline: number): Promise<void> {
  for (;;) {
    const ready = await fetch(`${metricsUrl}/readyz`).then((r) => r.ok, () => false);
    if (ready) return;
    if (d.child.exitCode !== null || Date.now() > deadline) throw new Error(`the daemon did not become ready; see ${logFile}`);
    await sleep(250);
  }
}

/** SIGTERM, then wait for the exit (SIGKILL after `graceMs`); the daemon drains and commits on SIGTERM. */
export async function stopDaemon(child: ChildProcess, graceMs = 60_000): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<number | string | null>((r) => child.once('exit', (code, sig) => r(code ?? sig)));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(t);
  return code;
}

/** The daemon's CPU between two readings, per record committed meanwhile and as a share of one core. */
export function cpuOf(p0: ProcStats, p1: ProcStats, committed: number, wallSeconds: number) {
  const cpu = p1.cpuSeconds - p0.cpuSeconds;
  return {
    daemonCpuSeconds: Number(cpu.toFixed(2)),
    daemonCpuUsPerEvent: committed > 0 ? Number(((cpu / committed) * 1e6).toFixed(2)) : null,
    daemonCpuShareOfACore: Number((cpu / wallSeconds).toFixed(2)),
  };
}

/** RSS at 5 min (at 25% of runs under 20 min) and at the end (`last`, the final sample), the largest sample, and VmHWM. */
export function rssOf(samples: { t: number; rssMb: number; memory: MemoryParts }[], last: { t: number; rssMb: number; memory: MemoryParts }, seconds: number, p1: ProcStats) {
  const baseAt = Math.min(300, seconds * 0.25);
  const base = samples.find((s) => s.t >= baseAt) ?? samples[0]!;
  return {
    baseline: { atSeconds: base.t, mb: base.rssMb, parts: base.memory }, end: { atSeconds: last.t, mb: last.rssMb, parts: last.memory },
    growthPercent: Number((((last.rssMb - base.rssMb) / base.rssMb) * 100).toFixed(1)),
    maxSampledMb: Math.max(...samples.map((s) => s.rssMb)), peakMb: Math.round(p1.hwmMb),
  };
}

export interface Summary extends ReturnType<typeof cpuOf> {
  rss: ReturnType<typeof rssOf>;
  freshness: Latency;
  windowEmitLatency: Latency;
}

/** The summary lines common to both modes: CPU per event (over `cpuOver`), RSS, and the two latency histograms. */
export function printSummary(r: Summary, cpuOver: string): void {
  const { baseline: base, end: last } = r.rss;
  console.log(`[steady] daemon CPU ${r.daemonCpuSeconds} s = ${r.daemonCpuUsPerEvent} µs per event (${r.daemonCpuShareOfACore} of a core over ${cpuOver})`);
  console.log(`[steady] daemon RSS ${base.mb} MB at ${base.atSeconds} s, ${last.mb} MB at the end (${last.atSeconds} s): ${r.rss.growthPercent >= 0 ? '+' : ''}${r.rss.growthPercent}%; peak ${r.rss.peakMb} MB (VmHWM, start-up included)`);
  const part = (k: keyof MemoryParts) => `${base.parts[k] ?? '–'} → ${last.parts[k] ?? '–'}`;
  const known = (p: MemoryParts) => Object.values(p).reduce<number>((a, v) => a + (v ?? 0), 0);
  console.log(`[steady] memory by part, MB, at ${base.atSeconds} s → the end: supervisor heap ${part('supervisorHeap')}, its buffers ${part('supervisorExternal')}; workers' heaps ${part('workersHeap')}, their buffers ${part('workersExternal')}; dedupe filter ${part('dedupeFilter')}; DuckDB's buffer manager ${part('duckdb')}; the rest of RSS (code, allocators, DuckDB's load buffers) ${base.mb - known(base.parts)} → ${last.mb - known(last.parts)}`);
  for (const [what, l] of [['event received → committed (gamestream_event_freshness_seconds)', r.freshness], ['window closed → committed (gamestream_window_emit_latency_seconds)', r.windowEmitLatency]] as const) {
    console.log(`[steady] ${what}: ${l.count} observations; p50 ${fmtS(l.p50)}, p99 ${fmtS(l.p99)}, max ${l.max ?? '–'}; ≤ 1 s ${pct(l.atMost1s)}, ≤ 2 s ${pct(l.atMost2s)}; mean ${fmtS(l.mean)} (p50/p99 bucket-interpolated)`);
  }
}

/** Writes bench/results/<prefix>-<date>.json and says where. */
export function writeResults(prefix: string, date: string, result: unknown): void {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${prefix}-${date.replaceAll(':', '-')}.json`, dir);
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`[steady] results written to ${file.pathname}`);
}

/** What the daemon warned about (its alerts among them), numbers elided so each kind shows once. */
export function printWarnings(logFile: string): void {
  const warned = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
  const msgs = [...new Set(warned.filter((l) => l.level >= 40).map((l) => l.msg.replace(/\d[\d.]*/g, 'N')))];
  if (msgs.length > 0) console.log(`[steady] the daemon warned (numbers elided): ${msgs.join('; ')}`);
}

/** The daemon's last lines, after a failure. */
export function printTail(logFile: string): void {
  const tail = (() => { try { return readFileSync(logFile, 'utf8').trim().split('\n').slice(-20).join('\n'); } catch { return ''; } })();
  if (tail) console.error(`[steady] the daemon's last output:\n${tail}`);
}
