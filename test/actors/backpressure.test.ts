/**
 * Backpressure, in process: the byte bound on what is not yet durable, and a file source (one that can read its
 * records again) waiting while a whole mailbox more is queued for a worker, while other sources only meet the bound.
 */
import { describe, expect, it } from 'vitest';
import { Backpressure } from '../../src/actors/backpressure.ts';
import type { SealedBatch } from '../../src/actors/router.ts';
import { WorkerSlot } from '../../src/actors/worker-slot.ts';

function batch(bytes: number): SealedBatch {
  return { worker: 0, data: new Uint8Array(0), index: new Int32Array(0), offsets: new Float64Array(0), filePos: null, maxOffsets: new Map(), bytes };
}

function flow(rereads: boolean): { flow: Backpressure; slot: WorkerSlot } {
  const slot = new WorkerSlot(0, () => {
    throw new Error('no thread in this test');
  });
  return { slot, flow: new Backpressure({ slots: [slot], maxHeldBytes: 1000, mailboxBatches: 4, log: null, partitionsOf: () => [0], rereads }) };
}

describe('backpressure', () => {
  it('admits batches while what is held stays under the bound, and an oversized one only when nothing is held', () => {
    const { flow: f, slot } = flow(false);
    expect(f.admits(5000, slot)).toBe(true);
    slot.enqueue({ seq: 1, receivedAtMs: 0, batch: batch(600) });
    expect(f.admits(400, slot)).toBe(true);
    expect(f.admits(401, slot)).toBe(false);
  });

  it('a file source waits while a whole mailbox more is queued for the worker; other sources go on to the bound', () => {
    for (const rereads of [true, false]) {
      const { flow: f, slot } = flow(rereads);
      for (let i = 0; i < 4; i++) slot.enqueue({ seq: i, receivedAtMs: 0, batch: batch(10) });
      expect(f.admits(10, slot)).toBe(!rereads);
      slot.dequeue();
      expect(f.admits(10, slot)).toBe(true);
    }
  });
});
