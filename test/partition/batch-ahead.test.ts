// The rest of a worker's batch, handed once to the first actor that must read users.
import { describe, expect, it } from 'vitest';
import { BatchAhead } from '../../src/partition/batch-ahead.ts';
import type { RawRecord } from '../../src/partition/record.ts';

const rec = (partition: number, offset: number): RawRecord => ({ partition, offset, bytes: new Uint8Array(0) });

describe('BatchAhead', () => {
  it('gives the shares after the one being processed, once per batch, and nothing between batches', () => {
    const a = new BatchAhead();
    expect(a.take()).toEqual([]);
    const shares = [[rec(0, 0)], [rec(1, 0), rec(1, 1)], [rec(2, 0)]];
    a.begin(shares);
    a.next(); // partition 0 done; partition 1 is being processed
    expect(a.take()).toEqual([[rec(2, 0)]]);
    expect(a.take()).toEqual([]);
    a.end();
    a.begin(shares);
    expect(a.take()).toEqual([shares[1], shares[2]]);
    a.end();
    expect(a.take()).toEqual([]);
  });
});
