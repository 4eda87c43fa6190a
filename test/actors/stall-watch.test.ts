/** The stall warning: once the engine holds work and nothing has moved for the set time, with the workers' state. */
import { describe, expect, it } from 'vitest';
import { StallWatch, type StallState } from '../../src/actors/stall-watch.ts';
import { WorkerSlot } from '../../src/actors/worker-slot.ts';
import type { Logger } from '../../src/log.ts';

function watch(): { w: StallWatch; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const log = { warn: (fields: Record<string, unknown>) => void warnings.push(fields) } as unknown as Logger;
  return { w: new StallWatch(log, 30_000, 0), warnings };
}

const held = (key: string): StallState => ({ key, outstanding: true, detail: { committer: { queued: 1, running: true } } });

describe('StallWatch', () => {
  it('warns after 30 s without movement while work is held, repeats every 30 s, and names each worker', () => {
    const { w, warnings } = watch();
    const slot = new WorkerSlot(0);
    slot.inflight = 2;
    slot.lastHeardAt = 1_000;
    for (let t = 0; t < 30_000; t += 1000) expect(w.check(held('10/3'), [slot], t)).toBe(false);
    expect(w.check(held('10/3'), [slot], 30_000)).toBe(true);
    expect(warnings[0]).toMatchObject({ stalledForS: 30, committer: { queued: 1, running: true }, workers: [{ worker: 0, inflight: 2, silentForS: 29 }] });
    expect(w.check(held('10/3'), [slot], 45_000)).toBe(false);
    expect(w.check(held('10/3'), [slot], 60_000)).toBe(true);
    expect(warnings).toHaveLength(2);
  });

  it('stays quiet while records move or commits land, and when it holds nothing', () => {
    const { w, warnings } = watch();
    for (let t = 0; t <= 120_000; t += 1000) w.check(held(`${Math.floor(t / 20_000)}/0`), [], t);
    for (let t = 120_000; t <= 240_000; t += 1000) w.check({ key: 'same', outstanding: false, detail: {} }, [], t);
    expect(warnings).toEqual([]);
  });
});
