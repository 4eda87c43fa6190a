/**
 * The seed's five alert rules and the quality-check alert, evaluated inside the daemon on a timer so a deployment without Prometheus still
 * gets paged (monitoring/alerts.yml holds the same rules for a Prometheus that scrapes /metrics).
 *
 *   ConsumerLagHigh        critical  total Kafka consumer lag over all partitions > GAMESTREAM_ALERT_LAG
 *   DeadLetterRateHigh     warning   dead letters / records committed over GAMESTREAM_ALERT_DLQ_WINDOW
 *                                    > GAMESTREAM_ALERT_DLQ_RATIO, with at least GAMESTREAM_ALERT_DLQ_MIN_RECORDS
 *   StreamProcessorFailing critical  a fatal error (Metrics.processorFailed), or at least GAMESTREAM_ALERT_RESTARTS
 *                                    worker restarts within GAMESTREAM_ALERT_RESTART_WINDOW
 *   EtlFailing             high      the latest daily ETL run failed, or the ETL is enabled and has had no
 *                                    successful run for GAMESTREAM_ALERT_ETL_STALE
 *   NoEvents               critical  no record committed for GAMESTREAM_ALERT_NO_EVENTS (counted from start)
 *   EtlQualityCheck        warning   a data-quality check of the latest day the ETL checked failed or warned
 *                                    (the seed's dashboard panel, e.g. "Unusual drop in level_complete events")
 *
 * Each alert fires once per episode (condition false → true) and resolves once (true → false). Both
 * transitions are logged, POSTed to the webhook when one is set, and kept for the status page.
 */
