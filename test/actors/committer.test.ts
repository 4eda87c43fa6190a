/**
 * The committer's barriers. settled() must end once what was queued before it is committed, even while other
 * partitions keep flushing: a hand-over that waited for an empty queue never ended under a steady stream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Committer, type QueuedFlush } from '../../src/actors/committer.ts';
import type { Checkpoint } from '../../src/contract/checkpoint.ts';
import type { CommitBatch, Warehouse } from '../../src/sinks/sink.ts';

function cp(partition: number, nextOffset: number): Checkpoint {
  return { partition, nextOffset, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 };
}

function flush(partition: number, nextOffset: number): QueuedFlush {
  return { workerIndex: 0, incarnation: 1, flushSeq: 0, idRun: null, files: { events: null, dlq: null, agg: null, aggUpdates: null }, rows: { events: 0, dlq: 0, agg: 0, aggUpdates: 0 }, checkpoints: [cp(partition, nextOffset)], deadLetterCodes: {}, windowsClosedAtMs: [] };
}

/** Records each commit's checkpoints; every commit takes `ms`; fails on demand. */
function slowWarehouse(ms: number, failAt = Infinity): { wh: Warehouse; commits: Checkpoint[][] } {
  const commits: Checkpoint[][] = [];
  const wh = {
    name: 'test', shared: null, open: async () => undefined, close: async () => undefined,
    loadCheckpoints: async () => new Map(), loadRestore: async () => [],
    identity: async () => 'test', committedPositions: async () => [], readCommittedIds: async () => undefined, readUserStates: async () => [], countUsers: async () => 0, readUserIds: async () => undefined,
    commit: async (b: CommitBatch) => {
      await sleep(ms);
      if (commits.length + 1 >= failAt) throw Object.assign(new Error('warehouse down'), { code: 'warehouse_commit_failed', retryable: false });
      commits.push(b.checkpoints);
    },
  } satisfies Warehouse;
  return { wh, commits };
}

function committer(wh: Warehouse, onFatal: (e: unknown) => void = () => undefined): Committer {
  return new Committer(wh, {
    maxFlushesPerCommit: 1, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false,
    onCommitted: () => undefined, onRetry: () => undefined, onFatal,
  });
}

