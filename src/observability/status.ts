/**
 * The status snapshot behind GET /api/status and the status page: current rates, a short history of them,
 * lag, watermark, workers, alerts and the last ETL run. Rates come from the committed totals, sampled on a
 * timer and spread over the commits' own intervals (commit-rate.ts), so the page shows what reached the
 * warehouse, the same numbers as the counters.
 */
import { GAMESTREAM_VERSION } from '../version.ts';
import type { AlertEngine, AlertNotification, AlertStatus } from './alerts.ts';
import { CommitRate, type CommitPoint } from './commit-rate.ts';
import type { EtlRunInfo, Metrics } from './metrics.ts';

export interface StatusSnapshot {
  version: string;
  generatedAt: string;
  startedAt: string;
  uptimeSeconds: number;
  rates: { recordsInPerSec: number; eventsWrittenPerSec: number; deadLettersPerSec: number; dlqRatio: number | null };
  /** Oldest first; t is Unix seconds; one point per sample interval. */
  history: { t: number[]; recordsInPerSec: number[]; eventsWrittenPerSec: number[]; deadLettersPerSec: number[] };
  totals: { recordsIn: number; eventsWritten: number; deadLetters: number; duplicates: number; lateEvents: number; windowRows: number; commits: number };
  lastRecordAt: string | null;
  lag: { total: number | null; top: { partition: number; lag: number }[] };
  watermark: { engineWatermark: string | null; delaySeconds: number | null };
  openWindows: number;
  workers: { restarts: number; mailboxDepth: { worker: number; batches: number }[]; fatal: string | null };
  alerts: { rules: AlertStatus[]; firing: AlertStatus[]; recent: (AlertNotification & { at: string })[] };
  etl: {
    /** The daily scheduler runs in this process. Runs of `gamestream etl` are in lastRun all the same. */
    enabled: boolean;
    /**
     * The latest run of the DAG, from the warehouse's etl_runs (any process: this one's scheduler or the CLI) or
     * this process's own report when that is newer than the last read. `at`: when it ended (started, while running);
     * `day`: the day it processed (null when only this process's report is known yet).
     */
    lastRun: { status: string; at: string; durationSeconds: number | null; day: string | null } | null;
    lastSuccessAt: string | null;
    /** The day the ETL waits for, and what for (wait_for_data, or before queuing a day). */
    waiting: { day: string; waitingFor: string[] } | null;
  };
  warehouse: WarehouseView | null;
}

const HOUR = 3_600_000;

/** Start of the status page's 24 h volume window: the hour 24 h before `nowMs`. */
export function volumeWindowStart(nowMs: number): number {
  return Math.floor((nowMs - 24 * HOUR) / HOUR) * HOUR;
}

/**
 * Events per hour from `from` to `nowMs`, from counts by hour start (epoch ms). Every hour is there, zeros
 * included, so a silent hour shows as a dip rather than a gap.
 */
export function hourlyVolume(from: number, nowMs: number, byHour: Map<number, number>): WarehouseView['volume24h'] {
  const t: number[] = [];
  const events: number[] = [];
  for (let h = from; h <= nowMs; h += HOUR) {
    t.push(h / 1000);
    events.push(byHour.get(h) ?? 0);
  }
  return { t, events };
}

/** What the page shows from the warehouse itself (read by the daemon about once a minute). */
export interface WarehouseView {
  /** Events per hour of event time over the last 24 h; t is Unix seconds at the start of the hour. */
  volume24h: { t: number[]; events: number[] };
  /** The data-quality checks of the latest ETL day, when the ETL has run. */
  checks: { date: string; items: { name: string; status: string; value: number | null; threshold: number | null }[] } | null;
  /** The DAG's runs in etl_runs (task 'dag'), whichever process made them; null before the ETL's tables exist. */
  etlRuns: { last: EtlRunRecord | null; lastSuccessAtMs: number | null } | null;
  readAt: string;
}

