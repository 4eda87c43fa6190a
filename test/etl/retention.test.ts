/**
 * apply_retention on DuckDB: the rows dated more than GAMESTREAM_RETENTION_DAYS before the processed day go from
 * every table BigQuery would expire, and nothing newer; on BigQuery and with retention off the task is skipped.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/etl/clock.ts';
import { newCounters, runDag } from '../../src/etl/dag.ts';
import { BIGQUERY } from '../../src/etl/dialect.ts';
import { computeLevelMetrics, computeUserMetrics } from '../../src/etl/metrics.ts';
import { applyRetention, RETAINED_TABLES } from '../../src/etl/retention.ts';
import { computeRevenueMetrics } from '../../src/etl/revenue.ts';
import { refreshLevelDailyStats } from '../../src/etl/level-stats.ts';
import { ensureEtlTables, type EtlWarehouse } from '../../src/etl/warehouse.ts';
import { silentLog, testConfig } from './support/config.ts';
import { generateDay, insertDeadLetters, insertEvents, openTestWarehouse, setWatermark, type GenEvent, type TestWarehouse } from './support/world.ts';

// Four days; with 2 days of retention, processing the last keeps it and the two before it.
const DAYS = ['2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21'];
let t: TestWarehouse;
let all: GenEvent[];

const count = async (sql: string): Promise<number> => Number((await t.wh.query(sql))[0]!.n);
const onDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

beforeAll(async () => {
  t = await openTestWarehouse();
  await ensureEtlTables(t.wh);
  all = DAYS.flatMap((d, i) => generateDay(d, 10 + i, 8));
  await insertEvents(t, all);
  // One dead letter and one window row per day, at noon.
  await insertDeadLetters(t, DAYS.map((d) => Date.parse(`${d}T12:00:00Z`)));
  for (const d of DAYS) {
    await t.conn.run(`INSERT INTO events_agg_1min VALUES (TIMESTAMP '${d} 12:00:00', TIMESTAMP '${d} 12:01:00', 1001, 1, 3, 'test', 0)`);
    await computeLevelMetrics(t.wh, d);
    await computeUserMetrics(t.wh, d);
    await computeRevenueMetrics(t.wh, d);
    await refreshLevelDailyStats(t.wh, d);
  }
});
afterAll(() => t.close());

describe('apply_retention', () => {
  it('deletes what is dated more than the retention before the day from every table, and says how much', async () => {
    const before: Record<string, number> = {};
    for (const { table } of RETAINED_TABLES) before[table] = await count(`SELECT count(*) AS n FROM ${table}`);
    const firstDay = (table: string, column: string) => count(`SELECT count(*) AS n FROM ${table} WHERE CAST(${column} AS DATE) = DATE '${DAYS[0]}'`);
    const expected: Record<string, number> = {};
    for (const { table, column } of RETAINED_TABLES) expected[table] = await firstDay(table, column);
    expect(expected.events).toBe(all.filter((e) => onDay(e.ts_ms) === DAYS[0]).length);
    expect(Object.values(expected).every((n) => n > 0)).toBe(true);

    const said: unknown[] = [];
    const out = await applyRetention(t.wh, DAYS[3]!, 2, (r) => said.push(r));
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    expect(out).toEqual({ status: 'success', rows: total });
    expect(said).toEqual([{ keepFrom: DAYS[1], removed: expected }]);
    for (const { table, column } of RETAINED_TABLES) {
      expect(await firstDay(table, column), table).toBe(0);
      expect(await count(`SELECT count(*) AS n FROM ${table}`), table).toBe(before[table]! - expected[table]!);
    }
    // Again: nothing left to remove.
    expect(await applyRetention(t.wh, DAYS[3]!, 2, () => undefined)).toEqual({ status: 'success', rows: 0 });
  });

  it('is skipped on BigQuery, which expires partitions itself, and when retention is off', async () => {
    const bq: EtlWarehouse = { ...t.wh, dialect: BIGQUERY };
    expect(await applyRetention(bq, DAYS[3]!, 2, () => undefined)).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS/) });
    expect(await applyRetention(t.wh, DAYS[3]!, null, () => undefined)).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/GAMESTREAM_RETENTION_DAYS=0/) });
  });

  it('runs as the last task of the day\'s DAG, with the configured retention', async () => {
    await setWatermark(t, Date.parse(`${DAYS[3]}T23:59:59Z`) + 3_600_000, false);
    const config = testConfig(join(t.dir, 'features'), { GAMESTREAM_RETENTION_DAYS: '1' });
    const r = await runDag({ warehouse: t.wh, config, log: silentLog, clock: systemClock, fetch, counters: newCounters(), alertRetryDelayMs: 1 }, DAYS[3]!);
    expect(r.tasks.apply_retention).toBe('success');
    expect(await count(`SELECT count(*) AS n FROM events WHERE event_date < DATE '${DAYS[2]}'`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM events WHERE event_date = DATE '${DAYS[2]}'`)).toBe(all.filter((e) => onDay(e.ts_ms) === DAYS[2]).length);
  });
});
