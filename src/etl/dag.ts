/**
 * One run of the daily DAG for UTC day D:
 *   wait_for_data → (compute_level_metrics ∥ compute_user_metrics ∥ compute_revenue_metrics) → data_quality_check
 *                 ∥ refresh_level_daily_stats
 *                 → (trigger_ml_training ∥ export_features)
 * Every attempt of every task is a row in etl_runs, and the run itself is the row with task 'dag'. A task that
 * fails is retried `retries` times, `retryDelayMs` apart; its final failure is logged, counted, alerted, and
 * marks its downstream tasks 'upstream_failed'.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { errorCode } from '../errors.ts';
import type { Clock } from './clock.ts';
import type { EtlConfig } from './config.ts';
import { computeLevelMetrics, computeUserMetrics } from './metrics.ts';
import { computeRevenueMetrics } from './revenue.ts';
import { applyRetention } from './retention.ts';
import { refreshLevelDailyStats } from './level-stats.ts';
import { exportFeaturesTask, postJson, triggerMlTraining, type FetchFn, type TaskOutcome } from './outputs.ts';
import type { CheckResult } from './check-result.ts';
import { dataQualityCheck } from './quality.ts';
import { waitForData, type DayReadiness } from './sensor.ts';
import { dialectOf, sqlDate, sqlTimestamp, type EtlWarehouse } from './warehouse.ts';

export const TASKS = [
  'wait_for_data',
  'compute_level_metrics',
  'compute_user_metrics',
  'compute_revenue_metrics',
  'refresh_level_daily_stats',
  'data_quality_check',
  'trigger_ml_training',
  'export_features',
  'apply_retention',
] as const;
export type TaskName = (typeof TASKS)[number];
export type TaskStatus = 'success' | 'failed' | 'skipped' | 'upstream_failed' | 'cancelled';

export interface EtlCounters {
  runsSucceeded: number;
  runsFailed: number;
  tasksFailed: number;
  alertsSent: number;
  alertsFailed: number;
}

export function newCounters(): EtlCounters {
  return { runsSucceeded: 0, runsFailed: 0, tasksFailed: 0, alertsSent: 0, alertsFailed: 0 };
}

export interface DagDeps {
  warehouse: EtlWarehouse;
  config: EtlConfig;
  log: Logger;
  clock: Clock;
  fetch: FetchFn;
  counters: EtlCounters;
  signal?: AbortSignal;
  /** When wait_for_data gives up, when the scheduler already waited for the day (default: the sensor's own). */
  sensorDeadlineMs?: number;
  /** Pause between alert POST attempts (3 attempts). */
  alertRetryDelayMs?: number;
  /** Each finished task attempt, and the whole run as task 'dag' (metrics). */
  onTask?: (t: { task: string; status: 'success' | 'failed' | 'skipped' | 'cancelled'; durationMs: number }) => void;
  /** The quality checks of a day, once stored (metrics). */
  onChecks?: (day: string, checks: CheckResult[]) => void;
  /** The daemon's own source, which counts as running before its first commit (sensor.ts). */
  ownSource?: string | null;
  /** Each poke of wait_for_data that found the day not complete yet: what it waits for (status page); null once the wait is over. */
  onWait?: (day: string, r: DayReadiness | null) => void;
}

export interface DagResult {
  runId: string;
  date: string;
  status: 'success' | 'failed' | 'cancelled';
  tasks: Record<TaskName, TaskStatus>;
}

export function newRunId(day: string, nowMs: number): string {
  return `etl-${day}-${nowMs}-${randomBytes(3).toString('hex')}`;
}

async function recordStart(wh: EtlWarehouse, runId: string, day: string, task: string, attempt: number, at: number): Promise<void> {
  const { str } = dialectOf(wh);
  await wh.exec(`INSERT INTO etl_runs (run_id, date, task, attempt, status, started_at)
    VALUES (${str(runId)}, ${sqlDate(day)}, ${str(task)}, ${attempt}, 'running', ${sqlTimestamp(at)})`);
}

