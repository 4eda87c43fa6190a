/**
 * The volume-drop warning (the seed's "Unusual drop in level_complete events: WARNING"): each event type on D
 * against its mean on the same weekday of the previous weeks, computed here from the generated events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { volumeDropChecks } from '../../src/etl/volume-drop.ts';
import { addDays } from '../../src/etl/warehouse.ts';
import { generateDay, insertEvents, openTestWarehouse, type GenEvent, type TestWarehouse } from './support/world.ts';

const D = '2026-11-25'; // a Wednesday
const rule = { share: 0.6, weeks: 4 };
let t: TestWarehouse;
let all: GenEvent[];

beforeAll(async () => {
  t = await openTestWarehouse();
  // Three previous Wednesdays (the fourth week has no data: it is left out of the mean), and a Tuesday that must
  // not count. On D, two thirds of level_complete are missing.
  const history = [7, 14, 21].flatMap((k, i) => generateDay(addDays(D, -k), 40 + i, 30));
  const tuesday = generateDay(addDays(D, -1), 50, 60);
  let completes = 0;
  const today = generateDay(D, 43, 30).filter((e) => e.event_type !== 1002 || completes++ % 3 === 0);
  all = [...history, ...tuesday, ...today];
  await insertEvents(t, all);
});
afterAll(() => t.close());

describe('volume drop', () => {
  it('warns for a type below 60% of its same-weekday mean, passes the others, and does not fail the run', async () => {
    const checks = await volumeDropChecks(t.wh, D, rule);
    const pastDays = [7, 14, 21].map((k) => addDays(D, -k));
    const onDay = (e: GenEvent) => new Date(e.ts_ms).toISOString().slice(0, 10);
    const types = [...new Set(all.filter((e) => [D, ...pastDays].includes(onDay(e))).map((e) => e.event_type))].sort((a, b) => a - b);
    const expected = types.map((type) => {
      const today = all.filter((e) => onDay(e) === D && e.event_type === type).length;
      const mean = all.filter((e) => pastDays.includes(onDay(e)) && e.event_type === type).length / pastDays.length;
      return { type, today, threshold: 0.6 * mean, warning: today < 0.6 * mean };
    });
    expect(expected.filter((x) => x.warning).map((x) => x.type)).toEqual([1002]);
    expect(checks.map((c) => [c.status, c.value, c.threshold])).toEqual(expected.map((x) => [x.warning ? 'warning' : 'passed', x.today, x.threshold]));
    // The test world's events are all named 'n': the names would collide, so they fall back to the type number.
    expect(checks.find((c) => c.status === 'warning')).toMatchObject({ name: 'volume_drop_type_1002', passed: null });
    expect(new Set(checks.map((c) => c.name)).size).toBe(checks.length);
  });

  it('is skipped without history on the same weekday, and when turned off', async () => {
    expect(await volumeDropChecks(t.wh, addDays(D, -21), rule)).toEqual([{ name: 'volume_drop', passed: null, status: 'skipped: no history', value: null, threshold: null }]);
    expect((await volumeDropChecks(t.wh, D, { share: 0, weeks: 4 }))[0]).toMatchObject({ status: 'skipped: turned off' });
  });
});
