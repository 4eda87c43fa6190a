/**
 * Memory by part, beside the process' resident set: each worker thread's V8 heap and the memory it holds outside
 * that heap (its ArrayBuffers above all), and what DuckDB's buffer manager holds. The supervisor thread's own are
 * the default Node metrics (gamestream_nodejs_heap_size_total_bytes, gamestream_nodejs_external_memory_bytes), the
 * dedupe filter's is gamestream_dedupe_filter_bytes. Together they say which part a growing RSS is in
 * (docs/OPERATIONS.md, "Memory").
 */
import { Gauge, type Registry } from 'prom-client';

/** A worker thread's memory, as it reports it with its watermarks. */
export interface ThreadMemory {
  /** V8's heap of the thread (committed, `heapTotal`). */
  heapBytes: number;
  /** Memory outside that heap that its objects hold (`external`: ArrayBuffers and native objects). */
  externalBytes: number;
}

export class MemoryMetrics {
  private readonly workerHeap: Gauge<'worker'>;
  private readonly workerExternal: Gauge<'worker'>;
  private readonly registry: Registry;
  /** Made at the first reading, so that it is absent rather than 0 with a warehouse that has no such figure. */
  private warehouse: Gauge | null = null;
  private warehouseLimit: Gauge | null = null;

  constructor(registry: Registry) {
    this.registry = registry;
    const registers = [registry];
    this.workerHeap = new Gauge({
      name: 'gamestream_worker_heap_bytes', labelNames: ['worker'], registers,
      help: 'V8 heap of a worker thread (committed); the supervisor thread\'s is gamestream_nodejs_heap_size_total_bytes.',
    });
    this.workerExternal = new Gauge({
      name: 'gamestream_worker_external_memory_bytes', labelNames: ['worker'], registers,
      help: 'Memory a worker thread\'s objects hold outside its V8 heap (ArrayBuffers: batches, row chunks).',
    });
  }

  setWorker(worker: number, m: ThreadMemory): void {
    this.workerHeap.set({ worker: String(worker) }, m.heapBytes);
    this.workerExternal.set({ worker: String(worker) }, m.externalBytes);
  }

  /** `limitBytes`: the limit in force (0: DuckDB's own default), null when the warehouse has none to say. */
  setWarehouse(bytes: number, limitBytes: number | null): void {
    this.warehouse ??= new Gauge({
      name: 'gamestream_duckdb_memory_bytes', registers: [this.registry],
      help: 'Memory DuckDB\'s buffer manager holds (duckdb_memory()), at most gamestream_duckdb_memory_limit_bytes; its load buffers are outside it. Absent with BigQuery.',
    });
    this.warehouse.set(bytes);
    if (limitBytes === null) return;
    this.warehouseLimit ??= new Gauge({
      name: 'gamestream_duckdb_memory_limit_bytes', registers: [this.registry],
      help: 'DuckDB\'s memory limit in force: GAMESTREAM_DUCKDB_MEMORY_LIMIT plus room for the users table\'s index, which grows with the players (0: DuckDB\'s default, 80% of RAM). Absent with BigQuery.',
    });
    this.warehouseLimit.set(limitBytes);
  }
}
