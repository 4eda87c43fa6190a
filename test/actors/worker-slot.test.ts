/**
 * A worker slot, in process, with a stand-in thread: what it keeps for replay and lets go once durable, its
 * mailbox and queue accounting, and that a restart makes the old thread's messages and exit count no more.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { FromWorker, ToWorker } from '../../src/actors/protocol.ts';
import type { SealedBatch } from '../../src/actors/router.ts';
import { WorkerSlot, type WorkerThread } from '../../src/actors/worker-slot.ts';

class FakeThread extends EventEmitter implements WorkerThread {
  readonly sent: ToWorker[] = [];
  terminated = false;
  postMessage(msg: ToWorker): void {
    this.sent.push(msg);
  }
  async terminate(): Promise<number> {
    this.terminated = true;
    return 0;
  }
}

function batch(maxOffsets: [number, number][], bytes = 100): SealedBatch {
  return { worker: 0, data: new Uint8Array(0), index: new Int32Array(0), offsets: new Float64Array(0), filePos: null, refetch: false, maxOffsets: new Map(maxOffsets), bytes };
}

function slotWithThreads(): { slot: WorkerSlot; threads: FakeThread[] } {
  const threads: FakeThread[] = [];
  const slot = new WorkerSlot(0, () => {
    const t = new FakeThread();
    threads.push(t);
    return t;
  });
  return { slot, threads };
}

describe('worker slot', () => {
  it('keeps sent batches until every record of theirs is durable, and counts their bytes', () => {
    const { slot, threads } = slotWithThreads();
    slot.spawn(() => undefined, () => undefined);
    const a = { seq: 1, receivedAtMs: 0, batch: batch([[0, 9], [1, 4]], 100) };
    const b = { seq: 2, receivedAtMs: 0, batch: batch([[0, 19]], 50) };
    for (const r of [a, b]) {
      slot.retain(r);
      slot.sendBatch(r);
    }
    expect(slot.inflight).toBe(2);
    expect(threads[0]!.sent.map((m) => m.t)).toEqual(['batch', 'batch']);
    expect(slot.retainedBytes).toBe(150);
    // Partition 0 durable up to 10, partition 1 only to 4: batch a still has a record not durable.
    slot.release(Float64Array.from([10, 4]));
    expect(slot.retained.map((r) => r.seq)).toEqual([1, 2]);
    slot.release(Float64Array.from([10, 5]));
    expect(slot.retained.map((r) => r.seq)).toEqual([2]);
    expect(slot.retainedBytes).toBe(50);
  });

  it('once the worker has read a file batch, gives its buffer back and keeps only where it is in the file, still counted until durable; reads it back for a replay', async () => {
    const { slot, threads } = slotWithThreads();
    slot.spawn(() => undefined, () => undefined);
    const bytes = Buffer.from('{"a":1}{"bb":2}');
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
    shared.set(bytes);
    const file: SealedBatch = { ...batch([[0, 1]], 64), data: shared, index: Int32Array.of(0, 0, 7, 0, 7, 15), filePos: Float64Array.of(500, 100) };
    const held = { seq: 2, receivedAtMs: 0, batch: batch([[0, 1]], 32) };
    for (const r of [{ seq: 1, receivedAtMs: 0, batch: file }, held]) {
      slot.retain(r);
      slot.sendBatch(r);
    }
    const sent = threads[0]!.sent[0] as Extract<ToWorker, { t: 'batch' }>;
    expect(Buffer.from(sent.data).toString()).toBe('{"a":1}{"bb":2}');
    // Sent but not yet read: the worker may still read the bytes, so they stay.
    expect(file.data).toBe(shared);
    const given: ArrayBufferLike[] = [];
    const buffers = { give: (b: ArrayBufferLike) => given.push(b) };
    slot.onProcessed(1, buffers);
    slot.onProcessed(2, buffers);
    expect(slot.inflight).toBe(0);
    expect(given).toEqual([shared.buffer]);
    expect(file.data).toBeNull();
    expect(held.batch.data).not.toBeNull();
    expect(slot.retainedBytes).toBe(96);
    const asked: number[][] = [];
    await slot.reloadRetained({
      reread: async (filePos, index, into) => {
        asked.push(Array.from(filePos));
        into.set(bytes.subarray(0, 7), index[1]);
        into.set(bytes.subarray(7), index[4]);
      },
    });
    expect(asked).toEqual([[500, 100]]);
    expect(Buffer.from(file.data!).toString()).toBe('{"a":1}{"bb":2}');
    expect(file.data!.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(file.data!.buffer).not.toBe(shared.buffer);
  });

  it('once the worker has read a Kafka batch, gives its buffer back and keeps partitions and offsets; fetches it again for a replay', async () => {
    const { slot } = slotWithThreads();
    slot.spawn(() => undefined, () => undefined);
    const bytes = Buffer.from('{"a":1}{"bb":2}');
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
    shared.set(bytes);
    const kafka: SealedBatch = { ...batch([[3, 41]], 64), data: shared, index: Int32Array.of(3, 0, 7, 3, 7, 15), offsets: Float64Array.of(40, 41), refetch: true };
    const r = { seq: 1, receivedAtMs: 0, batch: kafka };
    slot.retain(r);
    slot.sendBatch(r);
    const given: ArrayBufferLike[] = [];
    slot.onProcessed(1, { give: (b) => given.push(b) });
    expect(given).toEqual([shared.buffer]);
    expect(kafka.data).toBeNull();
    expect(slot.retainedBytes).toBe(64);
    const asked: [number[], number[]][] = [];
    await slot.reloadRetained({
      refetch: async (index, offsets, into) => {
        asked.push([Array.from(index), Array.from(offsets)]);
        into.set(bytes);
      },
    });
    expect(asked).toEqual([[[3, 0, 7, 3, 7, 15], [40, 41]]]);
    expect(Buffer.from(kafka.data!).toString()).toBe('{"a":1}{"bb":2}');
    expect(slot.reloaded).toBe(1);
    // A source that can neither read nor fetch again never had a batch's bytes let go: saying so beats replaying nothing.
    kafka.data = null;
    await expect(slot.reloadRetained({})).rejects.toMatchObject({ code: 'internal' });
  });

  it('queues batches in order and counts what waits', () => {
    const { slot } = slotWithThreads();
    slot.enqueue({ seq: 1, receivedAtMs: 0, batch: batch([], 10) });
    slot.enqueue({ seq: 2, receivedAtMs: 0, batch: batch([], 20) });
    expect([slot.pendingCount, slot.pendingBytes]).toEqual([2, 30]);
    expect(slot.dequeue()?.seq).toBe(1);
    expect([slot.pendingCount, slot.pendingBytes]).toEqual([1, 20]);
  });

  it('after a restart, hears only the new thread', () => {
    const { slot, threads } = slotWithThreads();
    const heard: string[] = [];
    const exits: number[] = [];
    slot.spawn((m) => heard.push(`1:${m.t}`), (code) => exits.push(code));
    slot.spawn((m) => heard.push(`2:${m.t}`), (code) => exits.push(code));
    expect(slot.incarnation).toBe(2);
    const ready = (i: number): FromWorker => ({ t: 'ready', workerIndex: i });
    threads[0]!.emit('message', ready(0));
    threads[0]!.emit('exit', 1);
    threads[1]!.emit('message', ready(0));
    expect(heard).toEqual(['2:ready']);
    expect(exits).toEqual([]);
    threads[1]!.emit('error', new Error('boom'));
    let why: Error | null = null;
    slot.spawn(() => undefined, (_code, err) => (why = err));
    threads[2]!.emit('error', new Error('boom'));
    threads[2]!.emit('exit', 1);
    expect((why as Error | null)?.message).toBe('boom');
  });

  it('stops its thread when told to, and posts nothing after', async () => {
    const { slot, threads } = slotWithThreads();
    slot.spawn(() => undefined, () => undefined);
    await slot.terminate();
    expect(threads[0]!.terminated).toBe(true);
    expect(slot.stopping).toBe(true);
    slot.post({ t: 'drain' });
    expect(threads[0]!.sent).toEqual([]);
  });
});
