import { describe, expect, it } from 'vitest';
import { engineWatermark } from '../../src/windows/watermark.ts';

const NOW = 1_000_000;

describe('engineWatermark', () => {
  it('is the minimum over active partitions', () => {
    const e = engineWatermark([100, 50, 80], [NOW, NOW, NOW], NOW, 60_000, -Infinity, NOW - 1000);
    expect(e).toEqual({ watermarkMs: 50, idlePartitions: [] });
  });

  it('ignores idle partitions, and tells them to follow', () => {
    // partition 1 is far behind but has been quiet for the idle timeout; partition 3 never had a record
    // since a start longer than the idle timeout ago
    const e = engineWatermark([100, 5, 80, -Infinity], [NOW, NOW - 60_000, NOW - 1, 0], NOW, 60_000, -Infinity, NOW - 120_000);
    expect(e).toEqual({ watermarkMs: 80, idlePartitions: [1, 3] });
  });

  it('a partition not seen yet is not idle before the idle timeout has passed since the start', () => {
    // Kafka fetches partitions one by one: partition 2 simply has not been read yet and must hold the
    // watermark back (here: unknown), or its windows would close before its records arrive.
    const e = engineWatermark([100, 90, -Infinity], [NOW, NOW, 0], NOW, 60_000, -Infinity, NOW - 5000);
    expect(e).toEqual({ watermarkMs: -Infinity, idlePartitions: [] });
  });

  it('never moves backwards, and holds still when everything is idle', () => {
    expect(engineWatermark([40, 90], [NOW, NOW], NOW, 60_000, 70, NOW - 1000).watermarkMs).toBe(70);
    expect(engineWatermark([400, 900], [1, 1], NOW, 60_000, 70, 0)).toEqual({ watermarkMs: 70, idlePartitions: [0, 1] });
  });
});
