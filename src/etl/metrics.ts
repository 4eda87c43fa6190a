/**
 * compute_level_metrics and compute_user_metrics for one UTC day D. Each replaces D's rows in one transaction
 * (DELETE + INSERT), so a rerun never duplicates. Definitions are in docs/ETL.md; the SQL follows them.
 */
import { LEVEL_ID_SQL } from '../sinks/duckdb/sql.ts';
import { execTransaction, sqlDate, type EtlWarehouse } from './warehouse.ts';

export const LEVEL_START = 1001;
export const LEVEL_COMPLETE = 1002;
export const LEVEL_FAIL = 1003;
export const PURCHASE = 2001;
export const SESSION_END = 3002;

const num = (path: string): string => `TRY_CAST(parameters->>'$.${path}' AS DOUBLE)`;

export function levelMetricsSelect(day: string): string {
  const d = sqlDate(day);
  return `WITH lv AS (
      SELECT user_id, event_type, parameters, ${LEVEL_ID_SQL} AS level_id,
        -- a start's rank among the same user's starts of the same level that day; rank ≥ 2 is a retry
        CASE WHEN event_type = ${LEVEL_START} THEN row_number() OVER (
          PARTITION BY ${LEVEL_ID_SQL}, user_id, event_type ORDER BY timestamp, event_id) END AS start_rank
      FROM events
      WHERE event_date = ${d} AND event_type IN (${LEVEL_START}, ${LEVEL_COMPLETE}, ${LEVEL_FAIL})
    )
    SELECT level_id, ${d} AS date,
      count_if(event_type = ${LEVEL_START}) AS attempts,
      count_if(event_type = ${LEVEL_COMPLETE}) AS completions,
      count_if(event_type = ${LEVEL_COMPLETE}) / NULLIF(count_if(event_type = ${LEVEL_START}), 0) AS pass_rate,
      avg(${num('moves_used')}) FILTER (WHERE event_type = ${LEVEL_COMPLETE}) AS avg_moves,
      avg(${num('time_seconds')}) FILTER (WHERE event_type = ${LEVEL_COMPLETE}) AS avg_time_seconds,
      round(quantile_disc(${num('moves_used')}, 0.5) FILTER (WHERE event_type = ${LEVEL_COMPLETE}))::BIGINT AS p50_moves,
      round(quantile_disc(${num('moves_used')}, 0.95) FILTER (WHERE event_type = ${LEVEL_COMPLETE}))::BIGINT AS p95_moves,
      count(DISTINCT user_id) AS unique_players,
      count_if(event_type IN (${LEVEL_COMPLETE}, ${LEVEL_FAIL}) AND json_type(parameters, '$.boosters_used') = 'ARRAY'
               AND json_array_length(parameters, '$.boosters_used') > 0)
        / NULLIF(count_if(event_type IN (${LEVEL_COMPLETE}, ${LEVEL_FAIL})), 0) AS booster_usage_rate,
      count_if(start_rank >= 2) / NULLIF(count_if(event_type = ${LEVEL_START}), 0) AS retry_rate
    FROM lv WHERE level_id IS NOT NULL
    GROUP BY level_id`;
}

export function userMetricsSelect(day: string): string {
  const d = sqlDate(day);
  return `SELECT user_id, ${d} AS date,
      count(DISTINCT session_id) AS sessions,
      count(*) AS events,
      count(DISTINCT ${LEVEL_ID_SQL}) FILTER (WHERE event_type = ${LEVEL_START}) AS levels_played,
      count_if(event_type = ${LEVEL_COMPLETE}) AS levels_completed,
      coalesce(sum(${num('duration_sec')}) FILTER (WHERE event_type = ${SESSION_END}), 0) / 60 AS playtime_minutes,
      coalesce(sum(${num('price_usd')}) FILTER (WHERE event_type = ${PURCHASE}), 0) AS revenue_usd
    FROM events WHERE event_date = ${d}
    GROUP BY user_id`;
}

async function replaceDay(wh: EtlWarehouse, table: string, day: string, select: string): Promise<number> {
  await execTransaction(wh, [
    `DELETE FROM ${table} WHERE date = ${sqlDate(day)}`,
    `INSERT INTO ${table} ${select}`,
  ]);
  const r = await wh.query(`SELECT count(*) AS n FROM ${table} WHERE date = ${sqlDate(day)}`);
  return Number(r[0]?.n ?? 0);
}

export function computeLevelMetrics(wh: EtlWarehouse, day: string): Promise<number> {
  return replaceDay(wh, 'level_metrics', day, levelMetricsSelect(day));
}

export function computeUserMetrics(wh: EtlWarehouse, day: string): Promise<number> {
  return replaceDay(wh, 'user_daily_metrics', day, userMetricsSelect(day));
}
