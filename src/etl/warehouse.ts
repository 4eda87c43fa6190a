/**
 * How the ETL reaches the warehouse. Inside the daemon the engine owns the only DuckDB connection, so the ETL
 * never opens one: it is handed an EtlWarehouse. Each `exec` call may hold a whole `BEGIN … COMMIT`; whoever
 * implements the interface must run one call without interleaving other statements on the same connection.
 * The implementations live with their warehouses (sinks/duckdb/etl-warehouse.ts, sinks/bigquery/etl-warehouse.ts);
 * `dialect` says which SQL to write (dialect.ts).
 */
import { GamestreamError } from '../errors.ts';
import { DUCKDB, type SqlDialect } from './dialect.ts';

export interface EtlWarehouse {
  query(sql: string): Promise<Record<string, unknown>[]>;
  exec(sql: string): Promise<void>;
  /** The SQL this warehouse speaks; DuckDB when absent. */
  readonly dialect?: SqlDialect;
  /** Creates or verifies the ETL's tables; when absent, ETL_DDL is run through exec. */
  ensureTables?(): Promise<void>;
}

export function dialectOf(wh: EtlWarehouse): SqlDialect {
  return wh.dialect ?? DUCKDB;
}

/** Runs the functions it is given one at a time, in call order; a failure does not stop the ones after it. */
export function serialQueue(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const p = tail.then(fn, fn);
    tail = p.catch(() => undefined);
    return p;
  };
}

/** Runs statements as one transaction in a single exec call (see the header: no interleaving). */
export async function execTransaction(wh: EtlWarehouse, statements: string[]): Promise<void> {
  try {
    await wh.exec(`BEGIN TRANSACTION;\n${statements.map((s) => `${s.trim().replace(/;$/, '')};`).join('\n')}\nCOMMIT;`);
  } catch (err) {
    throw new GamestreamError('warehouse_write_failed', `ETL transaction failed: ${(err as Error).message}`, { cause: err, retryable: true });
  }
}

/** A DuckDB string literal; SQL that may run on BigQuery uses `dialectOf(wh).str`. */
export function sqlString(s: string): string {
  return DUCKDB.str(s);
}

export const ETL_DDL = [
  // The seed's materialized view, as a table the DAG keeps current (etl/level-stats.ts).
  `CREATE TABLE IF NOT EXISTS level_daily_stats (level_id BIGINT, event_date DATE NOT NULL, events BIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS level_metrics (
    level_id BIGINT NOT NULL, date DATE NOT NULL, attempts BIGINT, completions BIGINT, pass_rate DOUBLE,
    avg_moves DOUBLE, avg_time_seconds DOUBLE, p50_moves BIGINT, p95_moves BIGINT, unique_players BIGINT,
    booster_usage_rate DOUBLE, retry_rate DOUBLE, failures BIGINT)`,
  `CREATE TABLE IF NOT EXISTS user_daily_metrics (
    user_id VARCHAR NOT NULL, date DATE NOT NULL, sessions BIGINT, events BIGINT, levels_played BIGINT,
    levels_completed BIGINT, playtime_minutes DOUBLE, revenue_usd DECIMAL(18,6), is_paying_user BOOLEAN, days_since_install INTEGER)`,
  `CREATE TABLE IF NOT EXISTS revenue_daily (
    date DATE NOT NULL, platform VARCHAR, country VARCHAR, revenue_usd DECIMAL(18,6), purchases BIGINT,
    paying_users BIGINT, first_time_payers BIGINT, active_users BIGINT, arpdau DOUBLE, arppu DOUBLE)`,
  `CREATE TABLE IF NOT EXISTS etl_checks (
    date DATE NOT NULL, check_name VARCHAR NOT NULL, passed BOOLEAN, status VARCHAR NOT NULL, value DOUBLE,
    threshold DOUBLE, run_id VARCHAR NOT NULL)`,
  // Dead-letter replays (replay/store.ts): the letters each replay claimed, in replay order, and their outcomes.
  `CREATE TABLE IF NOT EXISTS dlq_replays (
    replay_id VARCHAR NOT NULL, seq BIGINT NOT NULL, partitions INTEGER NOT NULL, claimed_at TIMESTAMP NOT NULL,
    letter_source VARCHAR NOT NULL, letter_partition INTEGER NOT NULL, letter_offset BIGINT NOT NULL,
    letter_received_at TIMESTAMP NOT NULL, error_code VARCHAR NOT NULL, raw_message VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS dlq_replay_outcomes (
    replay_id VARCHAR NOT NULL, seq BIGINT NOT NULL, replayed_at TIMESTAMP NOT NULL, outcome VARCHAR NOT NULL,
    error_code VARCHAR, error VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS etl_runs (
    run_id VARCHAR NOT NULL, date DATE NOT NULL, task VARCHAR NOT NULL, attempt INTEGER NOT NULL,
    status VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, rows_written BIGINT, error VARCHAR)`,
];

/**
 * Brings a DuckDB warehouse made by an older gamestream up to ETL_DDL: user_daily_metrics.revenue_usd was a DOUBLE
 * (sums such as 74.85000000000001); its values become exact to the cent, rounded to 6 places, as they would
 * have been.
 */
const ETL_MIGRATIONS = [
  { table: 'user_daily_metrics', column: 'revenue_usd', from: 'DOUBLE', sql: 'ALTER TABLE user_daily_metrics ALTER revenue_usd SET DATA TYPE DECIMAL(18,6) USING round(revenue_usd, 6)' },
];

/** Creates the ETL's own tables (and migrates older ones). The engine's tables (events, …) are the engine's to create. */
export async function ensureEtlTables(wh: EtlWarehouse): Promise<void> {
  if (wh.ensureTables) return wh.ensureTables();
  for (const ddl of ETL_DDL) await wh.exec(ddl);
  // Columns added since (nullable: days computed before them read as unknown until recomputed).
  for (const col of ['is_paying_user BOOLEAN', 'days_since_install INTEGER']) await wh.exec(`ALTER TABLE user_daily_metrics ADD COLUMN IF NOT EXISTS ${col}`);
  await wh.exec('ALTER TABLE level_metrics ADD COLUMN IF NOT EXISTS failures BIGINT');
  for (const m of ETL_MIGRATIONS) {
    const [col] = await wh.query(`SELECT data_type FROM information_schema.columns WHERE table_name = '${m.table}' AND column_name = '${m.column}'`);
    if (col?.data_type === m.from) await wh.exec(m.sql);
  }
}

// ---- UTC days as 'YYYY-MM-DD' strings -------------------------------------------------------------------

const DAY_MS = 86_400_000;

export function isDay(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === s;
}

export function dayStartMs(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function addDays(day: string, n: number): string {
  return dayOf(dayStartMs(day) + n * DAY_MS);
}

/** 0 = Sunday, as Date#getUTCDay. */
export function weekday(day: string): number {
  return new Date(dayStartMs(day)).getUTCDay();
}

export function sqlDate(day: string): string {
  return `DATE '${day}'`;
}

/** A TIMESTAMP literal for an epoch-ms instant (warehouse timestamps are naive UTC). */
export function sqlTimestamp(ms: number): string {
  return `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}'`;
}

/**
 * The events `where` selects, one row per event id, as a subquery. An event stored twice (a backfill, past the
 * dedupe horizon, of events live traffic already brought: docs/SEMANTICS.md, "Duplicates") counts once. The
 * copy kept is the one with the lowest (source, partition, offset), so a rerun keeps the same one.
 */
export function uniqueEvents(where: string): string {
  return `(SELECT * FROM events WHERE ${where}
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source, source_partition, source_offset) = 1)`;
}
