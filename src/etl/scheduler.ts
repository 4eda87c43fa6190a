/**
 * The scheduler actor. It fires on the cron schedule for the previous UTC day, catches up missed days at start,
 * and runs one day at a time from a queue, in the background: nothing here blocks the caller.
 */
import type { Logger } from 'pino';
import { cancelled, systemClock, type Clock } from './clock.ts';
import type { EtlConfig } from './config.ts';
import { nextAfter } from './cron.ts';
import { daysWithRuns, lastSuccessfulDay, newCounters, recordSkippedDay, runDag, successfulDays, type DagDeps, type DagResult, type EtlCounters } from './dag.ts';
import { dayReadiness, sensorDeadlineMs, type DayReadiness } from './sensor.ts';
import type { FetchFn } from './outputs.ts';
import { addDays, dayOf, dayStartMs, ensureEtlTables, type EtlWarehouse } from './warehouse.ts';

export interface SchedulerOptions {
  warehouse: EtlWarehouse;
  config: EtlConfig;
  log: Logger;
  clock?: Clock;
  fetch?: FetchFn;
  alertRetryDelayMs?: number;
  onTask?: DagDeps['onTask'];
  onChecks?: DagDeps['onChecks'];
  /** The daemon's own source (it counts as running before its first commit); null for the CLI. */
  ownSource?: string | null;
  /** Try creating the ETL tables again until it works (the daemon), instead of failing every run (a command). */
  retryTables?: boolean;
  /** The day the ETL waits for and why, on every check; null once it waits no more (status page). */
  onWait?: (w: { day: string; waitingFor: string[] } | null) => void;
}

export type RunDayResult = DagResult | { date: string; status: 'already_done' };

export interface RunDayOptions {
  /** Run it again even when it is done. */
  force?: boolean;
  /** When its sensor gives up (the scheduler's own wait for the day's first events counts against it). */
  sensorDeadlineMs?: number;
}

export interface SchedulerState {
  enabled: boolean;
  running: string | null;
  queued: string[];
  nextFireAt: string | null;
  lastResult: RunDayResult | null;
  counters: EtlCounters;
  stopped: boolean;
  /** What the day being waited for still needs, when the ETL waits (before its run, or in wait_for_data). */
  waiting: { day: string; waitingFor: string[] } | null;
}

export interface Scheduler {
  stop(): Promise<void>;
  runDay(date: string, opts?: RunDayOptions): Promise<RunDayResult>;
  state(): SchedulerState;
}

const MAX_CATCHUP_DAYS = 366;
/**
 * How far before the last done day the catch-up looks for days that never ran: a weekend run by hand while the
 * daemon was down, not a year of them (each costs queries at every start until it has a run).
 */
const HOLE_DAYS = 14;

/**
 * The days the catch-up runs: those the schedule was due for after the last successful day (a firing on UTC date
 * X processes X − 1), and in the HOLE_DAYS before it those that have no run at all, from the first run there (a
 * later day run by hand while the daemon was down must not hide the days before it). When no day ever succeeded,
 * only the latest due day: older ones are a backfill's job. At most MAX_CATCHUP_DAYS, the newest.
 */
export function dueDays(cfg: EtlConfig, lastDone: string | null, nowMs: number, ran: ReadonlySet<string> = new Set()): string[] {
  const today = dayOf(nowMs);
  const windowStart = addDays(today, -MAX_CATCHUP_DAYS);
  let firstRun = lastDone === null ? windowStart : addDays(lastDone, 1);
  const holesFrom = lastDone === null ? firstRun : addDays(lastDone, -HOLE_DAYS);
  for (const d of ran) if (d < firstRun && d >= holesFrom) firstRun = d;
  const out: string[] = [];
  for (let d = firstRun < windowStart ? windowStart : firstRun; d < today; d = addDays(d, 1)) {
    if (lastDone !== null && d <= lastDone && ran.has(d)) continue;
    const fireDay = addDays(d, 1);
    const fire = nextAfter(cfg.schedule, dayStartMs(fireDay) - 1).getTime();
    if (dayOf(fire) === fireDay && fire <= nowMs) out.push(d);
  }
  return lastDone === null ? out.slice(-1) : out.slice(-MAX_CATCHUP_DAYS);
}

