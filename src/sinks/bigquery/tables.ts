/**
 * gamestream's BigQuery tables: the same columns as the DuckDB warehouse (sinks/tables.ts), with BigQuery
 * types, modes, partitioning and clustering. gamestream owns this DDL: it creates the tables or verifies them at
 * start (ddl.ts).
 *
 * BigQuery can commit several streams atomically only when they belong to one table, so a commit spans tables
 * in two steps (see bigquery-warehouse.ts): the commit record in `gamestream_commits` is the point of no return, and the
 * checkpoints and watermarks DuckDB keeps as tables are views over that log here.
 */
import { AGG_COLUMNS, DLQ_COLUMNS, EVENTS_COLUMNS, USERS_COLUMNS } from '../tables.ts';

export type BqType = 'STRING' | 'INT64' | 'FLOAT64' | 'NUMERIC' | 'BOOL' | 'TIMESTAMP' | 'DATE' | 'JSON' | 'RECORD';
export type BqMode = 'NULLABLE' | 'REQUIRED' | 'REPEATED';

export interface BqField {
  name: string;
  type: BqType;
  mode: BqMode;
  fields?: BqField[];
}

export interface BqTableSpec {
  name: string;
  fields: BqField[];
  /** DAY partitioning on this DATE or TIMESTAMP column. */
  partitionBy: string;
  clusterBy: string[];
  /** Whether GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS and _REQUIRE_PARTITION_FILTER apply. */
  userTable: boolean;
  description: string;
}

const DUCK_TO_BQ: Record<string, BqType> = {
  VARCHAR: 'STRING', BIGINT: 'INT64', INTEGER: 'INT64', DOUBLE: 'FLOAT64', BOOLEAN: 'BOOL',
  TIMESTAMP: 'TIMESTAMP', DATE: 'DATE', JSON: 'JSON',
};

/** Maps a DuckDB column list ('VARCHAR NOT NULL', …) to BigQuery fields. */
export function fromDuckColumns(cols: readonly (readonly [string, string])[]): BqField[] {
  return cols.map(([name, decl]) => {
    const [base] = decl.split(' ');
    const type = DUCK_TO_BQ[base!];
    if (!type) throw new Error(`no BigQuery type for ${name} ${decl}`);
    return { name, type, mode: decl.includes('NOT NULL') ? 'REQUIRED' : 'NULLABLE' };
  });
}

function f(name: string, type: BqType, mode: BqMode = 'NULLABLE', fields?: BqField[]): BqField {
  return fields ? { name, type, mode, fields } : { name, type, mode };
}

export const EVENTS_TABLE: BqTableSpec = {
  name: 'events',
  fields: fromDuckColumns(EVENTS_COLUMNS),
  partitionBy: 'event_date',
  clusterBy: ['event_type', 'user_id'],
  userTable: true,
  description: 'Validated, enriched, deduplicated game events (gamestream).',
};

export const DLQ_TABLE: BqTableSpec = {
  name: 'events_dlq',
  fields: fromDuckColumns(DLQ_COLUMNS),
  partitionBy: 'received_at',
  clusterBy: ['error_code'],
  userTable: true,
  description: 'Dead letters: every rejected input with its reason code, replayable (gamestream).',
};

export const AGG_TABLE: BqTableSpec = {
  name: 'events_agg_1min',
  fields: fromDuckColumns(AGG_COLUMNS),
  partitionBy: 'window_start',
  clusterBy: ['event_type'],
  userTable: true,
  description: 'Tumbling-window event counts per partition; sum over partitions (events_agg_1min_total) (gamestream).',
};

/**
 * One row per partition of each commit (one row with a NULL partition when a commit moves no partition), all
 * rows of a commit appended in one request, which BigQuery applies whole or not at all. Each row names the
 * finalized streams that hold the commit's rows. (Flat rather than a repeated RECORD: simpler to read back.)
 */
