/**
 * What the committer reports for the freshness metrics: receive → commit per record (from the flushes' batch
 * times, or from the source's own receive times when it has them, as Kafka does), and window close → commit,
 * both ending when the warehouse commit went through, not after the copies to Kafka that follow it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Committer, type CommitResult, type CommitterOptions, type QueuedFlush } from '../../src/actors/committer.ts';
import type { Checkpoint } from '../../src/contract/checkpoint.ts';
import type { Warehouse } from '../../src/sinks/sink.ts';

function cp(partition: number, nextOffset: number): Checkpoint {
  return { partition, nextOffset, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 };
}

function flush(checkpoints: Checkpoint[], received: QueuedFlush['received'], windowsClosedAtMs: number[] = []): QueuedFlush {
  return {
    workerIndex: 0, incarnation: 1, flushSeq: 0, idRun: null, files: { events: null, dlq: null, agg: null, aggUpdates: null },
    rows: { events: 0, dlq: 0, agg: 0, aggUpdates: 0 }, checkpoints, deadLetterCodes: {}, windowsClosedAtMs, received,
  };
}

const warehouse = {
  name: 'test', shared: null, open: async () => undefined, close: async () => undefined,
  loadCheckpoints: async () => new Map(), loadRestore: async () => [],
  identity: async () => 'test', committedPositions: async () => [], readCommittedIds: async () => undefined, readUserStates: async () => [], countUsers: async () => 0, readUserIds: async () => undefined,
  commit: async () => undefined,
} satisfies Warehouse;

/** Commits the flushes (the first one alone, as the committer starts at once; the rest together). */
async function commitAll(flushes: QueuedFlush[], o: Partial<CommitterOptions> = {}): Promise<CommitResult[]> {
  const results: CommitResult[] = [];
  const c = new Committer(warehouse, {
    maxFlushesPerCommit: 64, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false,
    onCommitted: (r) => results.push(r), onRetry: () => undefined, onFatal: (e) => { throw e; }, ...o,
  });
  for (const f of flushes) c.enqueue(f);
  await c.drain();
  return results;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('Committer: freshness', () => {
  it('reports each batch\'s records with the time from their receipt to the commit', async () => {
    const now = Date.now();
    const before = Date.now();
    const results = await commitAll([
      flush([cp(0, 5)], { atMs: [now - 1500, now - 700], records: [3, 2] }),
      flush([cp(1, 4)], { atMs: [now - 200], records: [4] }),
      flush([cp(2, 1)], undefined),
    ]);
    const after = Date.now();
    expect(results).toHaveLength(2);
    expect(results.flatMap((r) => r.eventFreshness.records)).toEqual([3, 2, 4]);
    const expected = [1500, 700, 200];
    results.flatMap((r) => r.eventFreshness.ms).forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(expected[i]! + (before - now));
      expect(ms).toBeLessThanOrEqual(expected[i]! + (after - now));
    });
  });

  it('takes the source\'s own receive times when it has them, for exactly the offsets the commit reached', async () => {
    const asked: { partition: number; nextOffset: number }[][] = [];
    const now = Date.now();
    const results = await commitAll([
      flush([cp(0, 5)], { atMs: [now], records: [5] }),
      flush([cp(0, 7)], { atMs: [now], records: [2] }),
      flush([cp(0, 9), cp(3, 2)], { atMs: [now], records: [4] }),
    ], {
      partitionedLog: {
        receivedTimes: (reached, add) => {
          asked.push(reached.map((c) => ({ partition: c.partition, nextOffset: c.nextOffset })));
          add(now - 3000, 9);
          add(now - 1000, 2);
        },
      },
    });
    // The latest checkpoint of each partition in the commit.
    expect(asked).toEqual([[{ partition: 0, nextOffset: 5 }], [{ partition: 0, nextOffset: 9 }, { partition: 3, nextOffset: 2 }]]);
    const [, r] = results;
    expect(r!.eventFreshness.records).toEqual([9, 2]);
    expect(sum(r!.eventFreshness.ms)).toBeGreaterThanOrEqual(4000);
    expect(r!.eventFreshness.ms[0]).toBeLessThan(3000 + 1000);
  });

  it('ends both latencies at the warehouse commit, before the copies to Kafka are published', async () => {
    const now = Date.now();
    const [r] = await commitAll([flush([cp(0, 3)], { atMs: [now], records: [3] }, [now, now])], {
      afterCommit: () => sleep(600),
    });
    expect(r!.eventFreshness.ms[0]).toBeLessThan(400);
    expect(r!.windowEmitLatencyMs).toHaveLength(2);
    for (const ms of r!.windowEmitLatencyMs) expect(ms).toBeLessThan(400);
    expect(r!.durationMs).toBeGreaterThanOrEqual(590);
  });
});
