// The engine's gauges of memory by part: each worker's, as it reports it, and the warehouse engine's, read every
// 10 s without holding the sample up; a warehouse that cannot answer leaves the gauge absent and says why at debug.
import { describe, expect, it, vi } from 'vitest';
import { EngineTelemetry } from '../../src/actors/engine-telemetry.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { OffsetGaps } from '../../src/sources/offset-gaps.ts';
import type { PartitionedLog } from '../../src/sources/source.ts';
import { captureLogger, sampleValue } from '../observability/prom-text.ts';

const noIndex = () => ({ ids: 0, runs: 0, filterBytes: 0, filterCapacity: 0 });

async function until(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setImmediate(r));
}

describe('EngineTelemetry, memory', () => {
  it('sets each worker\'s heap and external memory from its report', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const t = new EngineTelemetry(metrics, null, captureLogger().log, noIndex, {});
    t.workerReport(0, 1, { filterMaybes: 0, runReads: 0 }, { heapBytes: 50e6, externalBytes: 7e6 });
    t.workerReport(1, 1, { filterMaybes: 0, runReads: 0 }, { heapBytes: 60e6, externalBytes: 9e6 });
    t.workerReport(0, 1, { filterMaybes: 0, runReads: 0 }, { heapBytes: 55e6, externalBytes: 8e6 });
    const text = await metrics.text();
    expect(sampleValue(text, 'gamestream_worker_heap_bytes{worker="0"}')).toBe(55e6);
    expect(sampleValue(text, 'gamestream_worker_external_memory_bytes{worker="0"}')).toBe(8e6);
    expect(sampleValue(text, 'gamestream_worker_heap_bytes{worker="1"}')).toBe(60e6);
    t.close();
  });

  it('reads the warehouse engine\'s memory at the first sample and then at most every 10 s', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let reads = 0;
    const t = new EngineTelemetry(metrics, null, captureLogger().log, noIndex, { memoryBytes: async () => ++reads * 1000, memoryLimitBytes: () => 5000 });
    t.sample(0, [], new Set(), new Float64Array(0));
    await until(async () => sampleValue(await metrics.text(), 'gamestream_duckdb_memory_bytes') === 1000);
    expect(sampleValue(await metrics.text(), 'gamestream_duckdb_memory_limit_bytes')).toBe(5000);
    t.sample(0, [], new Set(), new Float64Array(0));
    expect(reads).toBe(1);
    t.close();
  });

  it('leaves the gauge absent with a warehouse that has none or cannot answer, and logs why at debug', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const { log, lines } = captureLogger();
    const failing = new EngineTelemetry(metrics, null, log, noIndex, { memoryBytes: async () => { throw new Error('not open'); } });
    failing.sample(0, [], new Set(), new Float64Array(0));
    await until(async () => lines.some((l) => l.err === 'not open'));
    new EngineTelemetry(metrics, null, log, noIndex, {}).sample(0, [], new Set(), new Float64Array(0));
    expect(sampleValue(await metrics.text(), 'gamestream_duckdb_memory_bytes')).toBeUndefined();
    expect(sampleValue(await metrics.text(), 'gamestream_duckdb_memory_limit_bytes')).toBeUndefined();
    failing.close();
  });
});

describe('EngineTelemetry, consumer lag', () => {
  it('reports the partitions this daemon owns and drops those handed to another daemon', async () => {
    const ends = new Map([[0, 100], [1, 50], [2, 70]]);
    const log = { endOffsets: async () => ends } as unknown as PartitionedLog;
    const metrics = new Metrics({ defaultMetrics: false });
    const t = new EngineTelemetry(metrics, log, captureLogger().log, noIndex, {});
    const lagOf = async (p: number) => sampleValue(await metrics.text(), `gamestream_kafka_consumer_lag{partition="${p}"}`);
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000_000);
    try {
      t.sample(0, [], new Set([0, 1]), Float64Array.from([90, 50, 0]));
      await until(async () => (await lagOf(0)) === 10);
      expect(await lagOf(1)).toBe(0);
      expect(await lagOf(2)).toBeUndefined();
      // A rebalance gave partition 0 to another daemon and partition 2 to this one.
      now.mockReturnValue(1_010_000);
      t.sample(0, [], new Set([1, 2]), Float64Array.from([90, 50, 40]));
      await until(async () => (await lagOf(2)) === 30);
      expect(await lagOf(0)).toBeUndefined();
    } finally {
      now.mockRestore();
      t.close();
    }
  });

  it('leaves out of the lag the records the log deleted before they were read', async () => {
    const unreadable = new OffsetGaps();
    unreadable.add(0, 0, 400_000); // retention took them before this daemon got to the partition
    const log = { endOffsets: async () => new Map([[0, 400_050]]), unreadable } as unknown as PartitionedLog;
    const metrics = new Metrics({ defaultMetrics: false });
    const t = new EngineTelemetry(metrics, log, captureLogger().log, noIndex, {});
    t.sample(0, [], new Set([0]), Float64Array.from([0]));
    await until(async () => sampleValue(await metrics.text(), 'gamestream_kafka_consumer_lag{partition="0"}') !== undefined);
    expect(sampleValue(await metrics.text(), 'gamestream_kafka_consumer_lag{partition="0"}')).toBe(50);
    t.close();
  });
});
