/** A real worker thread driven by hand, as the supervisor drives it: its settings, its batches, its messages. */
import { join } from 'node:path';
import type { FromWorker, FromWorkerData } from '../../src/actors/protocol.ts';
import { workerSettings } from '../../src/actors/worker-settings.ts';
import { spawnWorkerThread, type WorkerThread } from '../../src/actors/worker-slot.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { KeyFilter } from '../../src/dedupe/filter.ts';
import { TableFiles } from '../../src/enrich/tables.ts';
import type { Source } from '../../src/sources/source.ts';
import { serveUserLookups } from '../../src/users/lookup-channel.ts';
import { KnownUsers } from '../../src/users/known-users.ts';

export const T0 = Date.UTC(2026, 10, 20, 10);

/**
 * One batch message's fields: the records of each [partition, offset], event time T0 + offset seconds unless
 * `eventMs` says otherwise, in shared memory as the router builds them.
 */
export function batch(seq: number, receivedAtMs: number, records: [partition: number, offset: number][], eventMs = (o: number) => T0 + o * 1000) {
  const lines = records.map(([p, o]) => Buffer.from(JSON.stringify({
    id: `e-${p}-${o}`, user_id: `u${p}`, timestamp: new Date(eventMs(o)).toISOString(), type: 1001, name: 'level_start', parameters: { level_id: 1 },
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

export interface HarnessedWorker {
  w: WorkerThread;
  flushes: FromWorkerData[];
  /** Resolves when the worker says it has drained. */
  drained: Promise<void>;
  close(): Promise<void>;
}

/** Starts worker 0 with `partitions`, the given GAMESTREAM_* settings and no GeoIP or device table. */
export async function startWorker(dir: string, partitions: number[], env: Record<string, string>): Promise<HarnessedWorker> {
  const cfg = loadConfig({ GAMESTREAM_PARTITIONS: String(Math.max(...partitions) + 1), GAMESTREAM_WORKERS: '1', GAMESTREAM_GEOIP_DB: 'off', GAMESTREAM_DEVICE_TABLE: 'off', GAMESTREAM_IDLE_TIMEOUT: '1h', ...env });
  const source = { name: 'memory:test', format: 'ndjson', avroWriterSchema: null, partitionedLog: null, group: null } as unknown as Source;
  const settings = workerSettings({
    cfg, source, schemas: null, spoolDir: dir, worker: 0, incarnation: 1, crash: null,
    index: { runs: [], filter: KeyFilter.create(1 << 16).sharedBuffer, origin: 0, runPrefix: join(dir, 'w0') },
    knownUsers: KnownUsers.forUsers(0).sharedBuffer,
  });
  const tables = await TableFiles.open({ geoipPath: null, devicePath: null });
  const w = spawnWorkerThread(0);
  const flushes: FromWorkerData[] = [];
  const drained = new Promise<void>((resolve, reject) => {
    w.on('message', (m: FromWorker) => {
      if (m.t === 'flush') flushes.push(m);
      // No warehouse here: every user is new.
      if (m.t === 'users-port') serveUserLookups(m.port, m.flag, async () => []);
      if (m.t === 'drained') resolve();
      if (m.t === 'fatal') reject(new Error(m.error.message));
    });
  });
  drained.catch(() => undefined);
  w.postMessage({ t: 'init', settings, tables: tables.snapshot() });
  w.postMessage({ t: 'start-actors', partitions, restore: [] });
  return {
    w, flushes, drained,
    close: async () => {
      await w.terminate();
      tables.close();
    },
  };
}
