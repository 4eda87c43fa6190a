import { afterEach, describe, expect, it } from 'vitest';
import { AlertEngine, inputsFromMetrics } from '../../src/observability/alerts.ts';
import { loadObservabilityConfig } from '../../src/observability/config.ts';
import { startObservability } from '../../src/observability/index.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { startObservabilityServer, type HealthReport, type ObservabilityServer } from '../../src/observability/server.ts';
import { StatusTracker, type StatusSnapshot } from '../../src/observability/status.ts';
import { captureLogger, sampleValue } from './prom-text.ts';

let server: ObservabilityServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

function setup(health: () => HealthReport) {
  let now = 1_700_000_000_000;
  const metrics = new Metrics({ now: () => now, defaultMetrics: false });
  const { log } = captureLogger();
  const alerts = new AlertEngine({ thresholds: loadObservabilityConfig({}), inputs: inputsFromMetrics(metrics), log, now: () => now, metrics });
  const status = new StatusTracker({ metrics, alerts, now: () => now });
  return { metrics, alerts, status, health, advance: (ms: number) => (now += ms) };
}

const healthy: HealthReport = { source: { ok: true, detail: 'consuming 64 partitions' }, warehouse: { ok: true, detail: 'duckdb open' } };

describe('observability server', () => {
  it('serves /metrics, /healthz, /readyz, /api/status and the page', async () => {
    let h = healthy;
    const s = setup(() => h);
    server = await startObservabilityServer({ port: 0, metrics: s.metrics, health: () => s.health(), status: () => s.status.snapshot() });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    s.alerts.evaluate(); // the DLQ rule's base sample, as AlertEngine.start() takes one
    for (let i = 0; i < 3; i++) {
      s.metrics.recordCommit({ durationMs: 10, partitions: [{ partition: 3, recordsIn: 1000, eventsWritten: 980, deadLetters: 20, duplicates: 0, lateEvents: 0, windowRows: 0 }], deadLettersByCode: { parse_error: 20 } });
      s.advance(1000);
      s.status.sample();
    }
    s.metrics.setLag(3, 777);
    s.alerts.evaluate();

    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(sampleValue(text, 'gamestream_records_in_total{partition="3"}')).toBe(3000);
    expect(sampleValue(text, 'gamestream_dead_letters_total{code="parse_error"}')).toBe(60);
    expect(sampleValue(text, 'gamestream_kafka_consumer_lag{partition="3"}')).toBe(777);
    expect(text).toContain('# TYPE gamestream_records_in_total counter');

    const live = await fetch(`${server.url}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ ok: true });

    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, notReady: [], ...healthy });

    h = { source: { ok: false, detail: 'rebalancing: no partitions assigned' }, warehouse: { ok: true, detail: 'duckdb open' } };
    const notReady = await fetch(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ ready: false, notReady: ['source'], source: { ok: false, detail: 'rebalancing: no partitions assigned' } });

    h = { source: { ok: true, detail: '' }, warehouse: { ok: false, detail: 'commit failing: warehouse_write_failed' } };
    expect(await (await fetch(`${server.url}/readyz`)).json()).toMatchObject({ notReady: ['warehouse'] });

    const st = (await (await fetch(`${server.url}/api/status`)).json()) as StatusSnapshot;
    expect(st.totals).toMatchObject({ recordsIn: 3000, eventsWritten: 2940, deadLetters: 60, commits: 3 });
    expect(st.rates.recordsInPerSec).toBe(1000);
    expect(st.rates.deadLettersPerSec).toBe(20);
    expect(st.rates.dlqRatio).toBe(0.02);
    expect(st.history.recordsInPerSec).toEqual([1000, 1000, 1000]);
    expect(st.lag).toEqual({ total: 777, top: [{ partition: 3, lag: 777 }] });
    expect(st.alerts.rules).toHaveLength(5);
    expect(st.alerts.firing.map((a) => a.alert)).toEqual(['DeadLetterRateHigh']);

    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('<canvas id="chart">');
    expect(html).toContain('fetch("api/status"');
    // Self-contained: no resource from another host, no external script or stylesheet.
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|url\(/i);

    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('answers 503 when the health check throws', async () => {
    const s = setup(() => {
      throw new Error('warehouse handle closed');
    });
    server = await startObservabilityServer({ port: 0, metrics: s.metrics, health: () => s.health(), status: () => s.status.snapshot() });
    const r = await fetch(`${server.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ ready: false, notReady: ['source', 'warehouse'] });
  });

  it('refuses a port in use with a GamestreamError naming the setting', async () => {
    const s = setup(() => healthy);
    server = await startObservabilityServer({ port: 0, metrics: s.metrics, health: () => s.health(), status: () => s.status.snapshot() });
    await expect(startObservabilityServer({ port: server.port, metrics: s.metrics, health: () => s.health(), status: () => s.status.snapshot() }))
      .rejects.toMatchObject({ code: 'observability_listen_failed', message: expect.stringContaining('GAMESTREAM_METRICS_PORT') });
  });

  it('startObservability wires metrics, alerts, status and server together', async () => {
    const { log } = captureLogger();
    const obs = await startObservability({ config: loadObservabilityConfig({ GAMESTREAM_METRICS_PORT: '0' }), log, health: () => healthy, defaultMetrics: false });
    try {
      obs.metrics.recordCommit({ durationMs: 1, partitions: [{ partition: 0, recordsIn: 5, eventsWritten: 5, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 }] });
      const text = await (await fetch(`${obs.server!.url}/metrics`)).text();
      expect(sampleValue(text, 'gamestream_events_written_total{partition="0"}')).toBe(5);
      expect(sampleValue(text, 'gamestream_alert_firing{alert="NoEvents",severity="critical"}')).toBe(0);
      const st = (await (await fetch(`${obs.server!.url}/api/status`)).json()) as StatusSnapshot;
      expect(st.totals.eventsWritten).toBe(5);
    } finally {
      await obs.stop();
    }
    const off = await startObservability({ config: loadObservabilityConfig({ GAMESTREAM_METRICS_PORT: 'off' }), log, health: () => healthy, defaultMetrics: false });
    expect(off.server).toBeNull();
    await off.stop();
  });
});
