/**
 * The warehouse tables, named as in the seed's BigQuery design. Every sink creates these; the row files the
 * workers write follow the `file` column lists, and the SQL that loads them adds the constant columns.
 */

export const FAILURE_SCHEMA = 'gamestream/dead_letter/1-0-0';

/** The engine's three tables by one short key: how row files, commits and metrics name them. */
export const TABLE_KEYS = ['events', 'dlq', 'agg'] as const;
export type TableKey = (typeof TABLE_KEYS)[number];

export const EVENTS_COLUMNS = [
  ['event_id', 'VARCHAR NOT NULL'],
  ['user_id', 'VARCHAR NOT NULL'],
  ['session_id', 'VARCHAR'],
  ['event_type', 'BIGINT NOT NULL'],
  ['event_name', 'VARCHAR'],
  ['timestamp', 'TIMESTAMP NOT NULL'],
  ['event_date', 'DATE NOT NULL'],
  ['event_hour', 'INTEGER NOT NULL'],
  ['day_of_week', 'INTEGER NOT NULL'],
  ['parameters', 'JSON'],
  ['platform', 'VARCHAR'],
  ['app_version', 'VARCHAR'],
  ['country', 'VARCHAR'],
  ['region', 'VARCHAR'],
  ['city', 'VARCHAR'],
  ['device_model', 'VARCHAR'],
  ['device_category', 'VARCHAR'],
  ['device_tier', 'VARCHAR'],
  ['source', 'VARCHAR NOT NULL'],
  ['source_partition', 'INTEGER NOT NULL'],
  ['source_offset', 'BIGINT NOT NULL'],
  // Added later (a warehouse created before gets them at start): the user's state as of the event (src/users/).
  ['is_paying_user', 'BOOLEAN'],
  ['days_since_install', 'INTEGER'],
  // Added later: top-level fields the event schema does not know, kept as sent (docs/SEMANTICS.md).
  ['properties', 'JSON'],
] as const;

/**
 * One row per user: the times its state is made of, each the earliest seen over every source. A commit merges
 * its users into it in the same transaction as its events, so a restart reads back exactly what the events
 * were stamped with. `source` and `source_partition` name the last writer.
 */
export const USERS_COLUMNS = [
  ['user_id', 'VARCHAR NOT NULL'],
  ['install_at', 'TIMESTAMP'],
  ['first_seen_at', 'TIMESTAMP NOT NULL'],
  ['first_paid_at', 'TIMESTAMP'],
  ['source', 'VARCHAR NOT NULL'],
  ['source_partition', 'INTEGER NOT NULL'],
  ['updated_at', 'TIMESTAMP NOT NULL'],
] as const;

export const DLQ_COLUMNS = [
  ['error_code', 'VARCHAR NOT NULL'],
  ['error', 'VARCHAR NOT NULL'],
  ['stage', 'VARCHAR NOT NULL'],
  ['raw_message', 'VARCHAR'],
  ['raw_encoding', 'VARCHAR NOT NULL'],
  ['source', 'VARCHAR NOT NULL'],
  ['source_partition', 'INTEGER NOT NULL'],
  ['source_offset', 'BIGINT NOT NULL'],
  ['received_at', 'TIMESTAMP NOT NULL'],
  ['gamestream_version', 'VARCHAR NOT NULL'],
  ['failure_schema', 'VARCHAR NOT NULL'],
] as const;

export const AGG_COLUMNS = [
  ['window_start', 'TIMESTAMP NOT NULL'],
  ['window_end', 'TIMESTAMP NOT NULL'],
  ['event_type', 'BIGINT NOT NULL'],
  ['level_id', 'BIGINT'],
  ['event_count', 'BIGINT NOT NULL'],
  ['source', 'VARCHAR NOT NULL'],
  ['source_partition', 'INTEGER NOT NULL'],
] as const;

/** Per (source, partition): how far the warehouse has it, and the state needed to resume exactly. */
export const CHECKPOINT_COLUMNS = [
  ['source', 'VARCHAR NOT NULL'],
  ['source_partition', 'INTEGER NOT NULL'],
  ['next_offset', 'BIGINT NOT NULL'],
  ['max_event_ms', 'BIGINT'],
  ['watermark_ms', 'BIGINT'],
  ['closed_through_ms', 'BIGINT'],
  ['events', 'BIGINT NOT NULL'],
  ['dead_letters', 'BIGINT NOT NULL'],
  ['duplicates', 'BIGINT NOT NULL'],
  ['late_events', 'BIGINT NOT NULL'],
  ['window_rows', 'BIGINT NOT NULL'],
  ['updated_at', 'TIMESTAMP NOT NULL'],
  // Added later (a warehouse created before gets them at start): windows written early at an end of input.
  ['provisional_from_ms', 'BIGINT'],
  ['provisional_to_ms', 'BIGINT'],
  // Added later: the fingerprint of the record at next_offset - 1 (Checkpoint.lastRecordHash), the window size.
  ['last_record_hash', 'BIGINT'],
  ['window_size_ms', 'BIGINT'],
] as const;

/** The engine-wide watermark per source, for the daily ETL's "is the day complete" sensor. */
export const WATERMARK_COLUMNS = [
  ['source', 'VARCHAR NOT NULL'],
  ['watermark', 'TIMESTAMP'],
  ['end_of_input', 'BOOLEAN NOT NULL'],
  ['updated_at', 'TIMESTAMP NOT NULL'],
] as const;
