/**
 * Offsets of a partitioned log that will never be read: a Kafka topic's retention deleted their records before
 * the daemon fetched them (the source then goes on from the oldest record kept), or they hold no record to read
 * (transaction markers, aborted transactions, records compacted away). They are neither records in nor consumer
 * lag, so the counts taken from offsets leave them out.
 */
export class OffsetGaps {
  /** Per partition, disjoint [from, to) ranges in ascending order. */
  private readonly gaps = new Map<number, number[]>();

  /** Offsets [from, to) of `partition` will never be read. */
  add(partition: number, from: number, to: number): void {
    if (!(to > from)) return;
    const old = this.gaps.get(partition) ?? [];
    // At or past the end, as a fetch loop adds them: no rebuild (a marker per transaction would make it quadratic).
    const end = old.length > 0 ? old[old.length - 1]! : -Infinity;
    if (from >= end) {
      if (from === end) old[old.length - 1] = to;
      else old.push(from, to);
      this.gaps.set(partition, old);
      return;
    }
    const out: number[] = [];
    let placed = false;
    for (let i = 0; i < old.length; i += 2) {
      const a = old[i]!;
      const b = old[i + 1]!;
      if (b < from) out.push(a, b);
      else if (a > to) {
        if (!placed) out.push(from, to);
        placed = true;
        out.push(a, b);
      } else {
        // Overlapping or touching: merged into the new range.
        from = Math.min(from, a);
        to = Math.max(to, b);
      }
    }
    if (!placed) out.push(from, to);
    this.gaps.set(partition, out);
  }

  /** Offsets below `offset` of `partition` will not be asked about again (a checkpoint passed them): their ranges go. */
  forgetBelow(partition: number, offset: number): void {
    const g = this.gaps.get(partition);
    if (!g || g[0]! >= offset) return;
    let i = 0;
    while (i < g.length && g[i + 1]! <= offset) i += 2;
    const rest = g.slice(i);
    if (rest.length > 0 && rest[0]! < offset) rest[0] = offset;
    if (rest.length === 0) this.gaps.delete(partition);
    else this.gaps.set(partition, rest);
  }

  /** How many offsets in [lo, hi) of `partition` will never be read. */
  within(partition: number, lo: number, hi: number): number {
    const g = this.gaps.get(partition);
    if (!g || !(hi > lo)) return 0;
    let n = 0;
    for (let i = 0; i < g.length; i += 2) n += Math.max(0, Math.min(hi, g[i + 1]!) - Math.max(lo, g[i]!));
    return n;
  }
}
