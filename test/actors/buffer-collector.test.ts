// The supervisor thread's dead ArrayBuffers are collected once they pile up, instead of waiting for V8, whose
// collections follow the thread's small heap.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startBufferCollector } from '../../src/actors/buffer-collector.ts';

describe('startBufferCollector', () => {
  it('collects once dead buffers have grown past the bound, and not before', async () => {
    const collections: { before: number; after: number }[] = [];
    const c = startBufferCollector({ growthBytes: 64 * 2 ** 20, intervalMs: 50, onCollect: (before, after) => collections.push({ before, after }) });
    try {
      // Under the bound: nothing happens.
      let keep: SharedArrayBuffer[] | null = Array.from({ length: 8 }, () => new SharedArrayBuffer(2 << 20));
      await sleep(200);
      expect(collections).toEqual([]);
      // 200 MiB of buffers that die at once, as batches do once durable.
      keep = Array.from({ length: 100 }, () => new SharedArrayBuffer(2 << 20));
      expect(keep.length).toBe(100);
      keep = null;
      const deadline = Date.now() + 10_000;
      while (collections.length === 0 && Date.now() < deadline) await sleep(20);
      expect(collections.length).toBe(1);
      expect(collections[0]!.before).toBeGreaterThan(200 * 2 ** 20);
      // Freed (V8 may hand some back to the allocator a moment later).
      while (process.memoryUsage().arrayBuffers > 100 * 2 ** 20 && Date.now() < deadline) await sleep(20);
      expect(process.memoryUsage().arrayBuffers).toBeLessThan(100 * 2 ** 20);
    } finally {
      c.stop();
    }
  });
});
