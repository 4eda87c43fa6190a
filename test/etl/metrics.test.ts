/** Ground truth: level_metrics and user_daily_metrics against the definitions computed in plain TypeScript. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeLevelMetrics, computeUserMetrics } from '../../src/etl/metrics.ts';
import { computeRevenueMetrics } from '../../src/etl/revenue.ts';
import { ensureEtlTables } from '../../src/etl/warehouse.ts';
import { compareRows, expectedLevelMetrics, expectedRevenueDaily, expectedUserMetrics, withKey } from './support/expected.ts';
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

describe('revenue_daily', () => {
  it.each(DAYS)('matches the definitions on %s, every row and column, money exactly', async (day) => {
    const expected = expectedRevenueDaily(all, day);
    // What the definitions distinguish: groups with and without revenue, payers who paid before, and sums that
    // a double does not hold exactly.
    expect(expected.some((r) => r.paying_users === 0 && r.arppu === null)).toBe(true);
    expect(expected.some((r) => r.first_time_payers > 0 && r.first_time_payers < r.paying_users)).toBe(true);
    expect(expected.some((r) => r.country === null)).toBe(true);
    expect(await computeRevenueMetrics(t.wh, day)).toBe(expected.length);
    const key = ['platform', 'country'];
    expect(compareRows(withKey(await read('revenue_daily', day), key), withKey(expected, key), 'key')).toEqual([]);
  });

  it('sums money exactly, where a double would not (0.99 + 4.99 + 9.99 is 15.97)', async () => {
    const day = DAYS[0];
    await computeUserMetrics(t.wh, day);
    await computeRevenueMetrics(t.wh, day);
    const [u] = await t.wh.query(`SELECT CAST(sum(revenue_usd) AS VARCHAR) AS s FROM user_daily_metrics WHERE date = DATE '${day}'`);
    const [r] = await t.wh.query(`SELECT CAST(sum(revenue_usd) AS VARCHAR) AS s FROM revenue_daily WHERE date = DATE '${day}'`);
    const cents = all.filter((e) => new Date(e.ts_ms).toISOString().startsWith(day) && e.event_type === 2001)
      .reduce((s, e) => s + Math.round(Number(e.parameters.price_usd ?? 0) * 100), 0);
    expect(u.s).toBe(`${(cents / 100).toFixed(2)}0000`);
    expect(r.s).toBe(u.s);
  });
});

describe('level_metrics with moves no median can hold', () => {
  it('gives the level a row, its median NULL where a value is not a whole number of moves, and does not fail the day', async () => {
    const w = await openTestWarehouse();
    try {
      await ensureEtlTables(w.wh);
      const day = '2026-11-23';
      const events = generateDay(day, 7);
      const completes = events.filter((e) => e.event_type === 1002 && e.parameters.level_id === 99);
      expect(completes.length).toBeGreaterThan(0);
      // Every completion of level 99 that day: a number no BIGINT holds, and "NaN", which casts to a double.
      for (const [i, e] of completes.entries()) e.parameters.moves_used = i % 2 === 0 ? 1e300 : 'NaN';
      await insertEvents(w, events);
      await computeLevelMetrics(w.wh, day);
      const [r] = await w.wh.query(`SELECT completions, p50_moves FROM level_metrics WHERE date = DATE '${day}' AND level_id = 99`);
      expect(Number(r!.completions)).toBe(completes.length);
      expect(r!.p50_moves).toBeNull();
    } finally {
      w.close();
    }
  });
});

describe('a warehouse made by an older gamestream', () => {
  it('has user_daily_metrics.revenue_usd migrated from DOUBLE to DECIMAL, its amounts rounded to the cent they were', async () => {
    const old = await openTestWarehouse();
    try {
      await old.wh.exec(`CREATE TABLE user_daily_metrics (user_id VARCHAR NOT NULL, date DATE NOT NULL, sessions BIGINT, events BIGINT,
        levels_played BIGINT, levels_completed BIGINT, playtime_minutes DOUBLE, revenue_usd DOUBLE)`);
      await old.wh.exec(`INSERT INTO user_daily_metrics VALUES ('u1', DATE '2026-11-20', 1, 5, 1, 1, 2.5, 74.85000000000001)`);
      await ensureEtlTables(old.wh);
      const [col] = await old.wh.query(`SELECT data_type FROM information_schema.columns WHERE table_name = 'user_daily_metrics' AND column_name = 'revenue_usd'`);
      expect(col!.data_type).toBe('DECIMAL(18,6)');
      const [row] = await old.wh.query(`SELECT CAST(revenue_usd AS VARCHAR) AS r, events FROM user_daily_metrics`);
      expect(row).toEqual({ r: '74.850000', events: 5 });
      await ensureEtlTables(old.wh); // a second start finds nothing to do
    } finally {
      old.close();
    }
  });
});
