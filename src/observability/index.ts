/**
 * One call that sets up the whole observability module for a daemon: the metrics, the in-process alert rules,
 * the status sampler and the HTTP server. The daemon then feeds `obs.metrics` (see metrics.ts for when to
 * call what) and calls `obs.stop()` at shutdown.
 */
import type { Logger } from '../log.ts';
import { AlertEngine, inputsFromMetrics } from './alerts.ts';
import type { ObservabilityConfig } from './config.ts';
import { Metrics } from './metrics.ts';
import { startObservabilityServer, type HealthReport, type ObservabilityServer } from './server.ts';
import type { SqlEndpointOptions } from './sql-endpoint.ts';
import { StatusTracker, type WarehouseView } from './status.ts';
import type { FetchFn } from './webhook.ts';

export { Metrics } from './metrics.ts';
export type { CommitRecord, PartitionDelta, EtlStatus } from './metrics.ts';
export { CheckpointDeltas } from './checkpoint-deltas.ts';
export { AlertEngine, ALERT_NAMES, SEVERITY, inputsFromMetrics } from './alerts.ts';
export type { AlertInputs, AlertStatus, AlertNotification } from './alerts.ts';
export { loadObservabilityConfig, OBSERVABILITY_ENV_VARS } from './config.ts';
export type { ObservabilityConfig } from './config.ts';
export { startObservabilityServer } from './server.ts';
export type { HealthReport, ObservabilityServer } from './server.ts';
export { StatusTracker } from './status.ts';
export type { StatusSnapshot, WarehouseView } from './status.ts';

export interface Observability {
  metrics: Metrics;
  alerts: AlertEngine;
  status: StatusTracker;
  /** null when GAMESTREAM_METRICS_PORT=off. */
  server: ObservabilityServer | null;
  /** Evaluates the alerts once more (so a fatal error still pages), waits for webhooks, closes the server. */
  stop(): Promise<void>;
}

export interface StartObservabilityOptions {
  config: ObservabilityConfig;
  log: Logger;
  health: () => HealthReport | Promise<HealthReport>;
  now?: () => number;
  fetch?: FetchFn;
  /** The warehouse's own view for the status page (24 h volume, latest quality checks). */
  warehouse?: () => Promise<WarehouseView>;
  /** POST /sql (sql-endpoint.ts); absent: not served. */
  sql?: SqlEndpointOptions;
  /** Tests turn prom-client's process metrics off to keep the text short. */
  defaultMetrics?: boolean;
}

export async function startObservability(o: StartObservabilityOptions): Promise<Observability> {
  const metrics = new Metrics({ now: o.now, defaultMetrics: o.defaultMetrics });
  const alerts = new AlertEngine({
    thresholds: o.config, inputs: inputsFromMetrics(metrics), log: o.log, now: o.now,
    webhookUrl: o.config.alertWebhook, fetch: o.fetch, metrics,
  });
  const status = new StatusTracker({ metrics, alerts, now: o.now, warehouse: o.warehouse });
  const server = o.config.metricsPort === null
    ? null
    : await startObservabilityServer({ port: o.config.metricsPort, host: o.config.metricsHost, metrics, health: o.health, status: () => status.snapshot(), log: o.log, sql: o.sql });
  alerts.start(o.config.alertIntervalMs);
  status.start();
  return {
    metrics, alerts, status, server,
    async stop() {
      status.stop();
      alerts.evaluate();
      await alerts.stop();
      await server?.close();
    },
  };
}
