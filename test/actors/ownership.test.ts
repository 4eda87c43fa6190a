/**
 * Hand-offs between daemons, in process. A partition this daemon claimed but never committed (no rows of it
 * had become durable yet: a slow warehouse, a partition without records) must be released like any other when
 * it is revoked or the daemon leaves: otherwise its claim stays the partition's latest commit row, and the next
 * owner waits for this live daemon for as long as it lives (the scale-out test's "waiting for daemon B to start
 * partitions" on a loaded machine).
 */
import { describe, expect, it } from 'vitest';
import { Committer } from '../../src/actors/committer.ts';
import { PartitionOwnership, type OwnershipHost } from '../../src/actors/ownership.ts';
import type { ToWorker } from '../../src/actors/protocol.ts';
import type { Checkpoint } from '../../src/contract/checkpoint.ts';
import { Router } from '../../src/actors/router.ts';
import type { WorkerSlot } from '../../src/actors/worker-slot.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { CheckpointDeltas } from '../../src/observability/checkpoint-deltas.ts';
import type { Warehouse } from '../../src/sinks/sink.ts';
import type { Source } from '../../src/sources/source.ts';

const PARTITIONS = 4;

function cp(partition: number, nextOffset: number): Checkpoint {
  return { partition, nextOffset, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events: 0, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0 };
}

/** A shared warehouse that records claims and releases, holding checkpoints for `stored` partitions only. */
function sharedWarehouse(stored: Map<number, Checkpoint>) {
  const released: Checkpoint[][] = [];
  const claimed: number[][] = [];
  const resumed: Checkpoint[][] = [];
  /** The calls an adoption makes, in order. */
  const steps: string[] = [];
  const wh = {
    name: 'shared', open: async () => undefined, close: async () => undefined, commit: async () => undefined,
    loadCheckpoints: async (_s: string, finish?: number[]) => {
      steps.push(`load, finishing ${finish === undefined ? 'all' : `[${finish.join(',')}]`}`);
      return new Map(stored);
    },
    loadRestore: async (_s: string, cps: Checkpoint[]) => cps.map((c) => ({ checkpoint: c, windows: [], written: [] })),
    identity: async () => 'shared', committedPositions: async () => [], readCommittedIds: async () => undefined, readUserStates: async () => [], countUsers: async () => 0, readUserIds: async () => undefined,
    shared: {
      release: async (_s: string, cps: Checkpoint[]) => void released.push(cps),
      claim: async (_s: string, partitions: number[]) => {
        steps.push(`claim [${partitions.join(',')}]`);
        claimed.push(partitions);
      },
      resumeFrom: async (_s: string, cps: Checkpoint[]) => {
        steps.push(`resume from ${cps.map((c) => `${c.partition}@${c.nextOffset}`).join(',')}`);
        resumed.push(cps);
      },
      awaitRelease: async () => undefined,
      fencedPartitions: async () => [],
    },
  } satisfies Warehouse;
  return { wh, released, claimed, resumed, steps };
}

/** Ownership over two workers that acknowledge revokes at once; `commit` marks a partition durable up to an offset. */
function host(wh: Warehouse): { own: () => PartitionOwnership; commit: (c: Checkpoint) => void } {
  const cfg = loadConfig({ GAMESTREAM_SOURCE: 'kafka', GAMESTREAM_KAFKA_BROKERS: '127.0.0.1:9' });
  const source = { name: 'kafka:t', format: 'ndjson', avroWriterSchema: null, open: async () => undefined, next: async () => null, progress: () => ({ bytesRead: 0, totalBytes: null }), close: async () => undefined, interrupt: () => undefined, partitionedLog: null, group: { startPartitions: () => undefined, onAssignment: () => undefined, leaseExpiresAt: () => Infinity, settleLapse: () => undefined, memberId: () => null, stillMember: async () => true, liveMembers: async () => new Set<string>() } } satisfies Source;
  const committer = new Committer(wh, { maxFlushesPerCommit: 1, maxRetries: 0, engineWatermark: () => null, endOfInput: () => false, onCommitted: () => undefined, onRetry: () => undefined, onFatal: () => undefined });
  let ownership!: PartitionOwnership;
  // A worker that acknowledges every revoke at once.
  const slots = [0, 1].map((index) => ({
    index, ready: true, pendingCount: 0,
    post: (msg: ToWorker) => { if (msg.t === 'revoke') queueMicrotask(() => ownership.revoked(index)); },
    release: () => undefined,
  })) as unknown as WorkerSlot[];
  const initial = new Map<number, Checkpoint>();
  const h: OwnershipHost = {
    cfg, source, warehouse: wh, log: { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined } as unknown as OwnershipHost['log'],
    partitions: PARTITIONS, router: new Router(PARTITIONS, 2, 100, new Map()), slots, committer,
    durableNext: new Float64Array(PARTITIONS), partitionWm: new Float64Array(PARTITIONS), initial, deltas: new CheckpointDeltas(), claimDelayMs: 0,
    waitFor: async (cond) => { while (!cond()) await new Promise((r) => setTimeout(r, 1)); },
    stopRequested: () => false, fail: (err) => { throw err; },
    catchUp: async () => undefined,
    checkpointsOf: (parts) => [...parts].map((p) => committer.durable.get(p) ?? initial.get(p)).filter((c): c is Checkpoint => c !== undefined),
  };
  ownership = new PartitionOwnership(h);
  return { own: () => ownership, commit: (c) => void committer.durable.set(c.partition, c) };
}

async function settle(o: PartitionOwnership): Promise<void> {
  // assign() chains hand-offs; an empty assignment after them resolves once they are all applied.
  await (o as unknown as { handoff: Promise<void> }).handoff;
}

describe('partition ownership', () => {
  it('claims partitions before it reads where they stand, finishes only those, then records where it resumes', async () => {
    // Read first and claimed after, a stalled previous owner's commit record landing in between would be
    // neither read here nor fenced there: its rows would be written twice.
    const { wh, steps } = sharedWarehouse(new Map([[2, cp(2, 40)]]));
    const { own } = host(wh);
    const o = own();
    o.assign([1, 2]);
    await settle(o);
    expect(steps).toEqual(['claim [1,2]', 'load, finishing [1,2]', 'resume from 1@0,2@40']);
  });

  it('releases a revoked partition that never committed, from offset 0', async () => {
    const { wh, released } = sharedWarehouse(new Map());
    const { own, commit } = host(wh);
    const o = own();
    o.assign([0, 1, 2, 3]);
    await settle(o);
    // Partition 1 committed up to offset 7; partition 3 was claimed and nothing of it became durable.
    commit(cp(1, 7));
    o.assign([0, 2]);
    await settle(o);
    const last = released.flat().sort((a, b) => a.partition - b.partition);
    expect(last.map((c) => [c.partition, c.nextOffset])).toEqual([[1, 7], [3, 0]]);
  });

  it('releases every owned partition when the daemon leaves, committed or not', async () => {
    const { wh, released } = sharedWarehouse(new Map());
    const { own, commit } = host(wh);
    const o = own();
    o.assign([0, 1]);
    await settle(o);
    commit(cp(0, 12));
    await o.releaseAll();
    const last = released.flat().sort((a, b) => a.partition - b.partition);
    expect(last.map((c) => [c.partition, c.nextOffset])).toEqual([[0, 12], [1, 0]]);
  });
});
