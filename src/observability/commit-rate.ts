/**
 * Rates of the committed totals for the status page, aligned to the commits.
 *
 * The totals move only when a warehouse commit lands, a step at a time. Their difference between two samples
 * taken every 2 s counts whole commits: with commits about as often as the samples (a worker flush every 1 s,
 * commits that gather flushes), a sample holds 0, 1 or 2 of them, and a steady 20k/s source drew a 0↔40k
 * sawtooth. Here each commit's records are spread over the time since the previous commit (the interval it
 * covers), which is steady for a steady source whatever the two cadences, and the rate is that spread averaged
 * over a window of several commits. After the last commit the rate is unknown until the next one lands; once
 * that is overdue (longer than the recent gaps between commits allow) the time since counts as nothing
 * committed, so a stopped source falls to 0 within a window.
 */

/** The committed totals as of one commit. */
export interface CommitPoint {
  atMs: number;
  recordsIn: number;
  eventsWritten: number;
  deadLetters: number;
}

export interface CommitRates {
  recordsInPerSec: number;
  eventsWrittenPerSec: number;
  deadLettersPerSec: number;
}

export interface CommitRateOptions {
  /** Length of the averaging window. */
  windowMs: number;
  /** Shortest wait for the next commit before the time since the last one counts as nothing committed. */
  minGraceMs: number;
  /** Longest such wait, however slow the commits were. */
  maxGraceMs: number;
}

const KEYS = ['recordsIn', 'eventsWritten', 'deadLetters'] as const;
/** Gaps between commits looked at to judge when the next one is overdue. */
const RECENT_GAPS = 8;

export class CommitRate {
  private readonly o: CommitRateOptions;
  private readonly points: CommitPoint[] = [];

  constructor(opts: CommitRateOptions, start: CommitPoint) {
    this.o = opts;
    this.points.push({ ...start });
  }

  /**
   * The totals as of the latest commit. A point no later than the previous one only updates its totals: the
   * sampler may see one commit twice, and two commits between samples arrive as one (their interval is covered
   * all the same).
   */
  observe(p: CommitPoint): void {
    const last = this.points[this.points.length - 1]!;
    if (p.atMs <= last.atMs) {
      for (const k of KEYS) last[k] = p[k];
      return;
    }
    this.points.push({ ...p });
    // Keep what the widest window can still reach, and the point before it (the start of its first interval).
    const oldest = p.atMs - this.o.windowMs - this.o.maxGraceMs;
    while (this.points.length > 2 && this.points[1]!.atMs <= oldest) this.points.shift();
  }

  /** Per-second rates at `nowMs`: the committed records spread over their commits' intervals, averaged over the window. */
  rates(nowMs: number): CommitRates {
    const pts = this.points;
    const zero = { recordsInPerSec: 0, eventsWrittenPerSec: 0, deadLettersPerSec: 0 };
    if (pts.length < 2) return zero;
    const last = pts[pts.length - 1]!;
    let gap = 0;
    for (let i = Math.max(1, pts.length - RECENT_GAPS); i < pts.length; i++) gap = Math.max(gap, pts[i]!.atMs - pts[i - 1]!.atMs);
    const grace = Math.min(this.o.maxGraceMs, Math.max(this.o.minGraceMs, 1.5 * gap));
    // The window ends at the last commit while the next one may still be on its way, later once it is overdue.
    const end = Math.max(last.atMs, nowMs - grace);
    const from = Math.max(end - this.o.windowMs, pts[0]!.atMs);
    if (end <= from) return zero;
    const sums = [0, 0, 0];
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1]!;
      const b = pts[i]!;
      const overlap = Math.min(b.atMs, end) - Math.max(a.atMs, from);
      if (overlap <= 0) continue;
      const share = overlap / (b.atMs - a.atMs);
      KEYS.forEach((k, j) => (sums[j] += share * (b[k] - a[k])));
    }
    const secs = (end - from) / 1000;
    return { recordsInPerSec: sums[0]! / secs, eventsWrittenPerSec: sums[1]! / secs, deadLettersPerSec: sums[2]! / secs };
  }
}