async function recordEnd(
  wh: EtlWarehouse, runId: string, task: string, attempt: number, status: string, at: number, rows: number | null, error: string | null,
): Promise<void> {
  const { str } = dialectOf(wh);
  await wh.exec(`UPDATE etl_runs SET status = ${str(status)}, ended_at = ${sqlTimestamp(at)},
    rows_written = ${rows === null ? 'NULL' : rows}, error = ${error === null ? 'NULL' : str(error.slice(0, 4000))}
    WHERE run_id = ${str(runId)} AND task = ${str(task)} AND attempt = ${attempt}`);
}

/**
 * A write of the run history, tried 3 times (1 s, then 2 s apart, at most the retry delay): on BigQuery a daemon
 * and `gamestream etl run` updating one day's rows at once may be refused once for the other's concurrent update.
 */
async function recorded(deps: DagDeps, write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt === 3 || deps.signal?.aborted) throw err;
      deps.log.warn({ err, attempt }, 'ETL: writing the run history failed; trying again');
      await deps.clock.sleep(Math.min(1000 * attempt, deps.config.retryDelayMs), deps.signal).catch(() => undefined);
    }
  }
}

/** A run whose history cannot be written is a failed run: counted, reported to the metrics and alerted. */
async function unrecordedRun(deps: DagDeps, runId: string, day: string, durationMs: number, error: string): Promise<void> {
  deps.counters.runsFailed++;
  deps.onTask?.({ task: 'dag', status: 'failed', durationMs });
  await sendAlert(deps, { event: 'etl_run_failed', run_id: runId, date: day, error });
}

async function sendAlert(deps: DagDeps, body: Record<string, unknown>): Promise<void> {
  const url = deps.config.alertWebhook;
  if (url === null) return;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await postJson(deps.fetch, url, body);
      deps.counters.alertsSent++;
      return;
    } catch (err) {
      deps.log.warn({ err, attempt }, 'ETL alert webhook failed');
      if (attempt < 3) await deps.clock.sleep(deps.alertRetryDelayMs ?? 1000).catch(() => undefined);
    }
  }
  deps.counters.alertsFailed++;
}

/** Runs one task with retries. Never throws: the outcome is its status. */
async function runTask(
  deps: DagDeps, runId: string, day: string, task: TaskName, body: () => Promise<TaskOutcome>,
): Promise<TaskStatus> {
  const { warehouse: wh, clock, log, config } = deps;
  const maxAttempts = config.retries + 1;
  let lastError = '';
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (deps.signal?.aborted) return 'cancelled';
    const startedAt = clock.now();
    const report = (status: 'success' | 'failed' | 'skipped' | 'cancelled'): void => deps.onTask?.({ task, status, durationMs: clock.now() - startedAt });
    try {
      // Inside the try: a task whose history cannot be written fails this attempt like any other failure.
      await recorded(deps, () => recordStart(wh, runId, day, task, attempt, clock.now()));
      const out = await body();
      if (out.status === 'skipped') {
        await recorded(deps, () => recordEnd(wh, runId, task, attempt, 'skipped', clock.now(), null, out.reason));
        report('skipped');
        log.info({ runId, day, task, reason: out.reason }, 'ETL task skipped');
        return 'skipped';
      }
      await recorded(deps, () => recordEnd(wh, runId, task, attempt, 'success', clock.now(), out.rows, null));
      report('success');
      log.info({ runId, day, task, attempt, rows: out.rows }, 'ETL task succeeded');
      return 'success';
    } catch (err) {
      const code = errorCode(err);
      lastError = `${code}: ${(err as Error).message}`;
      const cancelledNow = code === 'etl_cancelled';
      report(cancelledNow ? 'cancelled' : 'failed');
      await recordEnd(wh, runId, task, attempt, cancelledNow ? 'cancelled' : 'failed', clock.now(), null, lastError).catch(() => undefined);
      if (cancelledNow) return 'cancelled';
      // A sensor that timed out already waited its whole budget, and a day without data has none to wait for:
      // retrying either changes nothing.
      const final = attempt === maxAttempts || code === 'etl_sensor_timeout' || code === 'etl_no_data';
      log.warn({ runId, day, task, attempt, err, final, retryInMs: final ? null : config.retryDelayMs }, final ? 'ETL task failed' : 'ETL task attempt failed; retrying');
      if (final) break;
      try {
        await clock.sleep(config.retryDelayMs, deps.signal);
      } catch {
        return 'cancelled';
      }
    }
  }
  deps.counters.tasksFailed++;
  log.error({ runId, day, task, error: lastError }, 'ETL task failed after all attempts');
  await sendAlert(deps, { event: 'etl_task_failed', run_id: runId, date: day, task, attempts: maxAttempts, error: lastError });
  return 'failed';
}

