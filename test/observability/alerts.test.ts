import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertEngine, inputsFromMetrics, type AlertNotification } from '../../src/observability/alerts.ts';
import { loadObservabilityConfig } from '../../src/observability/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { captureLogger, sampleValue } from './prom-text.ts';

/** A local webhook receiver that keeps every JSON body; answers `status` (200 by default). */
let hook: Server;
let hookUrl = '';
let received: AlertNotification[] = [];
let hookStatus = 200;
beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      if (hookStatus === 200) received.push(JSON.parse(body) as AlertNotification);
      res.writeHead(hookStatus).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hooks/secret-token-123`;
});
afterAll(() => new Promise<void>((r) => hook.close(() => r())));
beforeEach(() => {
  received = [];
  hookStatus = 200;
});

const T0 = Date.UTC(2026, 10, 20, 10, 0, 0);
const thresholds = loadObservabilityConfig({});

function rig() {
  let now = T0;
  const metrics = new Metrics({ now: () => now, defaultMetrics: false });
  const { log, lines } = captureLogger();
  const engine = new AlertEngine({ thresholds, inputs: inputsFromMetrics(metrics), log, now: () => now, webhookUrl: hookUrl, metrics });
  const commit = (recordsIn: number, deadLetters: number) =>
    metrics.recordCommit({ durationMs: 5, partitions: [{ partition: 0, recordsIn, eventsWritten: recordsIn - deadLetters, deadLetters, duplicates: 0, lateEvents: 0, windowRows: 0 }], deadLettersByCode: { invalid_field: deadLetters } });
  /** Advances the clock by `ms`, evaluates, and returns the names of the transitions. */
  const step = (ms: number) => {
    now += ms;
    return engine.evaluate().map((n) => `${n.alert}:${n.state}`);
  };
  return { metrics, engine, lines, commit, step };
}

describe('alert rules', () => {
  it('ConsumerLagHigh fires once above 100k and resolves', async () => {
    const r = rig();
    expect(r.step(0)).toEqual([]); // lag unknown
    r.metrics.setLag(0, 60_000);
    r.metrics.setLag(1, 40_000);
    expect(r.step(15_000)).toEqual([]); // exactly 100k is not above
    r.metrics.setLag(1, 40_001);
    expect(r.step(15_000)).toEqual(['ConsumerLagHigh:firing']);
    expect(r.step(15_000)).toEqual([]); // once per episode
    r.metrics.setLag(0, 10);
    expect(r.step(15_000)).toEqual(['ConsumerLagHigh:resolved']);
    await r.engine.flush();
    expect(received.map((n) => [n.alert, n.severity, n.state, n.value])).toEqual([
      ['ConsumerLagHigh', 'critical', 'firing', 100_001],
      ['ConsumerLagHigh', 'critical', 'resolved', 40_011],
    ]);
    expect(received[0].since).toBe(new Date(T0 + 30_000).toISOString());
    expect(received[1].since).toBe(received[0].since);
    expect(received[0].message).toContain('100001');
    const fired = r.lines.find((l) => l.state === 'firing');
    expect(fired).toMatchObject({ level: 50, alert: 'ConsumerLagHigh', severity: 'critical' });
    expect(r.lines.find((l) => l.state === 'resolved')).toMatchObject({ level: 40 });
  });

  it('DeadLetterRateHigh fires above 1% over the last minute and resolves as the minute moves on', async () => {
    const r = rig();
    r.step(0);
    r.commit(10_000, 100); // exactly 1%
    expect(r.step(15_000)).toEqual([]);
    r.commit(10_000, 200); // 300 / 20 000 = 1.5% over the window
    expect(r.step(15_000)).toEqual(['DeadLetterRateHigh:firing']);
    expect(r.engine.statuses().find((s) => s.alert === 'DeadLetterRateHigh')?.value).toBeCloseTo(0.015);
    r.commit(10_000, 50); // 350 / 30 000 = 1.17%: still the same episode
    expect(r.step(15_000)).toEqual([]);
    // A minute of clean traffic pushes the bad commits out of the window.
    for (let i = 0; i < 4; i++) r.commit(10_000, 10);
    expect(r.step(60_000)).toEqual(['DeadLetterRateHigh:resolved']);
    await r.engine.flush();
    expect(received.map((n) => `${n.alert}:${n.severity}:${n.state}`)).toEqual(['DeadLetterRateHigh:warning:firing', 'DeadLetterRateHigh:warning:resolved']);
    expect(r.lines.find((l) => l.state === 'firing')).toMatchObject({ level: 40 }); // warning → warn
  });

  it('DeadLetterRateHigh ignores windows with too few records', () => {
    const r = rig();
    r.step(0);
    r.commit(50, 25);
    expect(r.step(15_000)).toEqual([]);
  });

  it('StreamProcessorFailing fires on 3 restarts in 10 minutes or a fatal error', async () => {
    const r = rig();
    r.metrics.workerRestarted(0);
    r.metrics.workerRestarted(1);
    expect(r.step(1000)).toEqual([]);
    r.metrics.workerRestarted(0);
    expect(r.step(1000)).toEqual(['StreamProcessorFailing:firing']);
    expect(r.step(5 * 60_000)).toEqual([]);
    expect(r.step(5 * 60_000)).toEqual(['StreamProcessorFailing:resolved']); // the restarts left the window
    r.metrics.processorFailed('warehouse_write_failed');
    expect(r.step(1000)).toEqual(['StreamProcessorFailing:firing']);
    expect(r.step(3_600_000)).toEqual(['NoEvents:firing']); // a fatal error does not resolve on its own
    await r.engine.flush();
    expect(received.filter((n) => n.alert === 'StreamProcessorFailing').map((n) => n.state)).toEqual(['firing', 'resolved', 'firing']);
    expect(received.find((n) => n.message.includes('warehouse_write_failed'))).toBeDefined();
  });

  it('EtlFailing fires when the daily run fails or goes stale, and resolves on success', async () => {
    const r = rig();
    expect(r.step(30 * 3_600_000).filter((t) => t.startsWith('Etl'))).toEqual([]); // not enabled
    r.metrics.setEtlEnabled(true);
    r.metrics.etlTask({ task: 'dag', status: 'success', durationMs: 60_000 });
    expect(r.step(1000).filter((t) => t.startsWith('Etl'))).toEqual([]);
    r.metrics.etlTask({ task: 'dag', status: 'failed', durationMs: 60_000 });
    expect(r.step(1000).filter((t) => t.startsWith('Etl'))).toEqual(['EtlFailing:firing']);
    r.metrics.etlTask({ task: 'dag', status: 'cancelled', durationMs: 1 }); // a shutdown says nothing
    expect(r.step(1000).filter((t) => t.startsWith('Etl'))).toEqual([]);
    r.metrics.etlTask({ task: 'dag', status: 'success', durationMs: 60_000 });
    expect(r.step(1000).filter((t) => t.startsWith('Etl'))).toEqual(['EtlFailing:resolved']);
    expect(r.step(27 * 3_600_000).filter((t) => t.startsWith('Etl'))).toEqual(['EtlFailing:firing']); // stale after 26 h
    await r.engine.flush();
    expect(received.filter((n) => n.alert === 'EtlFailing').map((n) => `${n.severity}:${n.state}`)).toEqual(['high:firing', 'high:resolved', 'high:firing']);
  });

  it('EtlQualityCheck fires on a failed or warning check of the latest day checked, and resolves when a day passes', async () => {
    const r = rig();
    const ok = { name: 'dlq_rate', passed: true, status: 'passed' as const, value: 0, threshold: 0.01 };
    const quality = () => r.step(1000).filter((t) => t.startsWith('EtlQuality'));
    expect(quality()).toEqual([]); // no day checked yet
    r.metrics.etlChecks.set('2026-11-19', [ok]);
    expect(quality()).toEqual([]);
    r.metrics.etlChecks.set('2026-11-20', [ok, { name: 'volume_drop_level_complete', passed: null, status: 'warning', value: 120, threshold: 300 }]);
    expect(quality()).toEqual(['EtlQualityCheck:firing']);
    expect(r.engine.firing().find((s) => s.alert === 'EtlQualityCheck')?.message).toBe('quality checks of 2026-11-20: volume_drop_level_complete warned (etl_checks)');
    const text = await r.metrics.text();
    expect(sampleValue(text, 'gamestream_etl_check_warning{check="volume_drop_level_complete"}')).toBe(1);
    expect(sampleValue(text, 'gamestream_etl_check_failed{check="volume_drop_level_complete"}')).toBe(0);
    expect(sampleValue(text, 'gamestream_etl_check_warning{check="dlq_rate"}')).toBe(0);
    r.metrics.etlChecks.set('2026-11-21', [ok]);
    expect(quality()).toEqual(['EtlQualityCheck:resolved']);
    expect(sampleValue(await r.metrics.text(), 'gamestream_etl_check_warning{check="volume_drop_level_complete"}')).toBeUndefined();
    await r.engine.flush();
    expect(received.filter((n) => n.alert === 'EtlQualityCheck').map((n) => `${n.severity}:${n.state}`)).toEqual(['warning:firing', 'warning:resolved']);
  });

  it('NoEvents fires after an hour without records (from start) and resolves on the next commit', async () => {
    const r = rig();
    expect(r.step(3_600_000)).toEqual([]); // exactly one hour is not more
    expect(r.step(1000)).toEqual(['NoEvents:firing']);
    expect(r.step(600_000)).toEqual([]);
    r.commit(10, 0);
    expect(r.step(1000)).toEqual(['NoEvents:resolved']);
    await r.engine.flush();
    expect(received.map((n) => `${n.alert}:${n.severity}:${n.state}`)).toEqual(['NoEvents:critical:firing', 'NoEvents:critical:resolved']);
    expect(sampleValue(await r.metrics.text(), 'gamestream_alert_firing{alert="NoEvents",severity="critical"}')).toBe(0);
  });

  it('keeps state for the status page and survives a failing webhook without logging its URL', async () => {
    const r = rig();
    hookStatus = 500;
    r.metrics.setLag(0, 200_000);
    r.step(0);
    await r.engine.flush();
    expect(r.engine.firing().map((s) => s.alert)).toEqual(['ConsumerLagHigh']);
    expect(r.engine.history()[0]).toMatchObject({ alert: 'ConsumerLagHigh', state: 'firing' });
    expect(sampleValue(await r.metrics.text(), 'gamestream_alert_webhook_failures_total')).toBe(1);
    expect(sampleValue(await r.metrics.text(), 'gamestream_alert_firing{alert="ConsumerLagHigh",severity="critical"}')).toBe(1);
    const failed = r.lines.find((l) => l.msg === 'alert webhook POST failed');
    expect(failed).toMatchObject({ level: 40, err: 'HTTP 500' });
    expect(JSON.stringify(r.lines)).not.toContain('secret-token');
  });
});
