import { describe, expect, it } from 'vitest';
import { KEY, keyOf } from '../../src/dedupe/id-key.ts';

function key(id: string): string {
  keyOf(id);
  return Array.from(KEY.subarray(1), (w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
}

describe('event id keys', () => {
  it('a lowercase UUID is its own 128 bits', () => {
    expect(key('0123abcd-4567-89ef-0123-456789abcdef')).toBe('0123abcd456789ef0123456789abcdef');
  });

  it('keeps ids that differ only in case, or in the hyphens, apart', () => {
    const ids = [
      '0123abcd-4567-89ef-0123-456789abcdef', '0123ABCD-4567-89EF-0123-456789ABCDEF', '0123Abcd-4567-89ef-0123-456789abcdef',
      '0123abcd456789ef0123456789abcdef', '0123abcd-4567-89ef-0123-456789abcde', 'evt-1', 'evt-2', 'évt-1', '', 'x'.repeat(256),
    ];
    const keys = new Set(ids.map(key));
    expect(keys.size).toBe(ids.length);
  });

  it('gives an id the same key every time, and 200k distinct ids 200k distinct keys and well-spread h32', () => {
    expect(key('evt-12345')).toBe(key('evt-12345'));
    const keys = new Set<string>();
    const buckets = new Uint32Array(256);
    for (let i = 0; i < 200_000; i++) {
      const id = i % 2 === 0 ? `evt-${i}` : `0190c6a2-7b3c-7${(i % 4096).toString(16).padStart(3, '0')}-8000-${i.toString(16).padStart(12, '0')}`;
      keys.add(key(id));
      buckets[(KEY[0]! >>> 24)]!++;
    }
    expect(keys.size).toBe(200_000);
    // UUIDv7-like ids share long prefixes; h32 must still fill its range evenly (each bucket ~781).
    expect(Math.min(...buckets)).toBeGreaterThan(600);
    expect(Math.max(...buckets)).toBeLessThan(980);
  });
});
