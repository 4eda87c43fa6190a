/**
 * Starting a worker thread with stand-in threads: a partition taken over while the thread starts gets its actor
 * before the thread counts as ready (a take-over sends actors to ready threads only), and a thread that dies
 * before it is ready leaves its start to the restart, which alone replays and marks the slot ready.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Committer } from '../../src/actors/committer.ts';
import type { IndexLink } from '../../src/actors/index-link.ts';
import type { PartitionOwnership } from '../../src/actors/ownership.ts';
import type { FromWorker, ToWorker } from '../../src/actors/protocol.ts';
import type { UserLink } from '../../src/actors/user-link.ts';
import { WorkerStarts, type WorkerStartHost } from '../../src/actors/worker-start.ts';
import { WorkerSlot, type WorkerThread } from '../../src/actors/worker-slot.ts';
import { loadConfig } from '../../src/config/schema.ts';
import type { Checkpoint } from '../../src/contract/checkpoint.ts';
import type { TableFiles } from '../../src/enrich/tables.ts';
import type { Warehouse } from '../../src/sinks/sink.ts';
import type { Source } from '../../src/sources/source.ts';

class FakeThread extends EventEmitter implements WorkerThread {
  readonly sent: ToWorker[] = [];
  private readonly onPost: (t: FakeThread, msg: ToWorker) => void;
  constructor(onPost: (t: FakeThread, msg: ToWorker) => void) {
    super();
    this.onPost = onPost;
  }
  postMessage(msg: ToWorker): void {
    this.sent.push(msg);
    this.onPost(this, msg);
  }
  async terminate(): Promise<number> {
    return 0;
  }
}

const cp = (partition: number): Checkpoint => ({ partition, nextOffset: 10, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A host whose worker 0 has partitions 0 and 2 of 4; `holdRestore` holds the first restore back until released. */
function setup(o: { onPost: (t: FakeThread, msg: ToWorker) => void }) {
  const owned = new Set<number>([0]);
  const restores: number[][] = [];
  let hold: { promise: Promise<void>; resolve: () => void } | null = null;
  const said: string[] = [];
  const failures: unknown[] = [];
  const warehouse = {
    loadRestore: async (_s: string, cps: Checkpoint[]) => {
      restores.push(cps.map((c) => c.partition));
      if (hold) await hold.promise;
      return cps.map((c) => ({ checkpoint: c, windows: [], written: [] }));
    },
  } as unknown as Warehouse;
  const threads: FakeThread[] = [];
  const slot = new WorkerSlot(0, () => {
    const t = new FakeThread(o.onPost);
    threads.push(t);
    return t;
  });
  const host: WorkerStartHost = {
    cfg: loadConfig({ GAMESTREAM_PARTITIONS: '4', GAMESTREAM_WORKERS: '2', GAMESTREAM_RESTART_LIMIT: '3' }),
    source: { name: 'memory:t' } as Source,
    warehouse,
    tables: { snapshot: () => ({}) } as unknown as TableFiles,
    spoolDir: '/nonexistent',
    schemas: null,
    index: { workerIndex: () => ({}) } as unknown as IndexLink,
    users: { filter: null } as unknown as UserLink,
    committer: { exclusive: <T>(fn: () => Promise<T>) => fn() } as unknown as Committer,
    ownership: { owned, pendingRevoke: () => undefined } as unknown as PartitionOwnership,
    partitions: 4,
    log: { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as WorkerStartHost['log'],
    say: (line) => said.push(line),
    partitionsOf: () => [0, 2],
    checkpointsOf: (ps) => [...ps].map(cp),
    onMessage: () => undefined,
    fatal: () => failures[0] ?? null,
    fail: (err) => failures.push(err),
    pumpSlot: () => undefined,
    endPosted: () => false,
    drainRequested: () => false,
    notify: () => undefined,
  };
  return {
    starts: new WorkerStarts(host), slot, threads, owned, restores, said, failures,
    holdRestore: () => (hold = deferred()),
    releaseRestore: () => {
      const h = hold;
      hold = null;
      h?.resolve();
    },
  };
}

const startedActors = (t: FakeThread) => t.sent.filter((m): m is Extract<ToWorker, { t: 'start-actors' }> => m.t === 'start-actors').map((m) => m.partitions);
const ready = (t: FakeThread, msg: ToWorker) => {
  if (msg.t === 'start-actors') queueMicrotask(() => t.emit('message', { t: 'ready' } as FromWorker));
};

describe('starting a worker thread', () => {
  it('gives the thread an actor for a partition taken over while it was starting', async () => {
    const s = setup({ onPost: ready });
    s.holdRestore();
    const started = s.starts.start(s.slot);
    await new Promise((r) => setImmediate(r));
    expect(s.restores).toEqual([[0]]);
    // A take-over finishes now: the thread is not ready, so the take-over itself sends it nothing.
    s.owned.add(2);
    s.releaseRestore();
    await started;
    expect(s.slot.ready).toBe(true);
    expect(startedActors(s.threads[0]!)).toEqual([[0], [2]]);
    expect(s.restores).toEqual([[0], [2]]);
  });

  it('leaves the start of a thread that died before it was ready to its restart', async () => {
    let deaths = 1;
    const s = setup({
      onPost: (t, msg) => {
        if (msg.t !== 'start-actors') return;
        if (deaths-- > 0) queueMicrotask(() => t.emit('exit', 1));
        else ready(t, msg);
      },
    });
    await s.starts.start(s.slot);
    // The first start returned without marking the slot ready; the restart its exit began does.
    expect(s.slot.ready).toBe(false);
    for (let turns = 0; !s.slot.ready && turns < 1000; turns++) await new Promise((r) => setImmediate(r));
    expect(s.slot.ready).toBe(true);
    expect(s.threads.length).toBe(2);
    expect(s.starts.restarts.count).toBe(1);
    expect(s.said).toEqual([expect.stringContaining('worker 0 crashed (exit code 1); restarted it')]);
    expect(s.failures).toEqual([]);
  });
});
