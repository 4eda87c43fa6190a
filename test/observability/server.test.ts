import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
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
    // A commit each second after the start; the rates spread each commit over the second it covers.
    for (let i = 0; i < 3; i++) {
      s.advance(1000);
      s.metrics.recordCommit({ durationMs: 10, partitions: [{ partition: 3, recordsIn: 1000, eventsWritten: 980, deadLetters: 20, duplicates: 0, lateEvents: 0, windowRows: 0 }], deadLettersByCode: { parse_error: 20 } });
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
    expect(st.alerts.rules).toHaveLength(6);
    expect(st.alerts.firing.map((a) => a.alert)).toEqual(['DeadLetterRateHigh']);
    // What the ETL waits for, while it waits.
    expect(st.etl.waiting).toBe(null);
    s.metrics.setEtlWaiting({ day: '2026-11-20', waitingFor: ['source kafka:raw: watermark 2026-11-20T23:00:00.000Z, 61 min short of 2026-11-21T00:01:00.000Z'] });
    const waiting = (await (await fetch(`${server.url}/api/status`)).json()) as StatusSnapshot;
    expect(waiting.etl.waiting).toEqual({ day: '2026-11-20', waitingFor: ['source kafka:raw: watermark 2026-11-20T23:00:00.000Z, 61 min short of 2026-11-21T00:01:00.000Z'] });
    s.metrics.setEtlWaiting(null);

    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('<div class="chart" id="chart-events">');
    expect(html).toContain('<div class="chart" id="chart-dlq">');
    expect(html).toContain('fetch("api/status"');
    // The inline script is valid JavaScript (it lives in a template literal, where a lone backslash vanishes).
    const inline = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(() => new Script(inline)).not.toThrow();
    expect(inline).toContain('.replace(/\\.?0+$/, "")');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    // Self-contained: no resource from another host; the only external files are uPlot's, from this server.
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
    const refs = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"/gi)].map((m) => m[1]);
    expect(refs.sort()).toEqual(['assets/uPlot.iife.min.js', 'assets/uPlot.min.css', 'data:,']); // data:, is an empty favicon

    // uPlot, served from node_modules with the right types.
    const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
    const js = await fetch(`${server.url}/assets/uPlot.iife.min.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toBe(readFileSync(join(uplotDir, 'dist/uPlot.iife.min.js'), 'utf8'));
    const css = await fetch(`${server.url}/assets/uPlot.min.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toBe(readFileSync(join(uplotDir, 'dist/uPlot.min.css'), 'utf8'));
    const headJs = await fetch(`${server.url}/assets/uPlot.iife.min.js`, { method: 'HEAD' });
    expect(headJs.status).toBe(200);
    expect(Number(headJs.headers.get('content-length'))).toBeGreaterThan(10_000);
    expect((await fetch(`${server.url}/assets/uPlot.esm.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/assets/../package.json`)).status).toBe(404);

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
