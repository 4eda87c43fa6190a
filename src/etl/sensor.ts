/**
 * wait_for_data: is UTC day D complete in the warehouse? D is complete when all of these hold (docs/ETL.md):
 *   1. the wall clock is past the end of D plus the allowed lateness: no day is complete before it is over;
 *   2. every source the warehouse knows (gamestream_watermarks), every source that wrote events of D, and the
 *      daemon's own source, has ended (end of input) or has a durable watermark at or past the end of D plus
 *      the allowed lateness: a source still running may still bring events of D;
 *   3. `events` has at least one row dated D.
 * When 1 and 2 hold and D has no events, no more can come: the sensor fails at once (`etl_no_data`) instead of
 * waiting out its timeout. Otherwise it pokes every interval until the timeout, saying what it waits for; the
 * timeout counts from ready at (or from the start of the wait, when that is later).
 */
import { GamestreamError } from '../errors.ts';
import type { Clock } from './clock.ts';
import { dayStartMs, dialectOf, sqlDate, type EtlWarehouse } from './warehouse.ts';

const DAY_MS = 86_400_000;

export interface SourceProgress {
  source: string;
  /** Its durable engine watermark, or null when it has none yet. */
  watermarkMs: number | null;
  endOfInput: boolean;
  /** Ended, or its watermark has passed the end of D plus the allowed lateness. */
  ready: boolean;
  /** How far its watermark is from that point (null once ready, or without a watermark). */
  behindMs: number | null;
}

export interface DayReadiness {
  complete: boolean;
  /** Everything that could bring events of D is past it, and D has none: it will never be complete. */
  noData: boolean;
  /** The wall clock is past the end of D plus the allowed lateness. */
  wallClockReady: boolean;
  /** Every source is ready. */
  watermarkReady: boolean;
  eventRows: number;
  sources: SourceProgress[];
  /** What the day still waits for, one line each (empty once complete or when there is no data). */
  waitingFor: string[];
}

export interface ReadinessOptions {
  allowedLatenessMs: number;
  nowMs: number;
  /**
   * The daemon's own source: counted as running while it has no row in gamestream_watermarks yet, and its row's
   * end of input, written by an earlier run of it, does not count (only its watermark does).
   */
  ownSource?: string | null;
}

/** When day D can first be complete: its end plus the allowed lateness ("ready at", docs/ETL.md). */
export function readyAtMs(day: string, allowedLatenessMs: number): number {
  return dayStartMs(day) + DAY_MS + allowedLatenessMs;
}

/**
 * When the sensor gives up on D: the sensor timeout after ready at, or after `fromMs` when that is later. The
 * wait for the wall clock to reach ready at is not part of the timeout, so a lateness of hours does not make
 * every run fail.
 */
export function sensorDeadlineMs(day: string, o: { allowedLatenessMs: number; timeoutMs: number }, fromMs: number): number {
  return Math.max(fromMs, readyAtMs(day, o.allowedLatenessMs)) + o.timeoutMs;
}

