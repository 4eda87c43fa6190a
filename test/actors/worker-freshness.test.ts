/**
 * A real worker thread tells, with each flush, when the records it covers were received: per batch, the time the
 * supervisor stamped on it and how many of its records were new to their actors. Replays are not counted again,
 * so the freshness metric counts every record once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FromWorker, FromWorkerData } from '../../src/actors/protocol.ts';
import { workerSettings } from '../../src/actors/worker-settings.ts';
import { spawnWorkerThread } from '../../src/actors/worker-slot.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { KeyFilter } from '../../src/dedupe/filter.ts';
import { TableFiles } from '../../src/enrich/tables.ts';
import type { Source } from '../../src/sources/source.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-worker-fresh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T0 = Date.UTC(2026, 10, 20, 10);

/** One batch message's fields: the records of `partition` at `offsets`, in shared memory as the router builds them. */
function batch(seq: number, receivedAtMs: number, records: [partition: number, offset: number][]) {
  const lines = records.map(([p, o]) => Buffer.from(JSON.stringify({
    id: `e-${p}-${o}`, user_id: `u${p}`, timestamp: new Date(T0 + o * 1000).toISOString(), type: 1001, name: 'level_start', parameters: { level_id: 1 },
  })));
  const data = new Uint8Array(new SharedArrayBuffer(lines.reduce((n, l) => n + l.length, 0)));
  const index = new Int32Array(records.length * 3);
  let pos = 0;
  lines.forEach((l, i) => {
    data.set(l, pos);
    index.set([records[i]![0], pos, pos + l.length], i * 3);
    pos += l.length;
  });
  return { t: 'batch' as const, seq, receivedAtMs, data, index, offsets: Float64Array.from(records.map(([, o]) => o)) };
}

describe('worker thread: receive times in its flushes', () => {
  it('counts each batch\'s new records under the time it was received, and skips replays', { timeout: 30_000 }, async () => {
    const cfg = loadConfig({ GAMESTREAM_PARTITIONS: '2', GAMESTREAM_WORKERS: '1', GAMESTREAM_GEOIP_DB: 'off', GAMESTREAM_DEVICE_TABLE: 'off', GAMESTREAM_FLUSH_INTERVAL: '5m', GAMESTREAM_IDLE_TIMEOUT: '1h' });
    const source = { name: 'memory:test', format: 'ndjson', avroWriterSchema: null, partitionedLog: null, group: null } as unknown as Source;
    const settings = workerSettings({
      cfg, source, schemas: null, spoolDir: dir, worker: 0, incarnation: 1, crash: null,
      index: { runs: [], filter: KeyFilter.create(1 << 16).sharedBuffer, origin: 0, runPrefix: join(dir, 'w0') },
    });
    const tables = await TableFiles.open({ geoipPath: null, devicePath: null });
    const w = spawnWorkerThread(0);
    const flushes: FromWorkerData[] = [];
    const drained = new Promise<void>((resolve, reject) => {
      w.on('message', (m: FromWorker) => {
        if (m.t === 'flush') flushes.push(m);
        if (m.t === 'drained') resolve();
        if (m.t === 'fatal') reject(new Error(m.error.message));
      });
    });
    try {
      w.postMessage({ t: 'init', settings, tables: tables.snapshot() });
      w.postMessage({ t: 'start-actors', partitions: [0, 1], restore: [] });
      w.postMessage(batch(1, 1000, [[0, 0], [0, 1], [1, 0]]));
      // Two batches of one chunk share their time: one entry. Offsets 0 and 1 of partition 0 are replays.
      w.postMessage(batch(2, 2000, [[0, 0], [0, 1], [0, 2], [1, 1]]));
      w.postMessage(batch(3, 2000, [[1, 2]]));
      // Only replays: nothing to count.
      w.postMessage(batch(4, 3000, [[1, 0], [1, 1]]));
      w.postMessage({ t: 'drain' });
      await drained;
    } finally {
      await w.terminate();
      tables.close();
    }
    expect(flushes).toHaveLength(1);
    expect(flushes[0]!.received).toEqual({ atMs: [1000, 2000], records: [3, 3] });
    expect(flushes[0]!.rows.events).toBe(6);
  });
});