export async function runDag(deps: DagDeps, day: string, runId = newRunId(day, deps.clock.now())): Promise<DagResult> {
  const { warehouse: wh, config, clock } = deps;
  const tasks = Object.fromEntries(TASKS.map((t) => [t, 'upstream_failed'])) as Record<TaskName, TaskStatus>;
  try {
    await recorded(deps, () => recordStart(wh, runId, day, 'dag', 1, clock.now()));
  } catch (err) {
    // Nothing ran; still a failed run for the metrics, EtlFailing and the alert webhook, not only a log line.
    await unrecordedRun(deps, runId, day, 0, `the run could not be recorded in etl_runs: ${(err as Error).message}`);
    throw err;
  }
  deps.log.info({ runId, day }, 'ETL run started');
  const runStartedAt = deps.clock.now();

  const ok = (...names: TaskName[]): boolean => names.every((n) => tasks[n] === 'success');
  const run = async (task: TaskName, body: () => Promise<TaskOutcome>): Promise<void> => {
    tasks[task] = await runTask(deps, runId, day, task, body);
  };
  const rows = async (p: Promise<number>): Promise<TaskOutcome> => ({ status: 'success', rows: await p });

  await run('wait_for_data', async () => {
    const r = await waitForData(wh, day, {
      pokeIntervalMs: config.pokeIntervalMs, timeoutMs: config.sensorTimeoutMs, allowedLatenessMs: config.allowedLatenessMs,
      clock, signal: deps.signal, ownSource: deps.ownSource, deadlineMs: deps.sensorDeadlineMs,
      onPoke: (p) => {
        if (p.complete || p.noData) return;
        deps.onWait?.(day, p);
        deps.log.info({ runId, day, eventRows: p.eventRows, waitingFor: p.waitingFor }, `ETL ${day} waits for ${p.waitingFor.join('; ')}`);
      },
    });
    return { status: 'success', rows: r.eventRows };
  });
  // The status page says the day waits only while it does, not while it is computed.
  deps.onWait?.(day, null);
  if (ok('wait_for_data')) {
    await Promise.all([
      run('compute_level_metrics', () => rows(computeLevelMetrics(wh, day))),
      run('compute_user_metrics', () => rows(computeUserMetrics(wh, day))),
      run('compute_revenue_metrics', () => rows(computeRevenueMetrics(wh, day))),
      run('refresh_level_daily_stats', () => refreshLevelDailyStats(wh, day)),
    ]);
  }
  if (ok('compute_level_metrics', 'compute_user_metrics', 'compute_revenue_metrics')) {
    await run('data_quality_check', () => rows(dataQualityCheck(wh, day, runId, config.maxNullRate,
      { share: config.dropShare, weeks: config.dropWeeks }, (checks) => deps.onChecks?.(day, checks))));
  }
  if (ok('data_quality_check')) {
    await Promise.all([
      run('trigger_ml_training', () => triggerMlTraining(deps.fetch, config.mlWebhook, day)),
      run('export_features', () => exportFeaturesTask(wh, config, day)),
    ]);
  }
  // Old days go whatever today's metrics did: only a day that was complete is a reason to look.
  if (ok('wait_for_data')) {
    await run('apply_retention', () => applyRetention(wh, day, config.retentionDays, (r) => {
      const total = Object.values(r.removed).reduce((a, b) => a + b, 0);
      deps.log.info({ runId, day, keepFrom: r.keepFrom, removed: r.removed }, `ETL ${day}: retention removed ${total.toLocaleString('en-US')} rows dated before ${r.keepFrom}`);
    }));
  }
  const statuses = Object.values(tasks);
  const status = statuses.includes('cancelled') ? 'cancelled' : statuses.every((s) => s === 'success' || s === 'skipped') ? 'success' : 'failed';
  if (status === 'cancelled') for (const t of TASKS) if (tasks[t] === 'upstream_failed') tasks[t] = 'cancelled';
  const failedTasks = TASKS.filter((t) => tasks[t] === 'failed');
  try {
    await recorded(deps, () => recordEnd(wh, runId, 'dag', 1, status, clock.now(), null, failedTasks.length > 0 ? `failed: ${failedTasks.join(', ')}` : null));
  } catch (err) {
    // Its row stays 'running', so the day does not count as done and a later run computes it again.
    if (status === 'cancelled') {
      // Stopped (the daemon is shutting down): not a failure to count or alert on.
      deps.log.warn({ err, runId, day }, 'ETL run cancelled; its end could not be recorded in etl_runs');
      return { runId, date: day, status, tasks };
    }
    deps.log.error({ err, runId, day, status }, 'ETL run finished but could not be recorded in etl_runs; the day will be run again');
    await unrecordedRun(deps, runId, day, clock.now() - runStartedAt, `finished ${status} but could not be recorded in etl_runs: ${(err as Error).message}`);
    return { runId, date: day, status: 'failed', tasks };
  }
  if (status === 'success') deps.counters.runsSucceeded++;
  if (status === 'failed') deps.counters.runsFailed++;
  deps.log.info({ runId, day, status, tasks }, 'ETL run finished');
  deps.onTask?.({ task: 'dag', status, durationMs: clock.now() - runStartedAt });
  return { runId, date: day, status, tasks };
}

