/**
 * The dedupe index's metrics: how many ids it holds against what its filter holds at full speed, and how often
 * a lookup had to go to disk. With more ids in the horizon than the filter was sized for (the limit is
 * GAMESTREAM_DEDUPE_FILTER_MEMORY), more new ids read the runs, and the CPU per event grows with the index
 * (docs/OPERATIONS.md, "The dedupe index"); these show it coming.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LookupStats } from '../dedupe/lookup.ts';
import type { IndexStats } from '../dedupe/run-filter.ts';

export class DedupeMetrics {
  /** The index this daemon keeps (set at the supervisor's start); its gauges are absent until then. */
  private stats: (() => IndexStats) | null = null;
  private readonly diskLookups: Counter;
  private readonly runReads: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    const gauge = (name: string, help: string, read: (s: IndexStats) => number): void => {
      new Gauge({
        name, help, registers,
        collect() {
          this.reset();
          if (self.stats) this.set(read(self.stats()));
        },
      });
    };
    gauge('gamestream_dedupe_index_ids', 'Event ids the dedupe index holds (those within the horizon and its slack, until merges drop the older ones).', (s) => s.ids);
    gauge('gamestream_dedupe_index_runs', 'Run files of the dedupe index; a lookup the filter cannot settle reads one block of each.', (s) => s.runs);
    gauge('gamestream_dedupe_filter_bytes', 'Memory of the dedupe index\'s filter (at most GAMESTREAM_DEDUPE_FILTER_MEMORY; twice that while a larger one is built).', (s) => s.filterBytes);
    gauge('gamestream_dedupe_filter_capacity_ids', 'Ids the dedupe filter holds at its designed rate of disk lookups (0.1% of new ids); above it, that rate grows.', (s) => s.filterCapacity);
    this.diskLookups = new Counter({ name: 'gamestream_dedupe_disk_lookups_total', help: 'Event ids the dedupe filter could not rule out, looked up in the index\'s run files (a retry, or a false positive of the filter).', registers });
    this.runReads = new Counter({ name: 'gamestream_dedupe_run_reads_total', help: 'Blocks of the dedupe index\'s run files read by those lookups.', registers });
  }

  /** The index whose sizes the gauges report. */
  watch(stats: () => IndexStats): void {
    this.stats = stats;
  }

  addLookups(l: LookupStats): void {
    if (l.filterMaybes > 0) this.diskLookups.inc(l.filterMaybes);
    if (l.runReads > 0) this.runReads.inc(l.runReads);
  }
}