export const COMMITS_TABLE: BqTableSpec = {
  name: 'gamestream_commits',
  fields: [
    f('commit_id', 'STRING', 'REQUIRED'),
    f('source', 'STRING', 'REQUIRED'),
    f('writer', 'STRING', 'REQUIRED'),
    f('committed_at', 'TIMESTAMP', 'REQUIRED'),
    f('streams', 'STRING', 'REPEATED'),
    f('engine_watermark', 'TIMESTAMP'),
    f('end_of_input', 'BOOL', 'REQUIRED'),
    f('source_partition', 'INT64'),
    f('next_offset', 'INT64'),
    f('max_event_ms', 'INT64'),
    f('watermark_ms', 'INT64'),
    f('closed_through_ms', 'INT64'),
    f('events', 'INT64'),
    f('dead_letters', 'INT64'),
    f('duplicates', 'INT64'),
    f('late_events', 'INT64'),
    f('window_rows', 'INT64'),
    // Set on the row a daemon writes when the consumer group moved the partition to another daemon.
    f('released', 'BOOL'),
    // The writer's consumer-group member id: while that member is in the group, it still owns what it wrote.
    f('member', 'STRING'),
    // Windows written early at an end of input (Checkpoint.provisionalFromMs), and the rows of such windows
    // this commit rewrites, as JSON [[window_start_ms, event_type, level_id, event_count], …]: applied after
    // the streams, and again by a restart that rolls the commit forward (the values are absolute).
    f('provisional_from_ms', 'INT64'),
    f('provisional_to_ms', 'INT64'),
    f('window_updates', 'STRING'),
    // Which take-over of the partition the row belongs to (partition-leases.ts): a row of a later claim
    // outranks any of an earlier one, whatever its offset. NULL (0) on rows written without a consumer group.
    f('claim_epoch', 'INT64'),
    // The fingerprint of the record at next_offset - 1 (Checkpoint.lastRecordHash): a file resumed must be the one read.
    f('last_record_hash', 'INT64'),
    // The window size the partition's windows were cut by (Checkpoint.windowSizeMs): a resumed source keeps it.
    f('window_size_ms', 'INT64'),
  ],
  partitionBy: 'committed_at',
  clusterBy: ['source', 'source_partition'],
  userTable: false,
  description: 'gamestream commit log: read at start to resume exactly; the checkpoint views read it (gamestream).',
};

/**
 * User states as an append-only log (a commit's streams are appends): each row a state a commit wrote, the
 * `users` view their merge, the earliest of each time. Outside the partition expiration: a player who comes
 * back after a year still has an install day.
 */
export const USER_STATES_TABLE: BqTableSpec = {
  name: 'user_states',
  fields: fromDuckColumns(USERS_COLUMNS),
  partitionBy: 'updated_at',
  clusterBy: ['user_id'],
  userTable: false,
  description: 'User states written with the events; read the users view (gamestream).',
};

export const ENGINE_TABLES: BqTableSpec[] = [EVENTS_TABLE, DLQ_TABLE, AGG_TABLE, COMMITS_TABLE, USER_STATES_TABLE];

