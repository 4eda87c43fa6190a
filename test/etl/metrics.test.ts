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

const read = (table: string, day: string, wh = t.wh) =>
  wh.query(`SELECT * REPLACE (strftime(date, '%Y-%m-%d') AS date) FROM ${table} WHERE date = DATE '${day}'`);

describe('level_metrics', () => {
  it.each(DAYS)('matches the definitions on %s, every row and column', async (day) => {
    const expected = expectedLevelMetrics(all, day);
    // The generator must exercise what the definitions distinguish, or the comparison proves little.
    // A level completed on D by players who started it the day before: more completions than starts.
    expect(expected.some((r) => r.completions > r.attempts && r.attempts > 0)).toBe(true);
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

  it('keeps pass_rate within [0, 1] when a level has more completions on D than starts', async () => {
    const day = DAYS[0];
    await computeLevelMetrics(t.wh, day);
    const rows = await t.wh.query(`SELECT level_id, attempts, completions, pass_rate FROM level_metrics WHERE date = DATE '${day}'`);
    const over = rows.filter((r) => Number(r.completions) > Number(r.attempts) && Number(r.attempts) > 0);
    expect(over.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.pass_rate === null || (Number(r.pass_rate) >= 0 && Number(r.pass_rate) <= 1), JSON.stringify(r)).toBe(true);
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

describe('events stored twice (a backfill past the dedupe horizon)', () => {
  it('counts each event id once in level_metrics, user_daily_metrics and revenue_daily', async () => {
    const w = await openTestWarehouse();
    try {
      await ensureEtlTables(w.wh);
      const day = '2026-11-24';
      const events = generateDay(day, 11);
      await insertEvents(w, events);
      // Every third event again, from another source: the same ids, as a re-sent archive stores them.
      const again = events.filter((_, i) => i % 3 === 0);
      expect(again.some((e) => e.event_type === 2001 && typeof e.parameters.price_usd === 'number')).toBe(true);
      await insertEvents(w, again, 'file:/archive/backfill.ndjson');
      const [n] = await w.wh.query(`SELECT count(*) AS n FROM events WHERE event_date = DATE '${day}'`);
      expect(Number(n!.n)).toBe(events.length + again.length);
      await computeLevelMetrics(w.wh, day);
      await computeUserMetrics(w.wh, day);
      await computeRevenueMetrics(w.wh, day);
      expect(compareRows(await read('level_metrics', day, w.wh), expectedLevelMetrics(events, day), 'level_id')).toEqual([]);
      expect(compareRows(await read('user_daily_metrics', day, w.wh), expectedUserMetrics(events, day), 'user_id')).toEqual([]);
      const key = ['platform', 'country'];
      expect(compareRows(withKey(await read('revenue_daily', day, w.wh), key), withKey(expectedRevenueDaily(events, day), key), 'key')).toEqual([]);
    } finally {
      w.close();
    }
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
  it('has user_daily_metrics.revenue_usd migrated from DOUBLE to DECIMAL, its amounts rounded to the cent they were, and level_metrics.failures added', async () => {
    const old = await openTestWarehouse();
    try {
      await old.wh.exec(`CREATE TABLE user_daily_metrics (user_id VARCHAR NOT NULL, date DATE NOT NULL, sessions BIGINT, events BIGINT,
        levels_played BIGINT, levels_completed BIGINT, playtime_minutes DOUBLE, revenue_usd DOUBLE)`);
      await old.wh.exec(`INSERT INTO user_daily_metrics VALUES ('u1', DATE '2026-11-20', 1, 5, 1, 1, 2.5, 74.85000000000001)`);
      await old.wh.exec(`CREATE TABLE level_metrics (level_id BIGINT NOT NULL, date DATE NOT NULL, attempts BIGINT, completions BIGINT,
        pass_rate DOUBLE, avg_moves DOUBLE, avg_time_seconds DOUBLE, p50_moves BIGINT, p95_moves BIGINT, unique_players BIGINT,
        booster_usage_rate DOUBLE, retry_rate DOUBLE)`);
      await ensureEtlTables(old.wh);
      // level_metrics gets the failures column, NULL for the days computed before it.
      const [failures] = await old.wh.query(`SELECT data_type FROM information_schema.columns WHERE table_name = 'level_metrics' AND column_name = 'failures'`);
      expect(failures!.data_type).toBe('BIGINT');
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
