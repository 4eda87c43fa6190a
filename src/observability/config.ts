/**
 * Settings of the observability module (metrics endpoint, status page, in-process alerts), parsed once at
 * start like src/config/schema.ts: every problem is reported together, naming the variable, the value and what
 * is allowed. Kept apart from the daemon's ENV_VARS so this module can be wired in without touching them; the
 * lead may merge OBSERVABILITY_ENV_VARS into `gamestream env` output.
 */
import { parseVars, type VarSpec } from '../config/vars.ts';
import { GamestreamError } from '../errors.ts';
import { duration, fraction, httpUrlOrEmpty, integer, nonEmpty, ValueError } from '../config/parsers.ts';

export interface ObservabilityConfig {
  /** null: no HTTP server at all. 0: any free port. */
  metricsPort: number | null;
  metricsHost: string;
  alertWebhook: string | null;
  alertIntervalMs: number;
  alertLagMessages: number;
  alertDlqRatio: number;
  alertDlqWindowMs: number;
  alertDlqMinRecords: number;
  alertNoEventsMs: number;
  alertRestarts: number;
  alertRestartWindowMs: number;
  alertEtlStaleMs: number;
}

function v<K extends keyof ObservabilityConfig>(spec: VarSpec<ObservabilityConfig, K>): VarSpec<ObservabilityConfig, K> {
  return spec;
}

function portOrOff(raw: string): number | null {
  if (raw.trim() === 'off') return null;
  try {
    return integer(0, 65535)(raw);
  } catch {
    throw new ValueError('a port from 0 to 65535 (0: any free port), or off');
  }
}



export const OBSERVABILITY_ENV_VARS = [
  v({ name: 'GAMESTREAM_METRICS_PORT', key: 'metricsPort', default: '9464', allowed: '0–65535 (0: any free port) | off',
    doc: 'TCP port of the observability server: /metrics (Prometheus), /healthz, /readyz, /api/status and the status page at /. off: no server.', parse: portOrOff }),
  v({ name: 'GAMESTREAM_METRICS_HOST', key: 'metricsHost', default: '127.0.0.1', allowed: 'a host name or IP address',
    doc: 'Address the observability server listens on. 0.0.0.0 listens on every interface (needed when Prometheus scrapes from another host).', parse: nonEmpty }),
  v({ name: 'GAMESTREAM_ALERT_WEBHOOK', key: 'alertWebhook', default: '', allowed: 'an http(s) URL, or empty',
    doc: 'Every alert that fires or resolves is POSTed here as JSON {alert, severity, state, message, value, since}. Empty: alerts are only logged and shown on the status page.', parse: httpUrlOrEmpty, show: () => '<hidden>' }),
  v({ name: 'GAMESTREAM_ALERT_INTERVAL', key: 'alertIntervalMs', default: '15s', allowed: '1s–10m',
    doc: 'How often the in-process alert rules are evaluated.', parse: duration(1000, 600_000) }),
  v({ name: 'GAMESTREAM_ALERT_LAG', key: 'alertLagMessages', default: '100000', allowed: '1–1000000000000',
    doc: 'ConsumerLagHigh (critical) fires when the total Kafka consumer lag over all partitions exceeds this many messages.', parse: integer(1, 1e12) }),
  v({ name: 'GAMESTREAM_ALERT_DLQ_RATIO', key: 'alertDlqRatio', default: '0.01', allowed: 'above 0, at most 1',
    doc: 'DeadLetterRateHigh (warning) fires when dead letters exceed this share of the records committed over GAMESTREAM_ALERT_DLQ_WINDOW.', parse: fraction({ exclusiveMin: true }) }),
  v({ name: 'GAMESTREAM_ALERT_DLQ_WINDOW', key: 'alertDlqWindowMs', default: '1m', allowed: '10s–1h',
    doc: 'The window of DeadLetterRateHigh.', parse: duration(10_000, 3_600_000) }),
  v({ name: 'GAMESTREAM_ALERT_DLQ_MIN_RECORDS', key: 'alertDlqMinRecords', default: '100', allowed: '1–1000000000',
    doc: 'DeadLetterRateHigh needs at least this many records in its window, so that 1 bad record out of 3 does not page anyone.', parse: integer(1, 1e9) }),
  v({ name: 'GAMESTREAM_ALERT_NO_EVENTS', key: 'alertNoEventsMs', default: '1h', allowed: '1m–7d',
    doc: 'NoEvents (critical) fires when no record has been committed for this long (counted from the start of the daemon at first).', parse: duration(60_000, 7 * 86_400_000) }),
  v({ name: 'GAMESTREAM_ALERT_RESTARTS', key: 'alertRestarts', default: '3', allowed: '1–1000',
    doc: 'StreamProcessorFailing (critical) fires when this many worker restarts happen within GAMESTREAM_ALERT_RESTART_WINDOW, or at once on a fatal error (crash loop, warehouse write failure).', parse: integer(1, 1000) }),
  v({ name: 'GAMESTREAM_ALERT_RESTART_WINDOW', key: 'alertRestartWindowMs', default: '10m', allowed: '1m–1d',
    doc: 'The window of the worker-restart part of StreamProcessorFailing.', parse: duration(60_000, 86_400_000) }),
  v({ name: 'GAMESTREAM_ALERT_ETL_STALE', key: 'alertEtlStaleMs', default: '26h', allowed: '1h–30d',
    doc: 'EtlFailing (high) fires when the latest daily ETL run failed, or when the ETL is enabled and has had no successful run for this long.', parse: duration(3_600_000, 30 * 86_400_000) }),
] as const;

export function loadObservabilityConfig(env: NodeJS.ProcessEnv = process.env): ObservabilityConfig {
  const { values, problems } = parseVars<ObservabilityConfig>(OBSERVABILITY_ENV_VARS as readonly VarSpec<ObservabilityConfig, keyof ObservabilityConfig>[], env);
  if (problems.length > 0) {
    throw new GamestreamError('config_invalid', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return values as ObservabilityConfig;
}
