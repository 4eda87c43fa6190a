/**
 * compute_level_metrics and compute_user_metrics for one UTC day D. Each replaces D's rows in one transaction
 * (DELETE + INSERT), so a rerun never duplicates. Definitions are in docs/ETL.md; the SQL follows them, in the
 * warehouse's dialect (dialect.ts): the work runs in the warehouse's engine.
 */
import { LEVEL_COMPLETE, LEVEL_FAIL, LEVEL_START, PURCHASE, SESSION_END } from '../contract/event-types.ts';
import { DUCKDB, type SqlDialect } from './dialect.ts';
import { dialectOf, execTransaction, sqlDate, uniqueEvents, type EtlWarehouse } from './warehouse.ts';


const MOVES_QUANTILES = [0.5, 0.95] as const;

export function levelMetricsSelect(day: string, d: SqlDialect = DUCKDB): string {
  const date = sqlDate(day);
  const completed = `event_type = ${LEVEL_COMPLETE}`;
  const started = `event_type = ${LEVEL_START}`;
  const finished = `event_type IN (${LEVEL_COMPLETE}, ${LEVEL_FAIL})`;
  const moves = d.jsonNumber('moves_used');
  return `WITH ev AS (
      SELECT user_id, event_type, parameters, timestamp, event_id, ${d.levelId} AS level_id
      FROM ${uniqueEvents(`event_date = ${date} AND event_type IN (${LEVEL_START}, ${LEVEL_COMPLETE}, ${LEVEL_FAIL})`)} AS e
    ),
    lv AS (
      SELECT user_id, event_type, parameters, level_id,
        -- a start's rank among the same user's starts of the same level that day; rank ≥ 2 is a retry
        CASE WHEN ${started} THEN row_number() OVER (
          PARTITION BY level_id, user_id, event_type ORDER BY timestamp, event_id) END AS start_rank
      FROM ev
    ),
    agg AS (
      SELECT level_id,
        ${d.countIf(started)} AS attempts,
        ${d.countIf(completed)} AS completions,
        ${d.countIf(`event_type = ${LEVEL_FAIL}`)} AS failures,
        -- Of the attempts that ended on D, the share completed. Not per start: an attempt that began before
        -- midnight ends on D, and completions / starts then passes 1.
        ${d.countIf(completed)} / NULLIF(${d.countIf(finished)}, 0) AS pass_rate,
        ${d.aggIf('avg', moves, completed)} AS avg_moves,
        ${d.aggIf('avg', d.jsonNumber('time_seconds'), completed)} AS avg_time_seconds,
        ${d.quantiles(moves, completed, MOVES_QUANTILES)} AS moves_q,
        count(DISTINCT user_id) AS unique_players,
        ${d.countIf(`${finished} AND ${d.nonEmptyArray('boosters_used')}`)} / NULLIF(${d.countIf(finished)}, 0) AS booster_usage_rate,
        ${d.countIf('start_rank >= 2')} / NULLIF(${d.countIf(started)}, 0) AS retry_rate
      FROM lv WHERE level_id IS NOT NULL
      GROUP BY level_id
    )
    SELECT level_id, ${date} AS date, attempts, completions, failures, pass_rate, avg_moves, avg_time_seconds,
      ${d.quantileAt('moves_q', MOVES_QUANTILES, 0.5)} AS p50_moves,
      ${d.quantileAt('moves_q', MOVES_QUANTILES, 0.95)} AS p95_moves,
      unique_players, booster_usage_rate, retry_rate
    FROM agg`;
}

export function userMetricsSelect(day: string, d: SqlDialect = DUCKDB): string {
  const date = sqlDate(day);
  return `SELECT user_id, ${date} AS date,
      count(DISTINCT session_id) AS sessions,
      count(*) AS events,
      ${d.aggIf('count', d.levelId, `event_type = ${LEVEL_START}`, true)} AS levels_played,
      ${d.countIf(`event_type = ${LEVEL_COMPLETE}`)} AS levels_completed,
      coalesce(${d.aggIf('sum', d.jsonNumber('duration_sec'), `event_type = ${SESSION_END}`)}, 0) / 60 AS playtime_minutes,
      coalesce(${d.aggIf('sum', d.jsonMoney('price_usd'), `event_type = ${PURCHASE}`)}, 0) AS revenue_usd,
      max(is_paying_user) AS is_paying_user,
      max(days_since_install) AS days_since_install
    FROM ${uniqueEvents(`event_date = ${date}`)} AS e
    GROUP BY user_id`;
}

/** Column lists keep the INSERT independent of the table's column order (a BigQuery table may have evolved). */
const LEVEL_COLUMNS = 'level_id, date, attempts, completions, failures, pass_rate, avg_moves, avg_time_seconds, p50_moves, p95_moves, unique_players, booster_usage_rate, retry_rate';
const USER_COLUMNS = 'user_id, date, sessions, events, levels_played, levels_completed, playtime_minutes, revenue_usd, is_paying_user, days_since_install';

/** Replaces day D's rows of `table` with `select`'s in one transaction; returns D's row count. */
export async function replaceDay(wh: EtlWarehouse, table: string, columns: string, day: string, select: string): Promise<number> {
  await execTransaction(wh, [
    `DELETE FROM ${table} WHERE date = ${sqlDate(day)}`,
    `INSERT INTO ${table} (${columns}) ${select}`,
  ]);
  const r = await wh.query(`SELECT count(*) AS n FROM ${table} WHERE date = ${sqlDate(day)}`);
  return Number(r[0]?.n ?? 0);
}

export function computeLevelMetrics(wh: EtlWarehouse, day: string): Promise<number> {
  return replaceDay(wh, 'level_metrics', LEVEL_COLUMNS, day, levelMetricsSelect(day, dialectOf(wh)));
}

export function computeUserMetrics(wh: EtlWarehouse, day: string): Promise<number> {
  return replaceDay(wh, 'user_daily_metrics', USER_COLUMNS, day, userMetricsSelect(day, dialectOf(wh)));
}
