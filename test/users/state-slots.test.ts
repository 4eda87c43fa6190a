// The user cache's players in columns: slots handed out and reused, times kept exactly (none as NaN inside, null
// outside), and the columns growing without losing what they hold.
import { describe, expect, it } from 'vitest';
import { DIRTY, HAS_STATE, StateSlots } from '../../src/users/state-slots.ts';

describe('StateSlots', () => {
  it('keeps each slot\'s state through growth, gives "none" back as null, and reuses released slots cleared', () => {
    const s = new StateSlots();
    const n = 5000; // past the first growth (1,024 slots)
    for (let i = 0; i < n; i++) {
      const slot = s.alloc(`u${i}`, i % 64);
      expect(slot).toBe(i);
      if (i % 3 !== 0) s.write(slot, { installMs: i % 2 ? null : 1.7e12 + i, firstSeenMs: 1.6e12 + i, firstPaidMs: i % 5 ? null : -86_400_000 * i });
    }
    const into = { installMs: 0, firstSeenMs: 0, firstPaidMs: 0 } as { installMs: number | null; firstSeenMs: number; firstPaidMs: number | null };
    for (const i of [1, 2, 10, 1022, 1024, 4999]) {
      expect(s.flags[i]! & HAS_STATE).toBe(HAS_STATE);
      expect(s.read(i, into)).toEqual({ installMs: i % 2 ? null : 1.7e12 + i, firstSeenMs: 1.6e12 + i, firstPaidMs: i % 5 ? null : -86_400_000 * i });
      expect(s.ids[i]).toBe(`u${i}`);
      expect(s.partition[i]).toBe(i % 64);
    }
    expect(s.flags[3]! & HAS_STATE).toBe(0);
    s.flags[7]! |= DIRTY;
    s.queued[7] = 42;
    s.flushSeq[7] = 9;
    s.release(7);
    expect(s.ids[7]).toBe('');
    const again = s.alloc('new', 3);
    expect(again).toBe(7);
    expect([s.flags[7], s.queued[7], s.flushSeq[7], s.partition[7], s.ids[7]]).toEqual([0, -1, 0, 3, 'new']);
    expect(s.alloc('next', 0)).toBe(n);
  });
});
