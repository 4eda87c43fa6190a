/**
 * The engine's gauges, sampled once a second by the supervisor: the engine watermark, mailbox depths, open
 * windows, the main thread's event-loop delay, and (every 10 s, as it costs a broker round trip) the consumer
 * lag: log-end offset minus what the warehouse holds; the dedupe index's size and disk lookups; memory by part
 * (each worker's, as it reports it, and every 10 s the warehouse engine's). Counters of records move with commits
 * instead (metrics.ts).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { LookupStats } from '../dedupe/lookup.ts';
import type { IndexStats } from '../dedupe/run-filter.ts';
import type { Logger } from '../log.ts';
import type { ThreadMemory } from '../observability/memory-metrics.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Warehouse } from '../sinks/sink.ts';
import type { PartitionedLog } from '../sources/source.ts';
import type { WorkerSlot } from './worker-slot.ts';

/** How often the gauges that cost a round trip (the consumer lag, the warehouse engine's memory) are read. */
const LAG_EVERY_MS = 10_000;

export class EngineTelemetry {
  private readonly metrics: Metrics;
  private readonly source: PartitionedLog | null;
  private readonly log: Logger;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  private readonly warehouse: Pick<Warehouse, 'memoryBytes' | 'memoryLimitBytes'>;
  private lagAt = 0;
  private memoryAt = 0;

  constructor(metrics: Metrics, source: PartitionedLog | null, log: Logger, indexStats: () => IndexStats, warehouse: Pick<Warehouse, 'memoryBytes' | 'memoryLimitBytes'>) {
    this.metrics = metrics;
    this.source = source;
    this.log = log;
    this.warehouse = warehouse;
    this.loopDelay.enable();
    metrics.dedupe.watch(indexStats);
  }

  /** A worker thread's periodic report: its event-loop delay, its dedupe lookups since the last one, its memory. */
  workerReport(worker: number, eventLoopLagMs: number, lookups: LookupStats, memory: ThreadMemory): void {
    this.metrics.setEventLoopLag(`worker-${worker}`, eventLoopLagMs / 1000);
    this.metrics.dedupe.addLookups(lookups);
    this.metrics.memory.setWorker(worker, memory);
  }

  /** `durableNext`: per partition, the next offset the warehouse holds. */
  sample(engineWm: number, slots: WorkerSlot[], owned: Set<number>, durableNext: Float64Array): void {
    const m = this.metrics;
    m.setEngineWatermark(Number.isFinite(engineWm) ? engineWm : null);
    for (const s of slots) m.setMailboxDepth(s.index, s.inflight + s.pendingCount);
    m.setOpenWindows(slots.reduce((a, s) => a + s.openWindows, 0));
    m.setEventLoopLag('main', this.loopDelay.max / 1e9);
    this.loopDelay.reset();
    if (this.warehouse.memoryBytes && Date.now() - this.memoryAt >= LAG_EVERY_MS) {
      this.memoryAt = Date.now();
      this.warehouse.memoryBytes().then(
        (bytes) => m.memory.setWarehouse(bytes, this.warehouse.memoryLimitBytes?.() ?? null),
        (err: Error) => this.log.debug({ err: err.message }, 'could not read the warehouse engine\'s memory for its gauge'),
      );
    }
    const source = this.source;
    if (!source || Date.now() - this.lagAt < LAG_EVERY_MS) return;
    this.lagAt = Date.now();
    source.endOffsets().then(
      (ends) => {
        // Records the log deleted before they were read are not lag: they will never be read.
        const gone = (p: number, end: number): number => source.unreadable?.within(p, durableNext[p]!, end) ?? 0;
        for (const [p, end] of ends) if (owned.has(p)) m.setLag(p, Math.max(0, end - durableNext[p]! - gone(p, end)));
        // A partition handed to another daemon is its lag now: a value left here would count twice in the alert.
        m.retainLagPartitions(owned);
      },
      (err: Error) => this.log.debug({ err: err.message }, 'could not read log-end offsets for the lag metric'),
    );
  }

  close(): void {
    this.loopDelay.disable();
  }
}