describe('Committer', () => {
  it('settled() ends when the flushes queued before it are committed, while a steady stream keeps queueing', async () => {
    const { wh, commits } = slowWarehouse(20);
    const c = committer(wh);
    c.enqueue(flush(5, 100));
    c.enqueue(flush(1, 50));
    // Partition 1 keeps flushing every 10 ms, faster than commits end: the queue is never empty.
    let offset = 50;
    const stream = setInterval(() => c.enqueue(flush(1, (offset += 10))), 10);
    try {
      await c.settled();
      expect(c.durable.get(5)?.nextOffset).toBe(100);
      expect(c.durable.get(1)?.nextOffset).toBeGreaterThanOrEqual(50);
      expect(c.idle, 'the stream was still queueing').toBe(false);
      expect(commits.length).toBeLessThan(6);
    } finally {
      clearInterval(stream);
    }
    await c.drain();
    expect(c.idle).toBe(true);
  });

  it('settled() and exclusive() return at once when nothing is queued', async () => {
    const { wh } = slowWarehouse(1);
    const c = committer(wh);
    await c.settled();
    expect(await c.exclusive(async () => 'ran')).toBe('ran');
  });

  it('settled() rejects with the commit failure instead of hanging', async () => {
    const { wh } = slowWarehouse(5, 2);
    let fatal: unknown;
    const c = committer(wh, (e) => (fatal = e));
    c.enqueue(flush(0, 10));
    c.enqueue(flush(0, 20));
    c.enqueue(flush(0, 30));
    await expect(c.settled()).rejects.toMatchObject({ code: 'warehouse_write_failed' });
    expect((fatal as { code: string }).code).toBe('warehouse_write_failed');
    expect(c.durable.get(0)?.nextOffset).toBe(10);
  });

  it('stop() lets the commit in flight end, drops what is queued, and ends retries, so nothing outlives it', async () => {
    let calls = 0;
    const wh = {
      ...slowWarehouse(0).wh,
      commit: async () => {
        calls++;
        await sleep(50);
        throw Object.assign(new Error('warehouse closing'), { code: 'warehouse_unavailable', retryable: true });
      },
    } satisfies Warehouse;
    const c = new Committer(wh, {
      maxFlushesPerCommit: 1, maxRetries: 8, engineWatermark: () => null, endOfInput: () => false,
      onCommitted: () => undefined, onRetry: () => undefined, onFatal: () => undefined,
    });
    c.enqueue(flush(0, 10));
    c.enqueue(flush(0, 20));
    const waiting = c.settled().catch((e: unknown) => e);
    await sleep(10);
    const t0 = Date.now();
    await c.stop();
    // Eight retries with back-off would take seconds; stop() ends them after the attempt in flight.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(calls).toBe(1);
    expect(c.idle).toBe(true);
    // What waited for the dropped flushes learns that they will never be committed.
    expect(await waiting).toMatchObject({ code: 'shutting_down' });
    c.enqueue(flush(0, 30));
    expect(c.idle, 'nothing starts after stop()').toBe(true);
    await expect(c.settled(), 'rejects instead of waiting forever').rejects.toHaveProperty('code');
  });

  it('copies to Kafka are retried by time, not by count, and said to be the copies, not the warehouse', async () => {
    const { wh, commits } = slowWarehouse(0);
    const retries: string[] = [];
    const recovered: [string, number][] = [];
    let calls = 0;
    const c = new Committer(wh, {
      maxFlushesPerCommit: 1, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false,
      onCommitted: () => undefined, onFatal: () => undefined,
      onRetry: (what) => retries.push(what),
      onRecovered: (what, attempts) => recovered.push([what, attempts]),
      afterCommit: async () => {
        // The broker is away for the first three attempts: more than the warehouse's zero retries allow.
        if (++calls <= 3) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'output_failed', retryable: true });
      },
    });
    const f = flush(0, 10);
    f.files.events = '/nonexistent/events.ndjson';
    c.enqueue(f);
    await c.settled();
    expect(commits.length).toBe(1);
    expect(retries).toEqual(['kafka', 'kafka', 'kafka']);
    expect(recovered).toEqual([['kafka', 4]]);
  });

  it('copies to Kafka give up after outputRetryMs with output_failed', async () => {
    const { wh } = slowWarehouse(0);
    let fatal: unknown;
    const c = new Committer(wh, {
      maxFlushesPerCommit: 1, maxRetries: 0, outputRetryMs: 400, engineWatermark: () => null, endOfInput: () => false,
      onCommitted: () => undefined, onRetry: () => undefined, onFatal: (e) => (fatal = e),
      afterCommit: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'output_failed', retryable: true });
      },
    });
    const f = flush(0, 10);
    f.files.events = '/nonexistent/events.ndjson';
    c.enqueue(f);
    await expect(c.settled()).rejects.toMatchObject({ code: 'output_failed' });
    expect((fatal as Error).message).toMatch(/publishing copies of the rows to Kafka failed after \d+ attempt\(s\) over/);
  });

  it('overlaps a commit\'s copies with the next warehouse commit, one at a time and in commit order', async () => {
    const events: string[] = [];
    // One timer per step, so that the order follows the timers' due times even on a stalled machine.
    const { wh } = slowWarehouse(0);
    wh.commit = async (b) => {
      events.push(`warehouse ${b.checkpoints[0]!.nextOffset} start`);
      await sleep(50);
      events.push(`warehouse ${b.checkpoints[0]!.nextOffset} end`);
    };
    const c = new Committer(wh, {
      maxFlushesPerCommit: 1, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false,
      onRetry: () => undefined, onFatal: () => undefined,
      onCommitted: (r) => events.push(`committed ${r.checkpoints[0]!.nextOffset}`),
      afterCommit: async (files) => {
        const n = files[0]!.events;
        events.push(`copies ${n} start`);
        await sleep(400);
        events.push(`copies ${n} end`);
      },
    });
    for (const n of [10, 20, 30]) {
      const f = flush(0, n);
      f.files.events = `/nonexistent/${n}`;
      c.enqueue(f);
    }
    await c.settled();
    expect(events).toEqual([
      'warehouse 10 start', 'warehouse 10 end',
      // The copies of the first commit go out while the second commit runs…
      'copies /nonexistent/10 start', 'warehouse 20 start', 'warehouse 20 end',
      // …and the second's copies wait for the first's, whose release is reported first.
      'copies /nonexistent/10 end', 'committed 10', 'copies /nonexistent/20 start', 'warehouse 30 start', 'warehouse 30 end',
      'copies /nonexistent/20 end', 'committed 20', 'copies /nonexistent/30 start', 'copies /nonexistent/30 end', 'committed 30',
    ]);
  });

  it('commits a flush queued while the last commit\'s after-work runs, with nothing queued after it', async () => {
    // The loop had left its queue and waited for the after-work; a flush queued then found it still running and
    // started none, and the loop ended without looking again: the flush sat queued, the daemon stalled.
    const { wh, commits } = slowWarehouse(0);
    let copying!: () => void;
    const copiesStarted = new Promise<void>((r) => (copying = r));
    let release!: () => void;
    const copiesHeld = new Promise<void>((r) => (release = r));
    const c = new Committer(wh, {
      maxFlushesPerCommit: 1, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false,
      onCommitted: () => undefined, onRetry: () => undefined, onFatal: () => undefined,
      afterCommit: async () => {
        copying();
        await copiesHeld;
      },
    });
    const first = flush(0, 10);
    first.files.events = '/nonexistent/10';
    c.enqueue(first);
    await copiesStarted;
    c.enqueue(flush(0, 20));
    release();
    // drain(), not settled(): settled() waited for ever on the stranded flush, drain() returned past it.
    await c.drain();
    expect(commits.map((b) => b[0]!.nextOffset)).toEqual([10, 20]);
    expect(c.idle).toBe(true);
  });
  it('runs the warehouse\'s upkeep after each commit, before the next, and outside the commit\'s latencies', async () => {
    const events: string[] = [];
    const { wh } = slowWarehouse(0);
    const commit = wh.commit;
    wh.commit = async (b) => {
      events.push(`commit ${b.checkpoints[0]!.nextOffset}`);
      await commit(b);
    };
    let upkeepStartedAt = 0;
    wh.betweenCommits = async () => {
      upkeepStartedAt ||= Date.now();
      events.push('upkeep start');
      await sleep(50);
      events.push('upkeep end');
    };
    const latencies: number[] = [];
    const c = new Committer(wh, {
      maxFlushesPerCommit: 1, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false,
      onRetry: () => undefined, onFatal: () => undefined, onCommitted: (r) => latencies.push(...r.windowEmitLatencyMs),
    });
    const closedAt = Date.now();
    const first = flush(0, 10);
    first.windowsClosedAtMs = [closedAt];
    c.enqueue(first);
    c.enqueue(flush(0, 20));
    await c.drain();
    expect(events).toEqual(['commit 10', 'upkeep start', 'upkeep end', 'commit 20', 'upkeep start', 'upkeep end']);
    // The window's latency ended at its commit, before the upkeep began.
    expect(closedAt + latencies[0]!).toBeLessThanOrEqual(upkeepStartedAt);
  });
  it('tells the warehouse\'s upkeep whether the next commit carries closed windows', async () => {
    const { wh } = slowWarehouse(0);
    const told: boolean[] = [];
    wh.betweenCommits = async (next) => {
      told.push(next.windowsWaiting);
    };
    const c = new Committer(wh, {
      maxFlushesPerCommit: 1, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false,
      onRetry: () => undefined, onFatal: () => undefined, onCommitted: () => undefined,
    });
    const withWindow = flush(0, 20);
    withWindow.windowsClosedAtMs = [Date.now()];
    c.enqueue(flush(0, 10));
    c.enqueue(withWindow);
    c.enqueue(flush(0, 30));
    await c.drain();
    // After the first commit the windowed flush waits; after the second, a plain one; after the third, nothing.
    expect(told).toEqual([true, false, false]);
  });
});