import type { Logger } from '../log.ts';
import type { ObservabilityConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import { WebhookNotifier, type FetchFn } from './webhook.ts';

export const ALERT_NAMES = ['ConsumerLagHigh', 'DeadLetterRateHigh', 'StreamProcessorFailing', 'EtlFailing', 'NoEvents', 'EtlQualityCheck'] as const;
export type AlertName = (typeof ALERT_NAMES)[number];
export type Severity = 'critical' | 'high' | 'warning';

export const SEVERITY: Record<AlertName, Severity> = {
  ConsumerLagHigh: 'critical',
  DeadLetterRateHigh: 'warning',
  StreamProcessorFailing: 'critical',
  EtlFailing: 'high',
  NoEvents: 'critical',
  EtlQualityCheck: 'warning',
};

/** What the rules read; `inputsFromMetrics` builds it from a Metrics instance, tests pass their own. */
export interface AlertInputs {
  /** Total consumer lag in messages; null when unknown (not a Kafka source, or no lag measured yet). */
  totalLag(): number | null;
  /** Cumulative committed records and dead letters. */
  counts(): { recordsIn: number; deadLetters: number };
  /** When a commit last covered a record; before that, when the daemon started. */
  lastRecordAtMs(): number;
  fatal(): { code: string; atMs: number } | null;
  restartTimesMs(): readonly number[];
  etl(): { enabled: boolean; lastRunStatus: string | null; lastSuccessMs: number | null; startedAtMs: number };
  /** The latest day's failed and warning quality checks; null before the ETL has checked a day. */
  etlChecks(): { day: string; failed: string[]; warnings: string[] } | null;
}

export type AlertThresholds = Pick<
  ObservabilityConfig,
  'alertLagMessages' | 'alertDlqRatio' | 'alertDlqWindowMs' | 'alertDlqMinRecords' | 'alertNoEventsMs' | 'alertRestarts' | 'alertRestartWindowMs' | 'alertEtlStaleMs'
>;

export interface AlertStatus {
  alert: AlertName;
  severity: Severity;
  state: 'ok' | 'firing';
  /** ISO time the current (or, when ok, the last) episode started; null if it never fired. */
  since: string | null;
  value: number | null;
  message: string;
}

export interface AlertNotification {
  alert: AlertName;
  severity: Severity;
  state: 'firing' | 'resolved';
  message: string;
  value: number | null;
  since: string;
}

export interface AlertEngineOptions {
  thresholds: AlertThresholds;
  inputs: AlertInputs;
  log: Logger;
  now?: () => number;
  webhookUrl?: string | null;
  fetch?: FetchFn;
  /** Sets gamestream_alert_firing and counts webhook failures. */
  metrics?: Metrics;
}

interface Verdict {
  firing: boolean;
  value: number | null;
  message: string;
}

export function inputsFromMetrics(m: Metrics): AlertInputs {
  const s = m.state();
  return {
    totalLag: () => {
      if (s.lag.size === 0) return null;
      let t = 0;
      for (const n of s.lag.values()) t += n;
      return t;
    },
    counts: () => ({ recordsIn: s.recordsIn, deadLetters: s.deadLetters }),
    lastRecordAtMs: () => s.lastRecordAtMs ?? s.startedAtMs,
    fatal: () => s.fatal,
    restartTimesMs: () => s.workerRestartsMs,
    etl: () => ({ enabled: s.etlEnabled, lastRunStatus: s.etlLastRun?.status ?? null, lastSuccessMs: s.etlLastSuccessMs, startedAtMs: s.startedAtMs }),
    etlChecks: () => m.etlChecks.latest(),
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

export class AlertEngine {
  private readonly o: AlertEngineOptions;
  private readonly t: AlertThresholds;
  private readonly now: () => number;
  private readonly notifier: WebhookNotifier | null;
  private readonly state = new Map<AlertName, { firing: boolean; sinceMs: number | null; value: number | null; message: string }>();
  private samples: { atMs: number; recordsIn: number; deadLetters: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly recent: (AlertNotification & { atMs: number })[] = [];

  constructor(opts: AlertEngineOptions) {
    this.o = opts;
    this.t = opts.thresholds;
    this.now = opts.now ?? Date.now;
    this.notifier = opts.webhookUrl
      ? new WebhookNotifier({ url: opts.webhookUrl, log: opts.log, fetch: opts.fetch, onFailure: () => opts.metrics?.alertWebhookFailed() })
      : null;
    for (const a of ALERT_NAMES) {
      this.state.set(a, { firing: false, sinceMs: null, value: null, message: 'ok' });
      opts.metrics?.setAlertFiring(a, SEVERITY[a], false);
    }
  }

  /** Evaluates every rule now; returns the transitions (webhook deliveries continue in the background). */
  evaluate(): AlertNotification[] {
    const now = this.now();
    const verdicts: Record<AlertName, Verdict> = {
      ConsumerLagHigh: this.lag(),
      DeadLetterRateHigh: this.dlq(now),
      StreamProcessorFailing: this.processor(now),
      EtlFailing: this.etl(now),
      NoEvents: this.noEvents(now),
      EtlQualityCheck: this.quality(),
    };
    const out: AlertNotification[] = [];
    for (const a of ALERT_NAMES) {
      const v = verdicts[a];
      const st = this.state.get(a)!;
      const was = st.firing;
      if (v.firing && !was) st.sinceMs = now;
      st.firing = v.firing;
      st.value = v.value;
      st.message = v.message;
      if (v.firing === was) continue;
      const n: AlertNotification = {
        alert: a, severity: SEVERITY[a], state: v.firing ? 'firing' : 'resolved', message: v.message, value: v.value,
        since: new Date(st.sinceMs ?? now).toISOString(),
      };
      out.push(n);
      this.notify(n, now);
    }
    return out;
  }

  private notify(n: AlertNotification, now: number): void {
    const fields = { alert: n.alert, severity: n.severity, state: n.state, value: n.value, since: n.since };
    if (n.state === 'firing' && n.severity !== 'warning') this.o.log.error(fields, `alert firing: ${n.message}`);
    else this.o.log.warn(fields, n.state === 'firing' ? `alert firing: ${n.message}` : `alert resolved: ${n.message}`);
    this.o.metrics?.setAlertFiring(n.alert, n.severity, n.state === 'firing');
    this.recent.unshift({ ...n, atMs: now });
    if (this.recent.length > 50) this.recent.pop();
    this.notifier?.send(n);
  }

  private lag(): Verdict {
    const lag = this.o.inputs.totalLag();
    if (lag === null) return { firing: false, value: null, message: 'consumer lag unknown (not consuming from Kafka)' };
    const firing = lag > this.t.alertLagMessages;
    return { firing, value: lag, message: `consumer lag ${lag} messages ${firing ? '>' : '≤'} ${this.t.alertLagMessages}` };
  }

  private dlq(now: number): Verdict {
    const c = this.o.inputs.counts();
    this.samples.push({ atMs: now, ...c });
    const cutoff = now - this.t.alertDlqWindowMs;
    // Keep the newest sample at or before the window start as the base; drop older ones.
    let baseIdx = 0;
    for (let i = 0; i < this.samples.length; i++) if (this.samples[i].atMs <= cutoff) baseIdx = i;
    this.samples = this.samples.slice(baseIdx);
    const base = this.samples[0];
    const records = c.recordsIn - base.recordsIn;
    const dead = c.deadLetters - base.deadLetters;
    const ratio = records > 0 ? dead / records : 0;
    const windowS = Math.round(this.t.alertDlqWindowMs / 1000);
    if (records < this.t.alertDlqMinRecords) {
      return { firing: false, value: records > 0 ? ratio : null, message: `${dead} dead letters of ${records} records in the last ${windowS}s (too few records to judge)` };
    }
    const firing = ratio > this.t.alertDlqRatio;
    return { firing, value: ratio, message: `dead letters ${pct(ratio)} of ${records} records in the last ${windowS}s ${firing ? '>' : '≤'} ${pct(this.t.alertDlqRatio)}` };
  }

  private processor(now: number): Verdict {
    const fatal = this.o.inputs.fatal();
    const windowS = Math.round(this.t.alertRestartWindowMs / 1000);
    const restarts = this.o.inputs.restartTimesMs().filter((t) => now - t < this.t.alertRestartWindowMs).length;
    if (fatal) return { firing: true, value: restarts, message: `stream processor stopped by a fatal error (${fatal.code})` };
    const firing = restarts >= this.t.alertRestarts;
    return { firing, value: restarts, message: `${restarts} worker restart(s) in the last ${windowS}s (alert at ${this.t.alertRestarts})` };
  }

  private etl(now: number): Verdict {
    const e = this.o.inputs.etl();
    if (!e.enabled) return { firing: false, value: null, message: 'daily ETL not enabled in this process' };
    if (e.lastRunStatus === 'failed') return { firing: true, value: 0, message: 'the latest daily ETL run failed' };
    const sinceOk = now - (e.lastSuccessMs ?? e.startedAtMs);
    const hours = (sinceOk / 3_600_000).toFixed(1);
    if (sinceOk > this.t.alertEtlStaleMs) {
      return { firing: true, value: sinceOk / 1000, message: `no successful daily ETL run for ${hours}h (alert after ${(this.t.alertEtlStaleMs / 3_600_000).toFixed(0)}h)` };
    }
    return { firing: false, value: sinceOk / 1000, message: e.lastSuccessMs === null ? 'daily ETL has not run yet' : `last successful daily ETL run ${hours}h ago` };
  }

  private quality(): Verdict {
    const c = this.o.inputs.etlChecks();
    if (c === null) return { firing: false, value: null, message: 'no day checked yet' };
    const bad = [...c.failed.map((n) => `${n} failed`), ...c.warnings.map((n) => `${n} warned`)];
    if (bad.length === 0) return { firing: false, value: 0, message: `every quality check of ${c.day} passed or was skipped` };
    return { firing: true, value: bad.length, message: `quality checks of ${c.day}: ${bad.join(', ')} (etl_checks)` };
  }

  private noEvents(now: number): Verdict {
    const quietMs = now - this.o.inputs.lastRecordAtMs();
    const firing = quietMs > this.t.alertNoEventsMs;
    const mins = (quietMs / 60_000).toFixed(1);
    return { firing, value: quietMs / 1000, message: firing ? `no events for ${mins} min (alert after ${this.t.alertNoEventsMs / 60_000} min)` : `last events ${mins} min ago` };
  }

  statuses(): AlertStatus[] {
    return ALERT_NAMES.map((a) => {
      const s = this.state.get(a)!;
      return {
        alert: a, severity: SEVERITY[a], state: s.firing ? 'firing' : 'ok', since: s.sinceMs === null ? null : new Date(s.sinceMs).toISOString(),
        value: s.value, message: s.message,
      };
    });
  }

  firing(): AlertStatus[] {
    return this.statuses().filter((s) => s.state === 'firing');
  }

  /** The latest transitions, newest first (for the status page). */
  history(): (AlertNotification & { at: string })[] {
    return this.recent.map(({ atMs, ...n }) => ({ ...n, at: new Date(atMs).toISOString() }));
  }

  start(intervalMs: number): void {
    if (this.timer) return;
    this.evaluate();
    this.timer = setInterval(() => this.evaluate(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for webhook deliveries in flight (call before exit, after a last evaluate()). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Resolves when every webhook POST queued so far is delivered or given up. */
  flush(): Promise<void> {
    return this.notifier?.idle() ?? Promise.resolve();
  }
}
