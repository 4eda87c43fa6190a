/**
 * compute_revenue_metrics for one UTC day D: revenue_daily, one row per platform and country that had any event
 * on D. Money is an exact decimal (dialect.ts, `jsonMoney`): the sum of 0.99 + 4.99 + 9.99 is 15.97, not
 * 15.969999999999999. Replaces D's rows in one transaction, like the other metrics. Definitions: docs/ETL.md.
 */
import { DUCKDB, type SqlDialect } from './dialect.ts';
import { PURCHASE } from '../contract/event-types.ts';
import { replaceDay } from './metrics.ts';
import { dialectOf, sqlDate, uniqueEvents, type EtlWarehouse } from './warehouse.ts';

export const REVENUE_COLUMNS = 'date, platform, country, revenue_usd, purchases, paying_users, first_time_payers, active_users, arpdau, arppu';

export function revenueDailySelect(day: string, d: SqlDialect = DUCKDB): string {
  const date = sqlDate(day);
  const price = d.jsonMoney('price_usd');
  // A paid purchase: a purchase with a positive price. Revenue sums every numeric price of a purchase (a
  // negative one, a refund the client reports, lowers it), as user_daily_metrics.revenue_usd does.
  const paid = `e.event_type = ${PURCHASE} AND e.price > 0`;
  return `WITH day_events AS (
      SELECT user_id, platform, country, event_type,
        CASE WHEN event_type = ${PURCHASE} THEN ${price} END AS price
      FROM ${uniqueEvents(`event_date = ${date}`)} AS e
    ),
    -- Users who had paid before D, on any platform or in any country: they are not first-time payers on D.
    paid_before AS (
      SELECT DISTINCT user_id FROM events
      WHERE event_date < ${date} AND event_type = ${PURCHASE} AND ${price} > 0
    ),
    groups AS (
      SELECT e.platform, e.country,
        coalesce(sum(e.price), 0) AS revenue_usd,
        ${d.countIf(paid)} AS purchases,
        count(DISTINCT CASE WHEN ${paid} THEN e.user_id END) AS paying_users,
        count(DISTINCT CASE WHEN ${paid} AND b.user_id IS NULL THEN e.user_id END) AS first_time_payers,
        count(DISTINCT e.user_id) AS active_users
      FROM day_events e LEFT JOIN paid_before b ON b.user_id = e.user_id
      GROUP BY e.platform, e.country
    )
    SELECT ${date} AS date, platform, country, CAST(revenue_usd AS ${d.moneyType}) AS revenue_usd, purchases, paying_users,
      first_time_payers, active_users,
      ${d.float('revenue_usd')} / active_users AS arpdau,
      ${d.float('revenue_usd')} / NULLIF(paying_users, 0) AS arppu
    FROM groups`;
}

export function computeRevenueMetrics(wh: EtlWarehouse, day: string): Promise<number> {
  return replaceDay(wh, 'revenue_daily', REVENUE_COLUMNS, day, revenueDailySelect(day, dialectOf(wh)));
}
