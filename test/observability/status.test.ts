/**
 * The status page's rates. Counters move only at warehouse commits, so a rate taken from the counters'
 * difference between two fixed-interval samples counts whole commits: 0, 1 or 2 of them when commits come
 * about as often as the samples. These tests feed a steady source's commit pattern and expect a steady rate.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';
import { StatusTracker, type WarehouseView } from '../../src/observability/status.ts';

/** A deterministic jitter in [-1, 1). */
function jitter(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return (x / 2_147_483_648) * 2 - 1;
  };
}

/**
 * A source of `perSec` records per second whose commits come every `gapMs` ± `jitterMs`, each covering the
 * records since the previous one (2% dead letters), sampled every 2 s as the daemon does, for `seconds`.
 */
function steadySource(o: { perSec: number; gapMs: number; jitterMs: number; seconds: number; stopAfterS?: number }) {
  let now = 1_700_000_000_000;
  const start = now;
  const metrics = new Metrics({ now: () => now, defaultMetrics: false });
  const status = new StatusTracker({ metrics, now: () => now });
  const rnd = jitter(7);
  let lastCommit = now;
  let nextCommit = now + o.gapMs + rnd() * o.jitterMs;
  let carry = 0;
  for (let sample = now + 2000; sample <= start + o.seconds * 1000; sample += 2000) {
    while (nextCommit <= sample && (o.stopAfterS === undefined || nextCommit <= start + o.stopAfterS * 1000)) {
      now = nextCommit;
      const exact = ((nextCommit - lastCommit) / 1000) * o.perSec + carry;
      const n = Math.floor(exact);
      carry = exact - n;
      const dlq = Math.floor(n / 50);
      metrics.recordCommit({ durationMs: 200, partitions: [{ partition: 0, recordsIn: n, eventsWritten: n - dlq, deadLetters: dlq, duplicates: 0, lateEvents: 0, windowRows: 0 }] });
      lastCommit = nextCommit;
      nextCommit += o.gapMs + rnd() * o.jitterMs;
    }
    now = sample;
    status.sample();
  }
  return { status, snapshot: () => status.snapshot() };
}

describe('status rates', () => {
  it('a steady source committing about as often as the samples gives a steady line, not a 0↔2x sawtooth', () => {
    const { snapshot } = steadySource({ perSec: 20_000, gapMs: 2000, jitterMs: 400, seconds: 300 });
    const s = snapshot();
    // After the first window (10 s), every point is the source's rate, within what rounding and jitter leave.
    const settled = s.history.recordsInPerSec.slice(6);
    expect(settled.length).toBeGreaterThan(100);
    for (const r of settled) expect(Math.abs(r - 20_000) / 20_000).toBeLessThan(0.02);
    expect(Math.abs(s.rates.recordsInPerSec - 20_000) / 20_000).toBeLessThan(0.02);
    expect(Math.abs(s.rates.eventsWrittenPerSec - 19_600) / 19_600).toBeLessThan(0.02);
    expect(s.rates.dlqRatio).toBeCloseTo(0.02, 3);
  });

  it('stays steady when commits come every 1 s or every 3.3 s', () => {
    for (const gapMs of [1000, 3300]) {
      const s = steadySource({ perSec: 20_000, gapMs, jitterMs: gapMs / 5, seconds: 200 }).snapshot();
      for (const r of s.history.recordsInPerSec.slice(8)) expect(Math.abs(r - 20_000) / 20_000, `commits every ${gapMs} ms`).toBeLessThan(0.02);
    }
  });

  it('falls to 0 once the commits stop', () => {
    const s = steadySource({ perSec: 20_000, gapMs: 2000, jitterMs: 400, seconds: 120, stopAfterS: 60 }).snapshot();
    expect(s.rates.recordsInPerSec).toBe(0);
    expect(s.history.recordsInPerSec.at(-1)).toBe(0);
    // Before the stop it was steady.
    const before = s.history.recordsInPerSec[25]!;
    expect(Math.abs(before - 20_000) / 20_000).toBeLessThan(0.02);
  });
});

describe('status: the last ETL run', () => {
  it('comes from etl_runs; this process\'s own run only while it is newer than the last read, which it triggers', async () => {
    let now = Date.UTC(2026, 10, 27, 3, 0);
    const metrics = new Metrics({ now: () => now, defaultMetrics: false });
    let reads = 0;
    let run = { day: '2026-11-25', status: 'success', startedAtMs: now - 3_600_000, endedAtMs: now - 3_590_000 };
    const success = run.endedAtMs;
    const view = (): WarehouseView => ({
      volume24h: { t: [], events: [] }, checks: null, readAt: new Date(now).toISOString(),
      etlRuns: { last: run, lastSuccessAtMs: success },
    });
    const status = new StatusTracker({ metrics, now: () => now, warehouse: async () => (reads++, view()) });
    await status.readWarehouse();
    expect(status.snapshot().etl).toMatchObject({
      enabled: false, lastRun: { status: 'success', day: '2026-11-25', at: new Date(run.endedAtMs).toISOString(), durationSeconds: 10 },
      lastSuccessAt: new Date(run.endedAtMs).toISOString(),
    });

    // This process's scheduler finishes a run after that read: shown at once, without its day until the next read …
    metrics.setEtlEnabled(true);
    now += 60_000;
    metrics.etlTask({ task: 'dag', status: 'failed', durationMs: 4000 });
    expect(status.snapshot().etl.lastRun).toEqual({ status: 'failed', at: new Date(now).toISOString(), durationSeconds: 4, day: null });
    // … which the next sample starts.
    run = { day: '2026-11-26', status: 'failed', startedAtMs: now - 4000, endedAtMs: now };
    now += 1000;
    status.sample();
    await expect.poll(() => reads).toBe(2);
    await expect.poll(() => status.snapshot().etl.lastRun?.day).toBe('2026-11-26');
    expect(status.snapshot().etl.lastSuccessAt).toBe(new Date(success).toISOString());
  });

  it('reads one at a time: asked again during a slow read, it reads once more after it, and never piles up', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let reads = 0;
    let running = 0;
    let most = 0;
    let release!: () => void;
    const status = new StatusTracker({
      metrics,
      warehouse: async () => {
        reads++;
        most = Math.max(most, ++running);
        if (reads === 1) await new Promise<void>((r) => (release = r));
        running--;
        return { volume24h: { t: [reads], events: [reads] }, checks: null, etlRuns: null, readAt: new Date().toISOString() };
      },
    });
    const first = status.readWarehouse();
    const more = [status.readWarehouse(), status.readWarehouse(), status.readWarehouse()];
    await expect.poll(() => reads).toBe(1);
    release();
    await Promise.all([first, ...more]);
    // The three asked during the first read make one more, which sees what came meanwhile.
    expect([reads, most]).toEqual([2, 1]);
  });

  it('stopped() waits for a read in flight and starts none after, so its connection can be closed next', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let reads = 0;
    let inFlight = false;
    let release!: () => void;
    const status = new StatusTracker({
      metrics,
      warehouse: async () => {
        reads++;
        inFlight = true;
        await new Promise<void>((r) => (release = r));
        inFlight = false;
        return { volume24h: { t: [], events: [] }, checks: null, etlRuns: null, readAt: new Date().toISOString() };
      },
    });
    status.start();
    await expect.poll(() => reads).toBe(1);
    let stopped = false;
    const done = status.stopped().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false); // still waiting on the read
    release();
    await done;
    expect(inFlight).toBe(false);
    void status.readWarehouse();
    expect(reads).toBe(1); // none after
  });
});