/** The ETL's tables (etl/warehouse.ts has their DuckDB twins). */
export const ETL_TABLES: BqTableSpec[] = [
  {
    name: 'level_metrics',
    fields: [
      f('level_id', 'INT64', 'REQUIRED'), f('date', 'DATE', 'REQUIRED'), f('attempts', 'INT64'), f('completions', 'INT64'),
      f('pass_rate', 'FLOAT64'), f('avg_moves', 'FLOAT64'), f('avg_time_seconds', 'FLOAT64'), f('p50_moves', 'INT64'),
      f('p95_moves', 'INT64'), f('unique_players', 'INT64'), f('booster_usage_rate', 'FLOAT64'), f('retry_rate', 'FLOAT64'),
      f('failures', 'INT64'),
    ],
    partitionBy: 'date',
    clusterBy: ['level_id'],
    userTable: true,
    description: 'Daily per-level metrics from the gamestream ETL.',
  },
  {
    name: 'user_daily_metrics',
    fields: [
      f('user_id', 'STRING', 'REQUIRED'), f('date', 'DATE', 'REQUIRED'), f('sessions', 'INT64'), f('events', 'INT64'),
      f('levels_played', 'INT64'), f('levels_completed', 'INT64'), f('playtime_minutes', 'FLOAT64'), f('revenue_usd', 'NUMERIC'),
      f('is_paying_user', 'BOOL'), f('days_since_install', 'INT64'),
    ],
    partitionBy: 'date',
    clusterBy: ['user_id'],
    userTable: true,
    description: 'Daily per-user metrics from the gamestream ETL.',
  },
  {
    name: 'revenue_daily',
    fields: [
      f('date', 'DATE', 'REQUIRED'), f('platform', 'STRING'), f('country', 'STRING'), f('revenue_usd', 'NUMERIC'), f('purchases', 'INT64'),
      f('paying_users', 'INT64'), f('first_time_payers', 'INT64'), f('active_users', 'INT64'), f('arpdau', 'FLOAT64'), f('arppu', 'FLOAT64'),
    ],
    partitionBy: 'date',
    clusterBy: ['platform', 'country'],
    userTable: true,
    description: 'Daily revenue per platform and country from the gamestream ETL.',
  },
  {
    name: 'etl_checks',
    fields: [
      f('date', 'DATE', 'REQUIRED'), f('check_name', 'STRING', 'REQUIRED'), f('passed', 'BOOL'), f('status', 'STRING', 'REQUIRED'),
      f('value', 'FLOAT64'), f('threshold', 'FLOAT64'), f('run_id', 'STRING', 'REQUIRED'),
    ],
    partitionBy: 'date',
    clusterBy: [],
    userTable: false,
    description: 'Data-quality check results of the gamestream ETL.',
  },
  {
    name: 'dlq_replays',
    fields: [
      f('replay_id', 'STRING', 'REQUIRED'), f('seq', 'INT64', 'REQUIRED'), f('partitions', 'INT64', 'REQUIRED'),
      f('claimed_at', 'TIMESTAMP', 'REQUIRED'), f('letter_source', 'STRING', 'REQUIRED'), f('letter_partition', 'INT64', 'REQUIRED'),
      f('letter_offset', 'INT64', 'REQUIRED'), f('letter_received_at', 'TIMESTAMP', 'REQUIRED'), f('error_code', 'STRING', 'REQUIRED'),
      f('raw_message', 'STRING'),
    ],
    partitionBy: 'claimed_at',
    clusterBy: ['replay_id'],
    userTable: false,
    description: 'Dead letters claimed by `gamestream dlq replay`, in replay order.',
  },
  {
    name: 'dlq_replay_outcomes',
    fields: [
      f('replay_id', 'STRING', 'REQUIRED'), f('seq', 'INT64', 'REQUIRED'), f('replayed_at', 'TIMESTAMP', 'REQUIRED'),
      f('outcome', 'STRING', 'REQUIRED'), f('error_code', 'STRING'), f('error', 'STRING'),
    ],
    partitionBy: 'replayed_at',
    clusterBy: ['replay_id'],
    userTable: false,
    description: 'What became of each dead letter a `gamestream dlq replay` ran: stored, dead_letter again, or duplicate.',
  },
  {
    name: 'etl_runs',
    fields: [
      f('run_id', 'STRING', 'REQUIRED'), f('date', 'DATE', 'REQUIRED'), f('task', 'STRING', 'REQUIRED'),
      f('attempt', 'INT64', 'REQUIRED'), f('status', 'STRING', 'REQUIRED'), f('started_at', 'TIMESTAMP', 'REQUIRED'),
      f('ended_at', 'TIMESTAMP'), f('rows_written', 'INT64'), f('error', 'STRING'),
    ],
    partitionBy: 'date',
    clusterBy: [],
    userTable: false,
    description: 'Run history of the gamestream ETL, one row per task attempt.',
  },
];

/**
 * The order of a partition's commit-log rows, latest first: a later claim's, then the furthest, then the newest.
 * A partition's offset only moves forward within one claim; across claims the later claim decides, since an
 * earlier owner's record can land after the partition was taken over (partition-leases.ts).
 */
