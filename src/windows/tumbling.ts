/**
 * One partition's 1-minute (configurable) tumbling-window counts in event time. A window closes when the
 * partition watermark passes its end plus the allowed lateness; after that its events are late. State is only
 * the open windows, so memory is bounded by (open windows × keys).
 */

/** Far enough in the future to close every window; a finite number so it survives SQL and JSON. */
export const END_OF_TIME = 8.64e15;

export interface WindowRow {
  windowStart: number;
  windowEnd: number;
  eventType: number;
  levelId: number | null;
  count: number;
}

type KeyCounts = Map<number, Map<number | null, number>>;

/** The start of the epoch-aligned window of `sizeMs` that holds `tsMs` (negative times included). */
export function windowStartOf(tsMs: number, sizeMs: number): number {
  return tsMs - (((tsMs % sizeMs) + sizeMs) % sizeMs);
}

export class TumblingWindows {
  readonly sizeMs: number;
  readonly latenessMs: number;
  /** Windows starting before this are closed. */
  closedThrough = -Infinity;
  private readonly open = new Map<number, KeyCounts>();
  private lastStart = NaN;
  private lastCounts: KeyCounts | null = null;

  constructor(sizeMs: number, latenessMs: number) {
    this.sizeMs = sizeMs;
    this.latenessMs = latenessMs;
  }

  windowStart(tsMs: number): number {
    return windowStartOf(tsMs, this.sizeMs);
  }

  /** Counts the event; returns false (and counts nothing) when its window has already closed. */
  add(tsMs: number, eventType: number, levelId: number | null, n = 1): boolean {
    const start = this.windowStart(tsMs);
    if (start < this.closedThrough) return false;
    let counts: KeyCounts | undefined;
    if (start === this.lastStart && this.lastCounts) counts = this.lastCounts;
    else {
      counts = this.open.get(start);
      if (!counts) {
        counts = new Map();
        this.open.set(start, counts);
      }
      this.lastStart = start;
      this.lastCounts = counts;
    }
    let byLevel = counts.get(eventType);
    if (!byLevel) {
      byLevel = new Map();
      counts.set(eventType, byLevel);
    }
    byLevel.set(levelId, (byLevel.get(levelId) ?? 0) + n);
    return true;
  }

  /** Closes every window whose end + lateness <= watermark, emitting its rows. */
  advance(watermarkMs: number, emit: (row: WindowRow) => void): number {
    if (watermarkMs === -Infinity) return 0;
    const boundary = watermarkMs >= END_OF_TIME ? END_OF_TIME : this.windowStart(watermarkMs - this.latenessMs);
    if (boundary <= this.closedThrough) return 0;
    this.closedThrough = boundary;
    let rows = 0;
    const closing = [...this.open.keys()].filter((s) => s < boundary).sort((a, b) => a - b);
    for (const start of closing) {
      const counts = this.open.get(start)!;
      this.open.delete(start);
      for (const [eventType, byLevel] of counts) {
        for (const [levelId, count] of byLevel) {
          emit({ windowStart: start, windowEnd: start + this.sizeMs, eventType, levelId, count });
          rows++;
        }
      }
    }
    this.lastStart = NaN;
    this.lastCounts = null;
    return rows;
  }

  /**
   * Emits every open window as it stands, without closing it (the end of the input): the closed boundary, and
   * with it what counts as late, stays where the watermark put it, so input that comes later (a file that grew,
   * a topic with more records) is counted as in one continuous run.
   */
  emitOpen(emit: (row: WindowRow) => void): number {
    let rows = 0;
    for (const start of [...this.open.keys()].sort((a, b) => a - b)) {
      for (const [eventType, byLevel] of this.open.get(start)!) {
        for (const [levelId, count] of byLevel) {
          emit({ windowStart: start, windowEnd: start + this.sizeMs, eventType, levelId, count });
          rows++;
        }
      }
    }
    return rows;
  }

  /** The start of the first open window, or Infinity when none is open. */
  get firstOpenStart(): number {
    let first = Infinity;
    for (const s of this.open.keys()) if (s < first) first = s;
    return first;
  }

  /** The start of the last open window, or -Infinity when none is open. */
  get lastOpenStart(): number {
    let last = -Infinity;
    for (const s of this.open.keys()) if (s > last) last = s;
    return last;
  }

  /** Rebuilds state after a restart: the closed boundary plus the open windows' counts. */
  restore(closedThrough: number, rows: Iterable<{ windowStart: number; eventType: number; levelId: number | null; count: number }>): void {
    this.open.clear();
    this.lastStart = NaN;
    this.lastCounts = null;
    this.closedThrough = closedThrough;
    for (const r of rows) {
      if (r.windowStart < closedThrough) continue;
      this.add(r.windowStart, r.eventType, r.levelId, r.count);
    }
  }

  get openWindows(): number {
    return this.open.size;
  }
}
