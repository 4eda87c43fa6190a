/**
 * A real worker thread tells, with each flush, when the records it covers were received: per batch, the time the
 * supervisor stamped on it and how many of its records were new to their actors. Replays are not counted again,
 * so the freshness metric counts every record once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { batch, startWorker } from '../support/worker-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-worker-fresh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('worker thread: receive times in its flushes', () => {
  it('counts each batch\'s new records under the time it was received, and skips replays', { timeout: 30_000 }, async () => {
    const { w, flushes, drained, close } = await startWorker(dir, [0, 1], { GAMESTREAM_FLUSH_INTERVAL: '5m' });
    try {
      w.postMessage(batch(1, 1000, [[0, 0], [0, 1], [1, 0]]));
      // Two batches of one chunk share their time: one entry. Offsets 0 and 1 of partition 0 are replays.
      w.postMessage(batch(2, 2000, [[0, 0], [0, 1], [0, 2], [1, 1]]));
      w.postMessage(batch(3, 2000, [[1, 2]]));
      // Only replays: nothing to count.
      w.postMessage(batch(4, 3000, [[1, 0], [1, 1]]));
      w.postMessage({ t: 'drain' });
      await drained;
    } finally {
      await close();
    }
    expect(flushes).toHaveLength(1);
    expect(flushes[0]!.received).toEqual({ atMs: [1000, 2000], records: [3, 3] });
    expect(flushes[0]!.rows.events).toBe(6);
  });
});
