/**
 * A worker thread writes each full 4 MiB chunk of rows to the spool before its flush, instead of holding a whole
 * flush's rows, and the flush hands over that file complete. A worker's new thread removes the chunks its
 * earlier thread spilled (it died before its flush; the supervisor replays those rows), and no other worker's.
 */
import { readdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FromWorker } from '../../src/actors/protocol.ts';
import { batch, startWorker, T0 } from '../support/worker-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-worker-spill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const partials = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.partial')).sort();

describe('worker thread: rows spilled to the spool before the flush', () => {
  it('spills full chunks, flushes them as one file, and removes only its earlier thread\'s spills', { timeout: 60_000 }, async () => {
    const earlier = `w0-${process.pid}-t99999-1.events.partial`;
    const otherWorker = `w1-${process.pid}-t99998-1.events.partial`;
    writeFileSync(join(dir, earlier), 'rows of a thread that died\n');
    writeFileSync(join(dir, otherWorker), 'rows of a live worker\n');
    const { w, flushes, drained, close } = await startWorker(dir, [0], { GAMESTREAM_FLUSH_INTERVAL: '5m' });
    const batches = 5;
    // About 350 bytes a row: 20,000 rows are over 6 MiB, so at least one chunk spills. One event time: no window
    // closes, so nothing flushes before the drain.
    const perBatch = 4000;
    try {
      const processed = new Promise<void>((resolve) => {
        w.on('message', (m: FromWorker) => {
          if (m.t === 'processed' && m.seq === batches) resolve();
        });
      });
      for (let b = 1; b <= batches; b++) {
        w.postMessage(batch(b, 1000, Array.from({ length: perBatch }, (_, i): [number, number] => [0, (b - 1) * perBatch + i]), () => T0));
      }
      await processed;
      const spilled = partials();
      expect(spilled).toContain(otherWorker);
      expect(spilled).not.toContain(earlier);
      expect(spilled.filter((f) => f.startsWith(`w0-${process.pid}-t`) && f.endsWith('.events.partial'))).toHaveLength(1);
      w.postMessage({ t: 'drain' });
      await drained;
    } finally {
      await close();
    }
    expect(partials()).toEqual([otherWorker]);
    expect(flushes).toHaveLength(1);
    const file = flushes[0]!.files.events!;
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(batches * perBatch);
    expect(flushes[0]!.rows.events).toBe(batches * perBatch);
    // Every row once, in the order processed, across the spilled chunks and the rest.
    expect(lines.map((l) => (JSON.parse(l) as { source_offset: number }).source_offset)).toEqual(Array.from({ length: batches * perBatch }, (_, i) => i));
  });
});
