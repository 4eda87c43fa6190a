// The bounds of a read-only query and the JSON form of its numbers.
import { describe, expect, it } from 'vitest';
import { exactNumber, lowerLimits } from '../../src/sql/result.ts';

describe('query results', () => {
  it('carry a number as a JSON number only when a double holds it exactly', () => {
    expect(['1', '-42', '15.970000', '0.100000', '-0.000', '007', '74.85'].map(exactNumber)).toEqual([1, -42, 15.97, 0.1, 0, 7, 74.85]);
    // Past 2^53, or more digits than a double keeps: the exact text.
    expect(['9007199254740993', '12345678901234.123456', '0.1000000000000000055511151231257827', '1e400', 'NaN'].map(exactNumber))
      .toEqual(['9007199254740993', '12345678901234.123456', '0.1000000000000000055511151231257827', '1e400', 'NaN']);
    expect(exactNumber('9007199254740992')).toBe(9007199254740992);
  });

  it('take the lower of the daemon\'s limits and the ones asked for, never more', () => {
    const own = { timeoutMs: 30_000, maxRows: 10_000 };
    expect(lowerLimits(own, { timeoutMs: 1000, maxRows: 50 })).toEqual({ timeoutMs: 1000, maxRows: 50 });
    expect(lowerLimits(own, { timeoutMs: 600_000, maxRows: 1e9 })).toEqual(own);
    expect(lowerLimits(own, { timeoutMs: -1, maxRows: Number.NaN })).toEqual(own);
    expect(lowerLimits(own, { maxRows: 2.7 })).toEqual({ timeoutMs: 30_000, maxRows: 2 });
    expect(lowerLimits(own, {})).toEqual(own);
  });
});
