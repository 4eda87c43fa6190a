// The soak bench's memory by part: the daemon's gauges in MB, workers summed, an absent gauge null (not 0).
import { describe, expect, it } from 'vitest';
import { memoryParts, parseMetrics } from '../../bench/daemon-watch.ts';

describe('memoryParts', () => {
  it('reads each part from the daemon\'s gauges, sums the workers and leaves an absent gauge null', () => {
    const MiB = 2 ** 20;
    const m = parseMetrics([
      '# HELP gamestream_worker_heap_bytes V8 heap of a worker thread',
      `gamestream_nodejs_heap_size_total_bytes ${100 * MiB}`,
      `gamestream_nodejs_external_memory_bytes ${20 * MiB}`,
      `gamestream_worker_heap_bytes{worker="0"} ${70 * MiB}`,
      `gamestream_worker_heap_bytes{worker="1"} ${80 * MiB}`,
      `gamestream_worker_external_memory_bytes{worker="0"} ${5 * MiB}`,
      `gamestream_worker_external_memory_bytes{worker="1"} ${6 * MiB}`,
      `gamestream_dedupe_filter_bytes ${256 * MiB}`,
    ].join('\n'));
    expect(memoryParts(m)).toEqual({ supervisorHeap: 100, supervisorExternal: 20, workersHeap: 150, workersExternal: 11, dedupeFilter: 256, duckdb: null });
    expect(memoryParts(new Map([...m, ['gamestream_duckdb_memory_bytes', 40 * MiB]])).duckdb).toBe(40);
  });
});
