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
  private last = { at: Date.now(), routed: 0 };

  next(t: RunTotals, input: { bytesRead: number; totalBytes: number | null }): string {
    const now = Date.now();
    const rate = ((t.recordsRouted - this.last.routed) * 1000) / Math.max(1, now - this.last.at);
    this.last = { at: now, routed: t.recordsRouted };
    const pct = input.totalBytes ? ` (${((100 * input.bytesRead) / Math.max(1, input.totalBytes)).toFixed(0)}% of input)` : '';
    const wm = t.engineWatermarkMs === null ? '-' : new Date(t.engineWatermarkMs).toISOString().slice(0, 19) + 'Z';
    return (
      `${(t.elapsedMs / 1000).toFixed(0)}s  in ${fmt(t.recordsRouted)}${pct}  ${fmt(Math.round(rate))}/s  ` +
      `written ${fmt(t.events)}  dead letters ${fmt(t.deadLetters)}  duplicates ${fmt(t.duplicates)}  late ${fmt(t.lateEvents)}  ` +
      `watermark ${wm}  windows ${fmt(t.windowRows)}`
    );
  }
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
