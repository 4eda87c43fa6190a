import { describe, expect, it } from 'vitest';
import { byteSize, sizeSetting } from '../../src/config/parsers.ts';

describe('sizeSetting', () => {
  it('writes a size as a setting, never short of it, that byteSize reads back', () => {
    expect(sizeSetting(96 * 2 ** 20)).toBe('96MiB');
    expect(sizeSetting(96 * 2 ** 20 + 1)).toBe('97MiB');
    expect(sizeSetting(2 ** 30)).toBe('1GiB');
    expect(sizeSetting(2 ** 30 + 2 ** 20)).toBe('1025MiB');
    const read = byteSize(0, 2 ** 40);
    for (const n of [1, 1000, 2 ** 20, 3 * 2 ** 30, 5 * 2 ** 30 - 1]) expect(read(sizeSetting(n))).toBeGreaterThanOrEqual(n);
  });
});
