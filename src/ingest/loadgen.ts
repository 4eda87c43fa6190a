/**
 * Load generator for the tracking server: synthetic game traffic (GeneratorSource, with its share of broken
 * records and client retries) posted as NDJSON batches at a steady rate, and handled the way a client SDK
 * would: a 503 is sent again after its Retry-After, a network error after a short backoff, a 4xx is given up.
 *
 * Batches are due at fixed times (batch k at k·batchSize/rate s); up to `concurrency` requests are open at
 * once, so a slow answer delays only its own batch. When the server cannot keep up, the achieved rate shows it.
 * Bounded: no new batch after `seconds`, and no retry after `seconds + drainSeconds`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { GeneratorSource } from '../sources/generator.ts';

const gzipAsync = promisify(gzip);

export interface LoadgenOptions {
  /** The server (http://host:port) or its events endpoint. */
  url: string;
  apiKey: string;
  /** Events per second. */
  rate: number;
  seconds: number;
  /** Events per request. */
  batchSize: number;
  concurrency?: number;
  seed?: number;
  /** Share of broken records, as GeneratorSource makes them. Default 0.01. */
  badShare?: number;
  gzip?: boolean;
  /** How long retries may go on after the last batch was due. Default 30 s. */
  drainSeconds?: number;
  signal?: AbortSignal;
}

export interface LoadgenReport {
  /** Events posted (first attempts). */
  sent: number;
  /** Events the server acknowledged (2xx). */
  accepted: number;
  /** Events refused for good: a 4xx, or still failing when retries had to stop. */
  rejected: number;
  /** Requests sent again after a 503 or a network error. */
  retried: number;
  requests: number;
  statuses: Record<string, number>;
  elapsedSeconds: number;
  /** Accepted events per second of elapsed time. */
  rate: number;
  targetRate: number;
  latencyMs: { p50: number; p99: number; max: number };
}

function endpoint(url: string): string {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/events';
  return u.toString();
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Lines from the generator, handed out batchSize at a time. */
class Batches {
  private readonly src: GeneratorSource;
  private lines: string[] = [];
  private made = 0;
  private readonly total: number;

  constructor(total: number, seed: number, badShare: number) {
    this.total = total;
    this.src = new GeneratorSource({ seed, rate: 1e9, total, badShare });
  }

  open(): Promise<void> {
    return this.src.open();
  }

  private lock: Promise<unknown> = Promise.resolve();

  /** One caller at a time: GeneratorSource.next is not re-entrant (a second caller waits forever at the end). */
  next(size: number): Promise<string[] | null> {
    const run = this.lock.then(() => this.take(size));
    this.lock = run.catch(() => {});
    return run;
  }

  private async take(size: number): Promise<string[] | null> {
    while (this.lines.length < size && this.made < this.total) {
      const chunk = await this.src.next();
      if (chunk === null) break;
      const text = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
      for (let i = 0; i < chunk.count; i++) this.lines.push(text.toString('utf8', chunk.starts[i], chunk.ends[i]));
      this.made += chunk.count;
    }
    if (this.lines.length === 0) return null;
    return this.lines.splice(0, size);
  }
}

export async function runLoadgen(opts: LoadgenOptions): Promise<LoadgenReport> {
  if (!(opts.rate > 0) || !(opts.seconds > 0) || !(opts.batchSize >= 1)) throw new Error('runLoadgen: rate, seconds and batchSize must be positive');
  const url = endpoint(opts.url);
  const total = Math.max(1, Math.round(opts.rate * opts.seconds));
  const batches = new Batches(total, opts.seed ?? Math.floor(Math.random() * 2 ** 32), opts.badShare ?? 0.01);
  await batches.open();
  const r: LoadgenReport = {
    sent: 0, accepted: 0, rejected: 0, retried: 0, requests: 0, statuses: {}, elapsedSeconds: 0, rate: 0,
    targetRate: opts.rate, latencyMs: { p50: 0, p99: 0, max: 0 },
  };
  const latencies: number[] = [];
  const t0 = performance.now();
  const retryDeadline = t0 + (opts.seconds + (opts.drainSeconds ?? 30)) * 1000;
  const interval = (opts.batchSize / opts.rate) * 1000;
  let k = 0;
  const headers: Record<string, string> = { 'x-api-key': opts.apiKey, 'content-type': 'application/x-ndjson' };
  if (opts.gzip) headers['content-encoding'] = 'gzip';

  /** Posts one batch until it is accepted, refused or out of time. */
  async function deliver(lines: string[]): Promise<void> {
    const text = Buffer.from(lines.join('\n'));
    const body = opts.gzip ? await gzipAsync(text) : text;
    r.sent += lines.length;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) r.retried++;
      r.requests++;
      const start = performance.now();
      let wait: number;
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: opts.signal });
        const answer = await res.text();
        latencies.push(performance.now() - start);
        r.statuses[res.status] = (r.statuses[res.status] ?? 0) + 1;
        if (res.ok) {
          const n = (JSON.parse(answer) as { accepted?: number }).accepted;
          r.accepted += typeof n === 'number' ? n : lines.length;
          return;
        }
        if (res.status !== 503 && res.status !== 429) {
          r.rejected += lines.length;
          return;
        }
        const after = Number(res.headers.get('retry-after'));
        wait = (Number.isFinite(after) && after > 0 ? Math.min(after, 30) : 1) * 1000;
      } catch {
        if (opts.signal?.aborted) {
          r.rejected += lines.length;
          return;
        }
        r.statuses.network = (r.statuses.network ?? 0) + 1;
        wait = Math.min(5000, 250 * 2 ** attempt);
      }
      // Jitter, as SDKs add, so that clients refused together do not come back together.
      wait *= 0.8 + 0.4 * Math.random();
      if (performance.now() + wait > retryDeadline || opts.signal?.aborted) {
        r.rejected += lines.length;
        return;
      }
      await sleep(wait, undefined, { signal: opts.signal }).catch(() => {});
    }
  }

  async function worker(): Promise<void> {
    for (;;) {
      if (opts.signal?.aborted) return;
      const due = t0 + k * interval;
      // Stop at the end of the schedule, or of the time, whichever comes first (a server slower than the rate).
      if (due - t0 >= opts.seconds * 1000 || performance.now() - t0 >= opts.seconds * 1000) return;
      k++;
      const lines = await batches.next(opts.batchSize);
      if (lines === null) return;
      const ahead = due - performance.now();
      if (ahead > 0) await sleep(ahead, undefined, { signal: opts.signal }).catch(() => {});
      await deliver(lines);
    }
  }

  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, () => worker()));
  r.elapsedSeconds = (performance.now() - t0) / 1000;
  r.rate = r.accepted / r.elapsedSeconds;
  latencies.sort((a, b) => a - b);
  r.latencyMs = { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? 0 };
  return r;
}

export function formatLoadgenReport(r: LoadgenReport): string {
  const st = Object.entries(r.statuses).map(([s, n]) => `${s}×${n}`).join(' ');
  return `sent ${r.sent}, accepted ${r.accepted}, rejected ${r.rejected}, retried ${r.retried} in ${r.elapsedSeconds.toFixed(1)} s: ` +
    `${Math.round(r.rate)} events/s (target ${r.targetRate}); ${r.requests} requests [${st}]; ` +
    `latency p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms, max ${r.latencyMs.max.toFixed(1)} ms`;
}
