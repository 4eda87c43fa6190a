/** Ground truth: level_metrics and user_daily_metrics against the definitions computed in plain TypeScript. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeLevelMetrics, computeUserMetrics } from '../../src/etl/metrics.ts';
import { ensureEtlTables } from '../../src/etl/warehouse.ts';
import { compareRows, expectedLevelMetrics, expectedUserMetrics } from './support/expected.ts';
import { generateDay, insertEvents, openTestWarehouse, type GenEvent, type TestWarehouse } from './support/world.ts';

const DAYS = ['2026-11-21', '2026-11-22'];
let t: TestWarehouse;
let all: GenEvent[];

beforeAll(async () => {
  t = await openTestWarehouse();
  await ensureEtlTables(t.wh);
  all = [...generateDay('2026-11-20', 1), ...generateDay(DAYS[0], 2), ...generateDay(DAYS[1], 3, 40)];
  await insertEvents(t, all);
});
afterAll(() => t.close());

const read = (table: string, day: string) =>
  t.wh.query(`SELECT * REPLACE (strftime(date, '%Y-%m-%d') AS date) FROM ${table} WHERE date = DATE '${day}'`);

describe('level_metrics', () => {
  it.each(DAYS)('matches the definitions on %s, every row and column', async (day) => {
    const expected = expectedLevelMetrics(all, day);
    // The generator must exercise what the definitions distinguish, or the comparison proves little.
    expect(expected.some((r) => r.attempts === 0 && r.pass_rate === null)).toBe(true);
    expect(expected.some((r) => (r.retry_rate ?? 0) > 0)).toBe(true);
    expect(expected.some((r) => (r.booster_usage_rate ?? 0) > 0 && (r.booster_usage_rate ?? 1) < 1)).toBe(true);
    expect(await computeLevelMetrics(t.wh, day)).toBe(expected.length);
    expect(compareRows(await read('level_metrics', day), expected, 'level_id')).toEqual([]);
  });

  it('counts only level_start as an attempt (the seed tripled attempts)', async () => {
    const day = DAYS[0];
    await computeLevelMetrics(t.wh, day);
    const [r] = await t.wh.query(`SELECT sum(attempts) AS a FROM level_metrics WHERE date = DATE '${day}'`);
    const starts = all.filter((e) => new Date(e.ts_ms).toISOString().startsWith(day) && e.event_type === 1001
      && Number.isInteger(e.parameters.level_id)).length;
    expect(r.a).toBe(starts);
  });
});

describe('user_daily_metrics', () => {
  it.each(DAYS)('matches the definitions on %s, every row and column', async (day) => {
    const expected = expectedUserMetrics(all, day);
    expect(expected.some((r) => r.revenue_usd > 0)).toBe(true);
    expect(await computeUserMetrics(t.wh, day)).toBe(expected.length);
    expect(compareRows(await read('user_daily_metrics', day), expected, 'user_id')).toEqual([]);
  });
});
