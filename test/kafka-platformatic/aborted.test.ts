/** Which batches of a fetch answer a read_committed consumer leaves out, whether or not the abort marker is in it. */
import { IS_CONTROL, IS_TRANSACTIONAL } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { skippedBatches } from '../../src/kafka-platformatic/aborted.ts';

type Batch = Parameters<ReturnType<typeof skippedBatches>>[0];

const marker = (type: 0 | 1): Buffer => Buffer.from([0, 0, 0, type]);
/** A batch of `count` records at `offset`: plain (producer -1), idempotent, transactional, or a marker. */
function batch(offset: number, count: number, producer = -1, kind: 'plain' | 'txn' | 'abort' | 'commit' = 'plain'): Batch {
  const control = kind === 'abort' || kind === 'commit';
  return {
    firstOffset: BigInt(offset), lastOffsetDelta: count - 1, producerId: BigInt(producer),
    attributes: (kind === 'plain' ? 0 : IS_TRANSACTIONAL) | (control ? IS_CONTROL : 0),
    records: Array.from({ length: count }, () => ({ key: control ? marker(kind === 'abort' ? 0 : 1) : null })),
  };
}
const kept = (batches: Batch[], aborted: { producerId: bigint; firstOffset: bigint }[] | null): number[] => {
  const skip = skippedBatches(aborted);
  return batches.filter((b) => !skip(b)).map((b) => Number(b.firstOffset));
};

describe('skippedBatches', () => {
  it('leaves out an aborted transaction whose marker is not in the answer (the answer cut by its size limit)', () => {
    const answer = [batch(0, 3), batch(3, 2, 7, 'txn'), batch(5, 2, 7, 'txn')];
    expect(kept(answer, [{ producerId: 7n, firstOffset: 3n }])).toEqual([0]);
  });

  it('leaves out the rest of it in the next answer, listed there with a first offset before the fetch offset', () => {
    const answer = [batch(7, 2, 7, 'txn'), batch(9, 1, 7, 'abort'), batch(10, 2)];
    expect(kept(answer, [{ producerId: 7n, firstOffset: 3n }])).toEqual([10]);
  });

  it('leaves out two aborted transactions of one producer in one answer, and keeps its committed one between them', () => {
    const answer = [
      batch(0, 1), batch(1, 2, 7, 'txn'), batch(3, 1, 7, 'abort'), batch(4, 2, 7, 'txn'), batch(6, 1, 7, 'commit'),
      batch(7, 2, 7, 'txn'), batch(9, 1, 7, 'abort'), batch(10, 1),
    ];
    expect(kept(answer, [{ producerId: 7n, firstOffset: 7n }, { producerId: 7n, firstOffset: 1n }])).toEqual([0, 4, 10]);
  });

  it('keeps another producer\'s records interleaved with an aborted transaction, and idempotent batches of the same id', () => {
    const answer = [batch(0, 2, 7, 'txn'), batch(2, 2, 8, 'txn'), batch(4, 1, 7, 'plain'), batch(5, 1, 7, 'abort'), batch(6, 1, 8, 'commit')];
    expect(kept(answer, [{ producerId: 7n, firstOffset: 0n }])).toEqual([2, 4]);
  });

  it('leaves out control batches when no transaction was aborted', () => {
    expect(kept([batch(0, 2, 7, 'txn'), batch(2, 1, 7, 'commit'), batch(3, 1)], null)).toEqual([0, 3]);
    expect(kept([batch(0, 2, 7, 'txn'), batch(2, 1, 7, 'commit'), batch(3, 1)], [])).toEqual([0, 3]);
  });
});
