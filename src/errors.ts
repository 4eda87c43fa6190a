/**
 * Errors that cross thread boundaries. `postMessage` turns class instances into plain objects, so callers
 * check `code`, never `instanceof`; `toWire`/`fromWire` keep code, retry hint and cause intact.
 */
/** Every error code gamestream raises or stores, once; the type is derived from it. */
export const ERROR_CODES = [
  // config and start-up
  'config_invalid', 'input_not_found', 'input_changed', 'source_unavailable', 'topic_invalid', 'output_failed', 'geoip_db_invalid',
  'device_table_invalid', 'observability_listen_failed',
  // the warehouse and the engine
  'warehouse_unavailable', 'warehouse_write_failed', 'warehouse_commit_failed', 'warehouse_schema_mismatch', 'warehouse_corrupt',
  'partition_fenced', 'dedupe_index_unavailable', 'spool_full', 'crash_loop', 'internal',
  // Kafka and the tracking server
  'kafka_unavailable', 'kafka_timeout', 'kafka_send_failed', 'ingest_overloaded', 'ingest_listen_failed',
  'shutting_down', 'body_too_large', 'client_aborted',
  // the tracking server's answers to a request it refuses (ingest/body.ts)
  'unauthorized', 'too_many_events', 'event_too_large', 'unsupported_encoding', 'empty_body', 'bad_gzip',
  'not_json_array', 'not_ndjson', 'json_too_deep',
  // schema registry: unreachable or refusing; the supervisor retries, never dead-letters for it
  'schema_registry_unavailable',
  // the daily ETL
  'etl_sensor_timeout', 'etl_no_data', 'etl_cancelled', 'etl_export_failed', 'etl_quality_failed', 'etl_webhook_failed',
  // `gamestream sql` and the daemon's POST /sql: a query that is not a plain read, one that failed or ran out of
  // time, and one sent while another runs
  'sql_refused', 'sql_failed', 'sql_timeout', 'sql_busy',
  // dead-letter reason codes (stable: stored in events_dlq.error_code)
  'parse_error', 'too_large', 'missing_fields', 'invalid_field', 'invalid_timestamp', 'future_timestamp', 'unknown_schema',
  'warehouse_rejected',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(code: string): code is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code);
}

export interface WireError {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
  stack?: string;
  cause?: WireError;
}

export class GamestreamError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GamestreamError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && typeof (err as { code?: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return 'internal';
}

export function toWire(err: unknown, depth = 0): WireError {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; message?: unknown; code?: unknown; retryable?: unknown; stack?: unknown; cause?: unknown };
    return {
      name: typeof e.name === 'string' ? e.name : 'Error',
      code: typeof e.code === 'string' ? e.code : 'internal',
      message: typeof e.message === 'string' ? e.message : String(err),
      retryable: e.retryable === true,
      stack: typeof e.stack === 'string' ? e.stack : undefined,
      cause: e.cause !== undefined && depth < 5 ? toWire(e.cause, depth + 1) : undefined,
    };
  }
  return { name: 'Error', code: 'internal', message: String(err), retryable: false };
}

export function fromWire(w: WireError): GamestreamError {
  // Codes on the wire come from this list; anything else (an error from a library) is internal.
  const err = new GamestreamError(isErrorCode(w.code) ? w.code : 'internal', w.message, {
    retryable: w.retryable,
    cause: w.cause ? fromWire(w.cause) : undefined,
  });
  if (w.stack) err.stack = w.stack;
  return err;
}
