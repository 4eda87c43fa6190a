/**
 * gamestream_event_freshness_seconds: one observation per record, from the (receive time, records) pairs a commit
 * reports, exposed as a Prometheus histogram; and the emit latency's buckets fine enough below 2 s.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';
import { sampleValue } from './prom-text.ts';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

describe('Metrics: event freshness', () => {
  it('counts every record of a commit in its bucket, with the exact sum', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.recordCommit({ durationMs: 10, partitions: [], eventFreshness: { ms: [420, 1500, 1000], records: [3, 7, 2] } });
    m.recordCommit({ durationMs: 10, partitions: [], eventFreshness: { ms: [90_000, -20], records: [1, 4] } });
    m.recordCommit({ durationMs: 10, partitions: [] });
    const t = await m.text();
    const v = (s: string) => sampleValue(t, s);
    expect(v('gamestream_event_freshness_seconds_count')).toBe(17);
    // A producer clock ahead of the daemon's counts as 0.
    expect(v('gamestream_event_freshness_seconds_sum')).toBeCloseTo(3 * 0.42 + 7 * 1.5 + 2 * 1 + 90, 9);
    expect(v('gamestream_event_freshness_seconds_bucket{le="0.05"}')).toBe(4);
    expect(v('gamestream_event_freshness_seconds_bucket{le="0.4"}')).toBe(4);
    expect(v('gamestream_event_freshness_seconds_bucket{le="0.45"}')).toBe(7);
    expect(v('gamestream_event_freshness_seconds_bucket{le="1"}')).toBe(9);
    expect(v('gamestream_event_freshness_seconds_bucket{le="1.4"}')).toBe(9);
    expect(v('gamestream_event_freshness_seconds_bucket{le="1.5"}')).toBe(16);
    expect(v('gamestream_event_freshness_seconds_bucket{le="60"}')).toBe(16);
    expect(v('gamestream_event_freshness_seconds_bucket{le="90"}')).toBe(17);
    expect(v('gamestream_event_freshness_seconds_bucket{le="+Inf"}')).toBe(17);
    expect(t).toMatch(/^# TYPE gamestream_event_freshness_seconds histogram$/m);
  });

  it('gives the window emit latency buckets that tell 1 s from 2 s', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.recordCommit({ durationMs: 10, partitions: [], windowEmitLatencyMs: [800, 1200, 1900, 65_000] });
    const t = await m.text();
    const v = (s: string) => sampleValue(t, s);
    expect(v('gamestream_window_emit_latency_seconds_bucket{le="1"}')).toBe(1);
    expect(v('gamestream_window_emit_latency_seconds_bucket{le="2"}')).toBe(3);
    expect(v('gamestream_window_emit_latency_seconds_bucket{le="90"}')).toBe(4);
  });

  it.skipIf(!hasPromtool)('exposes text that promtool accepts', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.recordCommit({ durationMs: 10, partitions: [], eventFreshness: { ms: [300], records: [5] } });
    const r = spawnSync('promtool', ['check', 'metrics'], { input: await m.text(), encoding: 'utf8' });
    // promtool's lint also flags style (e.g. counters without _total); only its parse errors matter here.
    expect(r.stderr + r.stdout).not.toMatch(/error while linting|text format parsing error/i);
    expect(r.stdout + r.stderr).not.toMatch(/gamestream_event_freshness/);
  });
});