export const COMMIT_RANK = 'COALESCE(claim_epoch, 0) DESC, next_offset DESC NULLS LAST, committed_at DESC';

/**
 * The commit-log rows that say where each partition stands: per partition (`by`, the source's by default), its
 * latest row by COMMIT_RANK, or its `keep` latest with their rank as `row_rank`. Only rows with a position unless
 * `claims` is set (a claim row has none).
 */
export function latestPerPartition(ds: string, columns: string, o: { where?: string; by?: string; claims?: boolean; keep?: number } = {}): string {
  const rank = `ROW_NUMBER() OVER (PARTITION BY ${o.by ?? 'source_partition'} ORDER BY ${COMMIT_RANK})`;
  const keep = o.keep ?? 1;
  return `SELECT ${columns}${keep > 1 ? `, ${rank} AS row_rank` : ''} FROM ${ds}.gamestream_commits
     WHERE committed_at >= TIMESTAMP '1970-01-01' AND source_partition IS NOT NULL${o.claims ? '' : ' AND next_offset IS NOT NULL'}${o.where ? ` AND ${o.where}` : ''}
     QUALIFY ${rank} ${keep > 1 ? `<= ${keep}` : '= 1'}`;
}

/**
 * Views that give BigQuery users the same names DuckDB users have. `{ds}` is the quoted dataset path.
 * The latest commit per partition is the first by COMMIT_RANK; claim rows, which have no position, are left out.
 */
export const VIEWS: { name: string; sql: string }[] = [
  {
    name: 'gamestream_checkpoints',
    sql: latestPerPartition('{ds}', `source, source_partition, next_offset, max_event_ms, watermark_ms, closed_through_ms,
        events, dead_letters, duplicates, late_events, window_rows, committed_at AS updated_at,
        provisional_from_ms, provisional_to_ms, last_record_hash, window_size_ms`, { by: 'source, source_partition' }),
  },
  {
    // Several daemons write one source: the day is only complete when every daemon still writing has passed
    // it, so this is the lowest of the latest watermarks of the daemons that committed within 15 minutes of the
    // newest commit (a stopped or dead daemon drops out), leaving out those whose last commit came before the
    // source's latest end of input: the input was read to its end since (a run stopped midway, then finished by
    // the next one, each its own writer). Release rows carry no watermark.
    name: 'gamestream_watermarks',
    sql: `WITH latest AS (
        SELECT source, writer, engine_watermark, end_of_input, committed_at
        FROM {ds}.gamestream_commits
        WHERE committed_at >= TIMESTAMP '1970-01-01' AND released IS NOT TRUE
        QUALIFY ROW_NUMBER() OVER (PARTITION BY source, writer ORDER BY committed_at DESC) = 1
      ), active AS (
        SELECT *, MAX(committed_at) OVER (PARTITION BY source) AS newest,
          MAX(IF(end_of_input, committed_at, NULL)) OVER (PARTITION BY source) AS ended
        FROM latest
      )
      SELECT source, MIN(engine_watermark) AS watermark, LOGICAL_AND(end_of_input) AS end_of_input, MAX(committed_at) AS updated_at
      FROM active WHERE committed_at >= TIMESTAMP_SUB(newest, INTERVAL 15 MINUTE) AND (ended IS NULL OR committed_at >= ended)
      GROUP BY source`,
  },
  {
    name: 'users',
    sql: `SELECT user_id, MIN(install_at) AS install_at, MIN(first_seen_at) AS first_seen_at, MIN(first_paid_at) AS first_paid_at,
        MAX(updated_at) AS updated_at
      FROM {ds}.user_states WHERE updated_at >= TIMESTAMP '1970-01-01'
      GROUP BY user_id`,
  },
  {
    name: 'events_agg_1min_total',
    sql: `SELECT window_start, window_end, event_type, level_id, SUM(event_count) AS event_count
      FROM {ds}.events_agg_1min WHERE window_start >= TIMESTAMP '1970-01-01'
      GROUP BY window_start, window_end, event_type, level_id`,
  },
];
