/**
 * What a run has done so far, from committed checkpoints only (never from rows still in flight), and the
 * one-line progress report built from it.
 */
import type { Checkpoint } from '../contract/checkpoint.ts';

export interface RunTotals {
  recordsRouted: number;
  recordsSkipped: number;
  events: number;
  deadLetters: number;
  duplicates: number;
  lateEvents: number;
  windowRows: number;
  engineWatermarkMs: number | null;
  workerRestarts: number;
  elapsedMs: number;
  endOfInput: boolean;
}

export interface RunState {
  recordsRouted: number;
  recordsSkipped: number;
  engineWatermarkMs: number;
  workerRestarts: number;
  startedAt: number;
  endOfInput: boolean;
  /** Each partition's checkpoint at start (or adoption), and the latest committed since. */
  initial: Map<number, Checkpoint>;
  durable: Map<number, Checkpoint>;
}

export function runTotals(s: RunState): RunTotals {
  const t: RunTotals = {
    recordsRouted: s.recordsRouted,
    recordsSkipped: s.recordsSkipped,
    events: 0,
    deadLetters: 0,
    duplicates: 0,
    lateEvents: 0,
    windowRows: 0,
    engineWatermarkMs: Number.isFinite(s.engineWatermarkMs) ? s.engineWatermarkMs : null,
    workerRestarts: s.workerRestarts,
    elapsedMs: Date.now() - s.startedAt,
    endOfInput: s.endOfInput,
  };
  const all = new Map(s.initial);
  for (const [p, c] of s.durable) all.set(p, c);
  for (const c of all.values()) {
    t.events += c.events;
    t.deadLetters += c.deadLetters;
    t.duplicates += c.duplicates;
    t.lateEvents += c.lateEvents;
    t.windowRows += c.windowRows;
  }
  return t;
}

/** Progress lines, with the rate since the previous line. */
export class ProgressLine {
  private last = { at: Date.now(), routed: 0, written: 0, bytes: 0 };

  /**
   * One line: records read and the rate they are read at, the rows committed and the rate they are committed
   * at (the two differ while commits catch up; the status page shows the same two), and for a file how far it is
   * with an estimate of the time left, from the bytes read since the last line.
   */
  next(t: RunTotals, input: { bytesRead: number; totalBytes: number | null }): string {
    const now = Date.now();
    const ms = Math.max(1, now - this.last.at);
    const written = t.events + t.deadLetters;
    const readRate = ((t.recordsRouted - this.last.routed) * 1000) / ms;
    const writeRate = (Math.max(0, written - this.last.written) * 1000) / ms;
    const byteRate = ((input.bytesRead - this.last.bytes) * 1000) / ms;
    this.last = { at: now, routed: t.recordsRouted, written, bytes: input.bytesRead };
    let pct = '';
    if (input.totalBytes) {
      const left = input.totalBytes - input.bytesRead;
      const eta = left > 0 && byteRate > 0 ? `, ${fmtDuration(left / byteRate)} left` : '';
      pct = ` (${((100 * input.bytesRead) / Math.max(1, input.totalBytes)).toFixed(0)}% of input)${eta}`;
    }
    const wm = t.engineWatermarkMs === null ? '-' : new Date(t.engineWatermarkMs).toISOString().slice(0, 19) + 'Z';
    return (
      `${(t.elapsedMs / 1000).toFixed(0)}s  in ${fmt(t.recordsRouted)}${pct}  read ${fmt(Math.round(readRate))}/s  ` +
      `written ${fmt(t.events)}  committed ${fmt(Math.round(writeRate))}/s  dead letters ${fmt(t.deadLetters)}  duplicates ${fmt(t.duplicates)}  ` +
      `late ${fmt(t.lateEvents)}  watermark ${wm}  windows ${fmt(t.windowRows)}`
    );
  }
}

/** Seconds as "45s", "3m10s", "2h05m". */
function fmtDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * What the process has cost so far, for the last line of a run: CPU of every thread (user + system) in seconds
 * and per record, and the peak resident memory.
 */
export function processCost(records: number): string {
  const u = process.resourceUsage();
  const cpuSeconds = (u.userCPUTime + u.systemCPUTime) / 1e6;
  const perRecord = records > 0 ? `, ${((cpuSeconds / records) * 1e6).toFixed(1)} µs/record` : '';
  return `CPU ${cpuSeconds.toFixed(2)} s${perRecord}; peak RSS ${Math.round(u.maxRSS / 1024)} MB`;
}
