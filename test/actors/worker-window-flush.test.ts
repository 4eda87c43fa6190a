/**
 * A worker flushes as soon as windows have closed, not at its next flush interval: a closed window's row is then
 * queryable within one commit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { batch, startWorker, T0 } from '../support/worker-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-worker-window-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('worker thread: closed windows', () => {
  it('are flushed at once, though the flush interval is minutes away', { timeout: 30_000 }, async () => {
    const { w, flushes, close } = await startWorker(dir, [0], { GAMESTREAM_FLUSH_INTERVAL: '5m' });
    try {
      // Events in the first minute: its window stays open.
      w.postMessage(batch(1, 1000, [[0, 0], [0, 1], [0, 2]]));
      await sleep(300);
      expect(flushes).toHaveLength(0);
      // An event five minutes on moves the watermark past the first window's end and its allowed lateness.
      w.postMessage(batch(2, 2000, [[0, 3]], () => T0 + 5 * 60_000));
      const deadline = Date.now() + 10_000;
      while (flushes.length === 0 && Date.now() < deadline) await sleep(20);
      expect(flushes).toHaveLength(1);
      expect(flushes[0]!.windowsClosedAtMs.length).toBeGreaterThan(0);
      expect(flushes[0]!.rows.agg).toBeGreaterThan(0);
      expect(flushes[0]!.rows.events).toBe(4);
    } finally {
      await close();
    }
  });
});