export function startScheduler(opts: SchedulerOptions): Scheduler {
  const { warehouse: wh, config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const fetchFn = opts.fetch ?? fetch;
  const counters = newCounters();
  const abort = new AbortController();
  let tail: Promise<unknown> = Promise.resolve();
  let running: string | null = null;
  const queued: string[] = [];
  let nextFire: number | null = null;
  let lastResult: RunDayResult | null = null;
  let stopped = false;
  let waiting: { day: string; waitingFor: string[] } | null = null;
  const setWaiting = (w: typeof waiting): void => {
    waiting = w;
    opts.onWait?.(w);
  };
  /** Days due on the schedule, checked one after another (so they run in day order) before they are queued. */
  let dueTail: Promise<unknown> = Promise.resolve();
  // In the daemon a failure here (BigQuery answering 503 at start) must not turn the ETL off until the next
  // restart: it is tried again, with a growing delay. A command fails at once instead.
  const tablesReady = (async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await ensureEtlTables(wh);
      } catch (err) {
        if (!opts.retryTables || stopped) {
          log.error({ err }, 'cannot create the ETL tables');
          throw err;
        }
        const retryInMs = Math.min(60_000, 1000 * 2 ** Math.min(attempt - 1, 10));
        log.error({ err, attempt, retryInMs }, 'cannot create the ETL tables; trying again');
        await clock.sleep(retryInMs, abort.signal);
      }
    }
  })();
  tablesReady.catch(() => undefined);

  const execute = async (date: string, o: RunDayOptions): Promise<RunDayResult> => {
    if (stopped) throw cancelled();
    await tablesReady;
    if (!o.force && (await successfulDays(wh, date, date)).has(date)) {
      log.info({ day: date }, 'ETL day already done; skipped (use force to rerun)');
      return { date, status: 'already_done' };
    }
    try {
      return await runDag({
        warehouse: wh, config, log, clock, fetch: fetchFn, counters, signal: abort.signal, alertRetryDelayMs: opts.alertRetryDelayMs, sensorDeadlineMs: o.sensorDeadlineMs,
        onTask: opts.onTask, onChecks: opts.onChecks, ownSource: opts.ownSource, onWait: (day, r) => setWaiting(r && { day, waitingFor: r.waitingFor }),
      }, date);
    } finally {
      setWaiting(null);
    }
  };

  // One day at a time: runs share the warehouse and a later day's quality check reads earlier days.
  const runDay = (date: string, o: RunDayOptions = {}): Promise<RunDayResult> => {
    queued.push(date);
    const p = tail.then(async () => {
      queued.splice(queued.indexOf(date), 1);
      running = date;
      try {
        lastResult = await execute(date, o);
        return lastResult;
      } finally {
        running = null;
      }
    });
    tail = p.catch((err: unknown) => log.error({ err, day: date }, 'ETL run could not start'));
    return p;
  };

  /**
   * A day the schedule is due for is queued once it has events. A day without any, when nothing can bring one
   * any more (every source is past it or ended), is not run at all: there is nothing to compute, and a run would
   * only fail. While events may still come (a source behind, or the daemon's own source before its first
   * commit), it is checked again every poke interval; after the sensor timeout it is queued anyway, and its
   * sensor says why it cannot complete.
   */
  const whenDue = async (date: string): Promise<void> => {
    await tablesReady;
    const deadline = sensorDeadlineMs(date, { allowedLatenessMs: config.allowedLatenessMs, timeoutMs: config.sensorTimeoutMs }, clock.now());
    let waitedOut = false;
    for (;;) {
      if (stopped) return;
      let r: DayReadiness;
      try {
        r = await dayReadiness(wh, date, { allowedLatenessMs: config.allowedLatenessMs, nowMs: clock.now(), ownSource: opts.ownSource });
      } catch (err) {
        log.warn({ err, day: date }, 'ETL: cannot check the day; queued as it is');
        break;
      }
      if (r.noData) {
        log.info({ day: date }, `ETL ${date} not run: it has no events, and no source can still bring any`);
        // Recorded, so that the catch-up of a later start does not look at the day again.
        await recordSkippedDay(wh, date, clock.now(), 'no events, and no source can still bring any').catch((err: unknown) =>
          log.warn({ err, day: date }, 'ETL: could not record a day without events in etl_runs'));
        setWaiting(null);
        return;
      }
      if (r.eventRows > 0) break;
      if (clock.now() >= deadline) {
        waitedOut = true;
        break;
      }
      setWaiting({ day: date, waitingFor: r.waitingFor });
      log.info({ day: date, waitingFor: r.waitingFor }, `ETL ${date} waits for ${r.waitingFor.join('; ')}`);
      // Before the daemon's first commit its own source has no watermark: that changes within seconds.
      const own = r.sources.find((x) => x.source === opts.ownSource);
      const every = own && own.watermarkMs === null ? Math.min(config.pokeIntervalMs, 15_000) : config.pokeIntervalMs;
      try {
        await clock.sleep(Math.min(every, Math.max(0, deadline - clock.now())), abort.signal);
      } catch {
        return;
      }
    }
    setWaiting(null);
    // Waited out: its sensor has no budget left, and says at once what the day still lacks (unless it is complete).
    runDay(date, waitedOut ? { sensorDeadlineMs: deadline } : {}).catch(() => undefined); // logged by the queue
  };

  const background = (date: string): void => {
    dueTail = dueTail.then(() => whenDue(date)).catch((err: unknown) => log.error({ err, day: date }, 'ETL day could not be queued'));
  };

  const loop = async (): Promise<void> => {
    // One instant for the catch-up and the first firing: a firing that passes while the catch-up reads is run by
    // the loop below, not lost between the two.
    const t0 = clock.now();
    if (config.catchup) {
      await tablesReady;
      const lastDone = await lastSuccessfulDay(wh);
      const ran = lastDone === null ? new Set<string>() : await daysWithRuns(wh, addDays(lastDone, -HOLE_DAYS));
      const days = dueDays(config, lastDone, t0, ran);
      if (days.length > 0) log.info({ days }, 'ETL catch-up');
      for (const d of days) background(d);
    }
    let fire = nextAfter(config.schedule, t0).getTime();
    while (!stopped) {
      nextFire = fire;
      // Sleep in slices so a clock that jumps (suspend, NTP) is noticed within a minute.
      while (!stopped && clock.now() < fire) await clock.sleep(Math.min(fire - clock.now(), 60_000), abort.signal);
      if (stopped) break;
      // Every day whose firing passed meanwhile, once each and in order: a machine suspended over a weekend misses
      // none of its days (and a schedule of every 5 minutes does not check one day hundreds of times).
      const days = new Set<string>();
      for (; fire <= clock.now(); fire = nextAfter(config.schedule, fire).getTime()) days.add(addDays(dayOf(fire), -1));
      for (const d of days) background(d);
    }
  };
  const looping = config.enabled
    ? loop().catch((err: unknown) => {
        if (!stopped) log.error({ err }, 'ETL scheduler loop stopped');
      })
    : Promise.resolve();

  return {
    runDay,
    state: () => ({
      enabled: config.enabled,
      running,
      queued: [...queued],
      nextFireAt: nextFire === null ? null : new Date(nextFire).toISOString(),
      lastResult,
      counters: { ...counters },
      stopped,
      waiting,
    }),
    async stop() {
      stopped = true;
      abort.abort();
      // The table set-up may still be running; the caller may close the connection right after stop().
      await tablesReady.catch(() => undefined);
      // The loop's own query (the catch-up's last successful day) may be under way too: closing the connection
      // under a running DuckDB query crashed the process (SIGSEGV, a daemon stopped at start-up).
      await looping;
      await dueTail;
      await tail;
    },
  };
}
