/** One interrupt delivered twice (a terminal's Ctrl-C through npm or npx) is one; a later one is a second Ctrl-C. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onInterrupts, SAME_SIGNAL_MS } from '../../src/cli/signals.ts';

afterEach(() => vi.restoreAllMocks());

describe('onInterrupts', () => {
  it('takes repeats within SAME_SIGNAL_MS for the first signal, and one after them for a second', () => {
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const calls: string[] = [];
    const handle = onInterrupts((s) => calls.push(`first ${s}`), (s) => calls.push(`second ${s}`));
    handle('SIGINT');
    now += 5;
    handle('SIGINT'); // the same Ctrl-C, forwarded by npx
    now += SAME_SIGNAL_MS - 10;
    handle('SIGTERM');
    expect(calls).toEqual(['first SIGINT']);
    now += 10;
    handle('SIGINT');
    expect(calls).toEqual(['first SIGINT', 'second SIGINT']);
  });
});
