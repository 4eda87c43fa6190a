/**
 * Backpressure, in process: the byte bound on what is not yet durable, and a file source (one that can read its
 * records again) keeping only a few unread batches ahead of a worker, while other sources only meet the bound.
 */
import { describe, expect, it } from 'vitest';
import { Backpressure, REREAD_READ_AHEAD_BATCHES } from '../../src/actors/backpressure.ts';
import type { SealedBatch } from '../../src/actors/router.ts';
import { WorkerSlot } from '../../src/actors/worker-slot.ts';

function batch(bytes: number): SealedBatch {
  return { worker: 0, data: new Uint8Array(0), index: new Int32Array(0), offsets: new Float64Array(0), filePos: null, refetch: false, maxOffsets: new Map(), bytes };
}

function flow(rereads: boolean): { flow: Backpressure; slot: WorkerSlot } {
  const slot = new WorkerSlot(0, () => {
    throw new Error('no thread in this test');
  });
  return { slot, flow: new Backpressure({ slots: [slot], maxHeldBytes: 1000, mailboxBatches: 32, log: null, partitionsOf: () => [0], rereads }) };
}

describe('backpressure', () => {
  it('admits batches while what is held stays under the bound, and an oversized one only when nothing is held', () => {
    const { flow: f, slot } = flow(false);
    expect(f.admits(5000, slot)).toBe(true);
    slot.enqueue({ seq: 1, receivedAtMs: 0, batch: batch(600) });
    expect(f.admits(400, slot)).toBe(true);
    expect(f.admits(401, slot)).toBe(false);
  });

  it('a file source waits while the worker has a few unread batches, in its mailbox and queued; other sources go on to the bound', () => {
    expect(REREAD_READ_AHEAD_BATCHES).toBeLessThan(32);
    for (const rereads of [true, false]) {
      const { flow: f, slot } = flow(rereads);
      // Half sent to the mailbox and not yet read by the worker, the rest queued: together the read-ahead.
      slot.inflight = Math.floor(REREAD_READ_AHEAD_BATCHES / 2);
      for (let i = slot.inflight; i < REREAD_READ_AHEAD_BATCHES; i++) slot.enqueue({ seq: i, receivedAtMs: 0, batch: batch(10) });
      expect(f.admits(10, slot)).toBe(!rereads);
      slot.dequeue();
      expect(f.admits(10, slot)).toBe(true);
      // The worker read one of its mailbox (its buffer is let go): room for one more, whatever waits in the queue.
      slot.enqueue({ seq: 99, receivedAtMs: 0, batch: batch(10) });
      expect(f.admits(10, slot)).toBe(!rereads);
      slot.inflight--;
      expect(f.admits(10, slot)).toBe(true);
    }
  });
});