/** The latest 'dag' row of each day from `from` to `to`, as (day, status). */
function latestRuns(wh: EtlWarehouse, from: string | null, to: string | null): string {
  const range = [from !== null ? `date >= ${sqlDate(from)}` : null, to !== null ? `date <= ${sqlDate(to)}` : null].filter((x) => x !== null);
  return `SELECT ${dialectOf(wh).dayText('date')} AS day, status FROM (
      SELECT date, status, row_number() OVER (PARTITION BY date ORDER BY started_at DESC, run_id DESC) AS latest
      FROM etl_runs WHERE task = 'dag'${range.map((r) => ` AND ${r}`).join('')}) AS runs
    WHERE latest = 1`;
}

/** Days whose latest 'dag' run is a success (a forced rerun that failed makes its day not done). */
export async function successfulDays(wh: EtlWarehouse, from: string, to: string): Promise<Set<string>> {
  const rows = await wh.query(`SELECT day FROM (${latestRuns(wh, from, to)}) AS l WHERE status = 'success'`);
  return new Set(rows.map((r) => String(r.day)));
}

export async function lastSuccessfulDay(wh: EtlWarehouse): Promise<string | null> {
  const rows = await wh.query(`SELECT max(day) AS day FROM (${latestRuns(wh, null, null)}) AS l WHERE status = 'success'`);
  const d = rows[0]?.day;
  return typeof d === 'string' ? d : null;
}

/** A day the scheduler did not run (it has no events, and none can come): a 'dag' row of status 'skipped'. */
export async function recordSkippedDay(wh: EtlWarehouse, day: string, nowMs: number, why: string): Promise<void> {
  const { str } = dialectOf(wh);
  // One statement: no reader sees it 'running'.
  await wh.exec(`INSERT INTO etl_runs (run_id, date, task, attempt, status, started_at, ended_at, error)
    VALUES (${str(newRunId(day, nowMs))}, ${sqlDate(day)}, 'dag', 1, 'skipped', ${sqlTimestamp(nowMs)}, ${sqlTimestamp(nowMs)}, ${str(why)})`);
}

/** Days from `from` on that have a 'dag' run, whatever its status. */
export async function daysWithRuns(wh: EtlWarehouse, from: string): Promise<Set<string>> {
  const rows = await wh.query(`SELECT DISTINCT ${dialectOf(wh).dayText('date')} AS day FROM etl_runs WHERE task = 'dag' AND date >= ${sqlDate(from)}`);
  return new Set(rows.map((r) => String(r.day)));
}