export async function dayReadiness(wh: EtlWarehouse, day: string, o: ReadinessOptions): Promise<DayReadiness> {
  const d = dialectOf(wh);
  const readyAt = readyAtMs(day, o.allowedLatenessMs);
  const bySource = await wh.query(`SELECT source, count(*) AS n FROM events WHERE event_date = ${sqlDate(day)} GROUP BY source`);
  const eventRows = bySource.reduce((a, r) => a + Number(r.n), 0);
  const marks = await wh.query(`SELECT source, ${d.epochMs('watermark')} AS wm, end_of_input FROM gamestream_watermarks`);
  const sources: SourceProgress[] = marks.map((r) => {
    const watermarkMs = r.wm === null || r.wm === undefined ? null : Number(r.wm);
    const endOfInput = r.end_of_input === true;
    // The daemon's own source is being read by this very process: an ended row is from an earlier run of it.
    const ended = endOfInput && String(r.source) !== o.ownSource;
    const ready = ended || (watermarkMs !== null && watermarkMs >= readyAt);
    return { source: String(r.source), watermarkMs, endOfInput, ready, behindMs: ready || watermarkMs === null ? null : readyAt - watermarkMs };
  });
  // A source that wrote events of D but has no watermark (yet), and the daemon's own before its first commit,
  // count as running with none.
  const unknown = [...bySource.map((r) => String(r.source)), ...(o.ownSource ? [o.ownSource] : [])];
  for (const source of unknown) {
    if (!sources.some((s) => s.source === source)) sources.push({ source, watermarkMs: null, endOfInput: false, ready: false, behindMs: null });
  }
  const wallClockReady = o.nowMs >= readyAt;
  const watermarkReady = sources.every((s) => s.ready);
  const waitingFor: string[] = [];
  if (!wallClockReady) waitingFor.push(`the wall clock to pass ${new Date(readyAt).toISOString()} (the end of ${day} plus the allowed lateness), ${fmtMs(readyAt - o.nowMs)} from now`);
  for (const s of sources) {
    if (s.ready) continue;
    waitingFor.push(s.watermarkMs === null
      ? `source ${s.source}: no watermark yet`
      : `source ${s.source}: watermark ${new Date(s.watermarkMs).toISOString()}, ${fmtMs(s.behindMs!)} short of ${new Date(readyAt).toISOString()}`);
  }
  const noData = wallClockReady && watermarkReady && eventRows === 0;
  const complete = wallClockReady && watermarkReady && eventRows > 0;
  if (!complete && !noData && eventRows === 0 && waitingFor.length > 0) waitingFor.push(`events dated ${day}: none yet`);
  return { complete, noData, wallClockReady, watermarkReady, eventRows, sources, waitingFor: complete || noData ? [] : waitingFor };
}

export function noDataError(day: string, r: DayReadiness): GamestreamError {
  const seen = r.sources.length === 0 ? 'no source has written to this warehouse'
    : `every source has passed it or ended (${r.sources.map((s) => s.source).join(', ')})`;
  return new GamestreamError('etl_no_data', `day ${day} has no events in the warehouse and no more can come: ${seen}. Nothing to compute for it.`);
}

function fmtMs(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export interface SensorOptions {
  pokeIntervalMs: number;
  timeoutMs: number;
  allowedLatenessMs: number;
  clock: Clock;
  ownSource?: string | null;
  signal?: AbortSignal;
  onPoke?: (r: DayReadiness) => void;
  /** When to give up (default: sensorDeadlineMs from now); a day the scheduler already waited for keeps its deadline. */
  deadlineMs?: number;
}

/**
 * Resolves once D is complete; rejects at once with `etl_no_data` when it never will be, and with
 * `etl_sensor_timeout` (not retried) when the timeout passes first.
 */
export async function waitForData(wh: EtlWarehouse, day: string, o: SensorOptions): Promise<DayReadiness> {
  const deadline = o.deadlineMs ?? sensorDeadlineMs(day, o, o.clock.now());
  for (;;) {
    const r = await dayReadiness(wh, day, { allowedLatenessMs: o.allowedLatenessMs, nowMs: o.clock.now(), ownSource: o.ownSource });
    o.onPoke?.(r);
    if (r.complete) return r;
    if (r.noData) throw noDataError(day, r);
    const left = deadline - o.clock.now();
    if (left <= 0) {
      throw new GamestreamError('etl_sensor_timeout', `day ${day} not complete by ${new Date(deadline).toISOString()} (GAMESTREAM_ETL_SENSOR_TIMEOUT, ${fmtMs(o.timeoutMs)}, after the end of the day plus the allowed lateness, or after the wait began when that was later), waiting for: ${r.waitingFor.join('; ')}`);
    }
    await o.clock.sleep(Math.min(o.pokeIntervalMs, left), o.signal);
  }
}
