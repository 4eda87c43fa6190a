/**
 * `gamestream etl …`: the daily ETL by hand, on the warehouse in GAMESTREAM_WAREHOUSE. A DuckDB file is opened
 * here, so the daemon must not be running on it (DuckDB allows one process per file); a BigQuery dataset is
 * reached with the daemon's GAMESTREAM_BIGQUERY_* settings and may be shared with running daemons.
 *   etl run --date D [--force]
 *   etl backfill --from D1 --to D2 [--force]   resumable: successful days are skipped unless --force
 *   etl status [--limit N]
 */
import { loadConfig, type Config } from '../config/schema.ts';
import { loadEtlConfig, type EtlConfig } from '../etl/config.ts';
import { successfulDays } from '../etl/dag.ts';
import { startScheduler, type RunDayResult } from '../etl/scheduler.ts';
import { readyAtMs } from '../etl/sensor.ts';
import { addDays, dialectOf, ensureEtlTables, type EtlWarehouse } from '../etl/warehouse.ts';
import { openDuckDbEtl } from '../sinks/duckdb/etl-warehouse.ts';
import { errorCode, GamestreamError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { dayFlag, takeFlags, wholeFlag } from './flags.ts';
import { onInterrupts, SECOND_SIGNAL_EXIT } from './signals.ts';

const USAGE = `Usage:
  gamestream etl run --date YYYY-MM-DD [--force]
  gamestream etl backfill --from YYYY-MM-DD --to YYYY-MM-DD [--force]
  gamestream etl status [--limit N]
Runs on the warehouse in GAMESTREAM_WAREHOUSE: a DuckDB file (stop the daemon first: one process per file) or
a BigQuery dataset (with the GAMESTREAM_BIGQUERY_* settings). Settings: GAMESTREAM_ETL_* (see docs/ETL.md).`;

/** Where the command writes and what it reads; tests pass their own. */
export interface EtlIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

const processIo = (): EtlIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/** A day the command needs: missing (or followed by another flag) is said to be missing, with an example. */
function requiredDay(args: string[], name: string): string {
  const i = args.indexOf(`--${name}`);
  if (i === -1 || args[i + 1] === undefined || args[i + 1]!.startsWith('--')) {
    throw new GamestreamError('config_invalid', `--${name} is missing: give the UTC day as --${name} YYYY-MM-DD (for example --${name} ${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}, yesterday)`);
  }
  return dayFlag(args, name)!;
}

export interface Opened { wh: EtlWarehouse; close(): void }

async function openBigQuery(cfg: Config): Promise<Opened> {
  // The BigQuery adapter is loaded only for a BigQuery warehouse (its index.ts says why).
  const { bigQueryEtlWarehouse, bigQueryTargetOf, createClients, missingEngineTables } = await import('../sinks/bigquery/index.ts');
  const target = bigQueryTargetOf(cfg);
  if (!target) throw new Error('not a BigQuery warehouse');
  const name = `bigquery:${target.project}.${target.dataset}`;
  // Only the REST client is used; the Storage Write client is closed unused.
  const { bq, writer } = createClients(target);
  const close = (): void => writer.close();
  try {
    const missing = await missingEngineTables(bq, target);
    if (missing.length > 0) {
      throw new GamestreamError('warehouse_unavailable', `${name} has no gamestream tables (missing ${missing.join(', ')}): run the daemon on it first`);
    }
    const wh = bigQueryEtlWarehouse({
      bq, target,
      tables: { partitionExpirationDays: cfg.bigqueryPartitionExpirationDays, requirePartitionFilter: cfg.bigqueryRequirePartitionFilter },
    });
    await ensureEtlTables(wh);
    return { wh, close };
  } catch (err) {
    close();
    if (errorCode(err) === 'warehouse_unavailable' || errorCode(err) === 'warehouse_schema_mismatch') throw err;
    throw new GamestreamError('warehouse_unavailable', `cannot open BigQuery warehouse ${name}: ${(err as Error).message}`, { cause: err });
  }
}

/** The warehouse the daemon's settings name (GAMESTREAM_WAREHOUSE and, for BigQuery, GAMESTREAM_BIGQUERY_*). */
export function openWarehouse(cfg: Config): Promise<Opened> {
  return cfg.warehouse.kind === 'duckdb' ? openDuckDbEtl(cfg.warehouse.path) : openBigQuery(cfg);
}

function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Progress on stderr: a redrawn bar on a terminal, one plain line per day otherwise (logs, CI). */
function progress(total: number, out: EtlIo['stderr']): (done: number, day: string, status: string, elapsedMs: number) => void {
  const tty = out.isTTY === true;
  return (done, day, status, elapsedMs) => {
    const eta = done === 0 ? '?' : fmtDuration((elapsedMs / done) * (total - done));
    if (tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${day} ${status}  ETA ${eta}   ${done === total ? '\n' : ''}`);
    } else {
      out.write(`[gamestream etl] ${done}/${total} ${day} ${status} (elapsed ${fmtDuration(elapsedMs)}, ETA ${eta})\n`);
    }
  };
}

function ok(r: { status: string }): boolean {
  return r.status === 'success' || r.status === 'already_done';
}

async function runDays(io: EtlIo, wh: EtlWarehouse, config: EtlConfig, days: string[], force: boolean, showProgress: boolean): Promise<number> {
  // info by default: a task waiting minutes for its retry must say so, not look hung.
  const log = createLogger(io.env.GAMESTREAM_LOG_LEVEL ?? 'info');
  const s = startScheduler({ warehouse: wh, config: { ...config, enabled: false }, log });
  const done = force ? new Set<string>() : await successfulDays(wh, days[0], days[days.length - 1]);
  const report = progress(days.length, io.stderr);
  const t0 = Date.now();
  let failed = 0;
  let succeeded = 0;
  let cancelled = 0;
  // Ctrl-C or SIGTERM: the run in progress ends as 'cancelled' in etl_runs (not left 'running'), no further
  // day starts. A second signal (not the first delivered twice) exits at once.
  let interrupted: string | null = null;
  const onSignal = onInterrupts((sig) => {
    interrupted = sig;
    io.stderr.write(`gamestream etl: ${sig}: cancelling; the run in progress is recorded as cancelled; Ctrl-C again exits at once\n`);
    void s.stop();
  }, (sig) => {
    io.stderr.write(`gamestream etl: ${sig} again: exiting at once; the run in progress may stay 'running' in etl_runs until it is run again\n`);
    process.exit(SECOND_SIGNAL_EXIT);
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let i = 0; i < days.length; i++) {
      if (interrupted) break;
      const day = days[i];
      let status: string;
      if (done.has(day)) {
        status = 'already done';
        succeeded++;
      } else {
        const r = await s.runDay(day, { force }).catch((err: unknown) => {
          // Stopped by a signal before the day's run began: nothing was recorded for it.
          if (interrupted && errorCode(err) === 'etl_cancelled') return { date: day, status: 'cancelled' as const, tasks: null };
          throw err;
        });
        status = r.status;
        if (ok(r)) succeeded++;
        else if (r.status === 'cancelled') cancelled++;
        else failed++;
        if (!ok(r)) {
          if ('tasks' in r && r.tasks) {
            const bad = Object.entries(r.tasks).filter(([, v]) => v === 'failed').map(([k]) => k);
            if (bad.length > 0) status += ` (${bad.join(', ')})`;
          }
          if (r.status === 'failed' && 'runId' in r) {
            const why = await failureOf(wh, r.runId);
            if (why) status += `: ${why}`;
          }
        }
      }
      if (showProgress) report(i + 1, day, status, Date.now() - t0);
      else io.stdout.write(`[gamestream etl] ${day}: ${status}\n`);
    }
  } finally {
    await s.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const notStarted = days.length - succeeded - failed - cancelled;
  const rest = [cancelled > 0 ? `${cancelled} cancelled` : '', notStarted > 0 ? `${notStarted} not started` : ''].filter((x) => x !== '');
  if (showProgress) io.stdout.write(`[gamestream etl] ${succeeded}/${days.length} days done, ${failed} failed${rest.map((x) => `, ${x}`).join('')}\n`);
  if (interrupted) io.stdout.write(`[gamestream etl] cancelled by ${interrupted}\n`);
  return failed > 0 || interrupted ? 1 : 0;
}

/** The error of a run's first failed task, for the progress line (so a day without data says so at once). */
async function failureOf(wh: EtlWarehouse, runId: string): Promise<string | null> {
  const { str } = dialectOf(wh);
  const rows = await wh.query(`SELECT error FROM etl_runs WHERE run_id = ${str(runId)} AND task <> 'dag' AND status = 'failed'
    ORDER BY started_at, attempt DESC LIMIT 1`);
  const e = rows[0]?.error;
  return typeof e === 'string' ? e : null;
}

function table(rows: Record<string, unknown>[], cols: string[]): string {
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString().replace('T', ' ').slice(0, 19) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** Per day, its latest run: how it ended, how long it took, its failed tasks and its checks that failed or warned. */
async function days(wh: EtlWarehouse, limit: number): Promise<Record<string, unknown>[]> {
  const d = dialectOf(wh);
  return wh.query(`SELECT ${d.dayText('l.date')} AS date, l.status, l.started_at,
      CASE WHEN l.ended_at IS NULL THEN NULL ELSE round(${d.epochMs('l.ended_at')} - ${d.epochMs('l.started_at')}) / 1000 END AS seconds,
      coalesce(t.failed, 0) AS failed_tasks, coalesce(c.failed, 0) AS failed_checks, coalesce(c.warned, 0) AS warnings, l.run_id
    FROM (SELECT date, run_id, status, started_at, ended_at FROM (
        SELECT date, run_id, status, started_at, ended_at, row_number() OVER (PARTITION BY date ORDER BY started_at DESC, run_id DESC) AS k
        FROM etl_runs WHERE task = 'dag') WHERE k = 1) l
    LEFT JOIN (SELECT run_id, count(DISTINCT task) AS failed FROM etl_runs WHERE task <> 'dag' AND status = 'failed' GROUP BY run_id) t
      ON t.run_id = l.run_id
    LEFT JOIN (SELECT run_id, ${d.countIf(`status = 'failed'`)} AS failed, ${d.countIf(`status = 'warning'`)} AS warned FROM etl_checks GROUP BY run_id) c
      ON c.run_id = l.run_id
    ORDER BY l.date DESC LIMIT ${limit}`);
}

/**
 * The days' summary, then the task attempts of the newest runs (`limit` rows), then their errors in full: an
 * error is often longer than a table cell, and its end is usually the part that says why.
 */
async function status(io: EtlIo, wh: EtlWarehouse, limit: number): Promise<number> {
  const d = dialectOf(wh);
  // Newest run first; within a run the 'dag' row, then its tasks in the order they started.
  const rows = await wh.query(`SELECT ${d.dayText('date')} AS date, task, attempt, status, started_at,
      CASE WHEN ended_at IS NULL THEN NULL ELSE round(${d.epochMs('ended_at')} - ${d.epochMs('started_at')}) / 1000 END AS seconds,
      rows_written AS ${d.ident('rows')}, run_id, error
    FROM (SELECT *, min(started_at) OVER (PARTITION BY run_id) AS run_start FROM etl_runs)
    ORDER BY run_start DESC, run_id, task = 'dag' DESC, started_at, task, attempt LIMIT ${limit}`);
  if (rows.length === 0) {
    io.stdout.write('no ETL runs yet\n');
    return 0;
  }
  io.stdout.write(`Days, newest first (the latest run of each):\n${table(await days(wh, limit), ['date', 'status', 'started_at', 'seconds', 'failed_tasks', 'failed_checks', 'warnings', 'run_id'])}\n\n`);
  io.stdout.write(`Task attempts of the newest runs:\n${table(rows, ['date', 'task', 'attempt', 'status', 'started_at', 'seconds', 'rows', 'run_id'])}\n`);
  const errors = rows.filter((r) => typeof r.error === 'string' && r.error !== '' && r.task !== 'dag');
  if (errors.length > 0) {
    io.stdout.write(`\nErrors:\n${errors.map((r) => `${String(r.date)} ${String(r.task)} attempt ${String(r.attempt)}: ${String(r.error)}`).join('\n')}\n`);
  }
  return 0;
}

export async function etlCommand(args: string[], io: EtlIo = processIo()): Promise<number> {
  const sub = args[0];
  if (sub === undefined || sub === 'help' || sub === '--help') {
    io.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  try {
    if (!['run', 'backfill', 'status'].includes(sub)) throw new GamestreamError('config_invalid', `unknown etl command ${JSON.stringify(sub)}\n${USAGE}`);
    const takes = { run: [['date'], ['force']], backfill: [['from', 'to'], ['force']], status: [['limit'], []] } as const;
    args = [sub, ...takeFlags(args.slice(1), `etl ${sub}`, takes[sub as keyof typeof takes][0], takes[sub as keyof typeof takes][1])];
    const config = loadEtlConfig(io.env);
    let days: string[] = [];
    if (sub === 'run') days = [requiredDay(args, 'date')];
    if (sub === 'backfill') {
      const from = requiredDay(args, 'from');
      const to = requiredDay(args, 'to');
      if (to < from) throw new GamestreamError('config_invalid', `--to ${to} is before --from ${from}`);
      for (let d = from; d <= to; d = addDays(d, 1)) days.push(d);
    }
    // A day not over yet (plus the allowed lateness) cannot be complete: its sensor would only wait, then fail.
    const notOver = days.find((d) => readyAtMs(d, config.allowedLatenessMs) > Date.now());
    if (notOver !== undefined) {
      throw new GamestreamError('config_invalid', `${notOver} is not over yet: it can be complete from ${new Date(readyAtMs(notOver, config.allowedLatenessMs)).toISOString()} (its end plus GAMESTREAM_ETL_ALLOWED_LATENESS); run it after that${sub === 'backfill' ? ', or end --to before it' : ''}`);
    }
    const limit = wholeFlag(args, 'limit') ?? 30;
    if (limit < 1) throw new GamestreamError('config_invalid', `--limit=${limit} is not valid: expected a whole number ≥ 1`);
    const opened = await openWarehouse(loadConfig(io.env));
    try {
      if (sub === 'status') return await status(io, opened.wh, limit);
      return await runDays(io, opened.wh, config, days, args.includes('--force'), sub === 'backfill');
    } finally {
      opened.close();
    }
  } catch (err) {
    io.stderr.write(`gamestream etl: ${(err as Error).message}\n`);
    return errorCode(err) === 'config_invalid' ? 2 : 1;
  }
}