/** One run of the DAG as etl_runs has it. */
export interface EtlRunRecord {
  day: string;
  status: string;
  startedAtMs: number;
  endedAtMs: number | null;
}

export interface StatusTrackerOptions {
  metrics: Metrics;
  /** Reads the warehouse view; called at start and every `warehouseIntervalMs`. */
  warehouse?: () => Promise<WarehouseView>;
  warehouseIntervalMs?: number;
  alerts?: AlertEngine;
  now?: () => number;
  sampleIntervalMs?: number;
  /** Points kept for the chart. */
  historyPoints?: number;
  /** Each rate is averaged over the commits of this window (default 10 s). */
  rateWindowMs?: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const round = (x: number): number => Math.round(x * 100) / 100;
const latest = (a: number | null, b: number | null): string | null => iso(a === null ? b : b === null ? a : Math.max(a, b));

/**
 * The latest DAG run: the warehouse's etl_runs know every process's runs (the CLI's too); this process's own
 * report is newer only when its run ended after the warehouse was last read.
 */
function lastEtlRun(own: EtlRunInfo | null, view: WarehouseView | null): StatusSnapshot['etl']['lastRun'] {
  const recorded = view?.etlRuns?.last ?? null;
  if (own && (!recorded || own.atMs > Date.parse(view!.readAt))) {
    return { status: own.status, at: new Date(own.atMs).toISOString(), durationSeconds: round(own.durationMs / 1000), day: null };
  }
  if (!recorded) return null;
  const at = recorded.endedAtMs ?? recorded.startedAtMs;
  const durationSeconds = recorded.endedAtMs === null ? null : round((recorded.endedAtMs - recorded.startedAtMs) / 1000);
  return { status: recorded.status, at: new Date(at).toISOString(), durationSeconds, day: recorded.day };
}

export class StatusTracker {
  private readonly o: StatusTrackerOptions;
  private readonly now: () => number;
  private readonly points: number;
  private readonly rate: CommitRate;
  private lastSampleMs: number;
  private etlSeenAtMs: number | null = null;
  private readonly hist: { t: number[]; r: number[]; w: number[]; d: number[] } = { t: [], r: [], w: [], d: [] };
  private timer: NodeJS.Timeout | null = null;
  private whTimer: NodeJS.Timeout | null = null;
  private view: WarehouseView | null = null;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private closed = false;

  constructor(opts: StatusTrackerOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
    this.points = opts.historyPoints ?? 300;
    this.rate = new CommitRate(
      { windowMs: opts.rateWindowMs ?? 10_000, minGraceMs: opts.sampleIntervalMs ?? 2000, maxGraceMs: 60_000 },
      this.commitPoint(),
    );
    this.lastSampleMs = this.now();
  }

  /** The committed totals and the time of the commit that made them (the start, before the first). */
  private commitPoint(): CommitPoint {
    const s = this.o.metrics.state();
    return { atMs: s.lastRecordAtMs ?? s.startedAtMs, recordsIn: s.recordsIn, eventsWritten: s.eventsWritten, deadLetters: s.deadLetters };
  }

  /** Takes one sample; the timer calls this, tests call it directly. */
  sample(): void {
    this.rate.observe(this.commitPoint());
    // This process's ETL finished a run: read its day and checks from the warehouse now, not in up to a minute.
    const etlAt = this.o.metrics.state().etlLastRun?.atMs ?? null;
    if (etlAt !== this.etlSeenAtMs) {
      this.etlSeenAtMs = etlAt;
      void this.readWarehouse();
    }
    const at = this.now();
    if (at <= this.lastSampleMs) return;
    this.lastSampleMs = at;
    const r = this.rate.rates(at);
    const h = this.hist;
    h.t.push(Math.round(at / 1000));
    h.r.push(round(r.recordsInPerSec));
    h.w.push(round(r.eventsWrittenPerSec));
    h.d.push(round(r.deadLettersPerSec));
    if (h.t.length > this.points) for (const a of [h.t, h.r, h.w, h.d]) a.shift();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.o.sampleIntervalMs ?? 2000);
    this.timer.unref();
    if (this.o.warehouse) {
      void this.readWarehouse();
      this.whTimer = setInterval(() => void this.readWarehouse(), this.o.warehouseIntervalMs ?? 60_000);
      this.whTimer.unref();
    }
  }

  /**
   * Refreshes the warehouse view; a failed read keeps the previous one (the page shows when it was read). One
   * read at a time: asked for during one, it reads once more after it, so slow reads never pile up.
   */
  readWarehouse(): Promise<void> {
    const read = this.o.warehouse;
    if (!read || this.closed) return Promise.resolve();
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false;
          try {
            this.view = await read();
          } catch {
            // The next interval tries again.
          }
        } while (this.readAgain);
      } finally {
        // Cleared in the same step as the last read ends, so that no request falls between the two.
        this.reading = null;
      }
    })();
    return this.reading;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.whTimer) clearInterval(this.whTimer);
    this.timer = null;
    this.whTimer = null;
  }

  /**
   * Stops, and waits for a warehouse read in flight; none starts after. Its connection may then be closed: closing
   * a DuckDB connection under a running query crashes the process (a start-up that failed at once did).
   */
  async stopped(): Promise<void> {
    this.stop();
    this.closed = true;
    while (this.reading) await this.reading;
  }

  snapshot(): StatusSnapshot {
    const s = this.o.metrics.state();
    const now = this.now();
    const h = this.hist;
    this.rate.observe(this.commitPoint());
    const r = this.rate.rates(now);
    const lagEntries = [...s.lag].map(([partition, lag]) => ({ partition, lag })).sort((a, b) => b.lag - a.lag);
    const total = lagEntries.length === 0 ? null : lagEntries.reduce((a, e) => a + e.lag, 0);
    const alerts = this.o.alerts;
    return {
      version: GAMESTREAM_VERSION,
      generatedAt: new Date(now).toISOString(),
      startedAt: new Date(s.startedAtMs).toISOString(),
      uptimeSeconds: Math.round((now - s.startedAtMs) / 1000),
      rates: {
        recordsInPerSec: round(r.recordsInPerSec),
        eventsWrittenPerSec: round(r.eventsWrittenPerSec),
        deadLettersPerSec: round(r.deadLettersPerSec),
        dlqRatio: r.recordsInPerSec > 0 ? Math.round((r.deadLettersPerSec / r.recordsInPerSec) * 1e6) / 1e6 : null,
      },
      history: { t: [...h.t], recordsInPerSec: [...h.r], eventsWrittenPerSec: [...h.w], deadLettersPerSec: [...h.d] },
      totals: {
        recordsIn: s.recordsIn, eventsWritten: s.eventsWritten, deadLetters: s.deadLetters, duplicates: s.duplicates,
        lateEvents: s.lateEvents, windowRows: s.windowRows, commits: s.commits,
      },
      lastRecordAt: iso(s.lastRecordAtMs),
      lag: { total, top: lagEntries.slice(0, 10) },
      watermark: {
        engineWatermark: iso(s.engineWatermarkMs),
        delaySeconds: s.engineWatermarkMs === null ? null : round((now - s.engineWatermarkMs) / 1000),
      },
      openWindows: s.openWindows,
      workers: {
        restarts: s.workerRestarts,
        mailboxDepth: [...s.mailboxDepth].map(([worker, batches]) => ({ worker, batches })).sort((a, b) => a.worker - b.worker),
        fatal: s.fatal?.code ?? null,
      },
      alerts: { rules: alerts?.statuses() ?? [], firing: alerts?.firing() ?? [], recent: alerts?.history() ?? [] },
      etl: {
        enabled: s.etlEnabled,
        lastRun: lastEtlRun(s.etlLastRun, this.view),
        lastSuccessAt: latest(s.etlLastSuccessMs, this.view?.etlRuns?.lastSuccessAtMs ?? null),
        waiting: s.etlWaiting,
      },
      warehouse: this.view,
    };
  }
}
