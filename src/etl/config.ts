/**
 * Env vars of the daily ETL, parsed once. Shaped like ENV_VARS in src/config/schema.ts and using the same
 * parsers, so values and error messages read the same; every problem is reported together.
 */
import { boolFlag, duration, fraction, httpUrlOrEmpty, integer, ValueError, zeroIsOff } from '../config/parsers.ts';
import { parseVars, type VarSpec } from '../config/vars.ts';
import { GamestreamError } from '../errors.ts';
import { nextAfter, parseCron, type CronSchedule } from './cron.ts';
import { resolve } from 'node:path';

export interface EtlConfig {
  enabled: boolean;
  schedule: CronSchedule;
  catchup: boolean;
  pokeIntervalMs: number;
  sensorTimeoutMs: number;
  retries: number;
  retryDelayMs: number;
  allowedLatenessMs: number;
  mlWebhook: string | null;
  alertWebhook: string | null;
  exportDir: string;
  /** BigQuery: the gs:// base export_features writes under; null skips the export. */
  exportUri: string | null;
  maxNullRate: number;
  /** The volume-drop warning (volume-drop.ts). */
  dropShare: number;
  dropWeeks: number;
  /** DuckDB: days kept before the processed day; null keeps every day. */
  retentionDays: number | null;
}

function v<K extends keyof EtlConfig>(spec: VarSpec<EtlConfig, K>): VarSpec<EtlConfig, K> {
  return spec;
}

function cron(raw: string): CronSchedule {
  let c: CronSchedule;
  try {
    c = parseCron(raw);
  } catch (err) {
    throw new ValueError(`a 5-field cron expression in UTC (minute hour day-of-month month day-of-week; *, lists, ranges, steps): ${(err as Error).message}`);
  }
  // A day that no month has (30 2 *: February 30th) parses, but would never run the ETL.
  try {
    nextAfter(c, Date.now());
  } catch {
    throw new ValueError('a cron expression that fires: this one names no day that exists (such as February 30th), so the ETL would never run');
  }
  return c;
}


function dirPath(raw: string): string {
  if (raw.trim() === '') throw new ValueError('a directory path');
  return resolve(raw.trim());
}

/**
 * gs://bucket or gs://bucket/prefix (Cloud Storage bucket naming; no wildcard, quotes or control characters in
 * the prefix, since the export appends its own path and `*`). Trailing slashes are dropped.
 */
function gsUriOrEmpty(raw: string): string | null {
  const s = raw.trim().replace(/\/+$/, '');
  if (s === '') return null;
  const m = /^gs:\/\/([^/]+)(\/.*)?$/.exec(s);
  const bucket = m?.[1] ?? '';
  const prefix = m?.[2] ?? '';
  const bucketOk = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket) && !bucket.includes('..');
  if (!m || !bucketOk || /[*?\[\]'"`\\\x00-\x1f]|\/\//.test(prefix)) {
    throw new ValueError('gs://<bucket> or gs://<bucket>/<prefix> (no wildcards, quotes or empty path segments), or empty');
  }
  return s;
}


export const ETL_ENV_VARS = [
  v({ name: 'GAMESTREAM_ETL', key: 'enabled', default: 'on', allowed: 'on | off',
    doc: 'Run the daily ETL scheduler inside the daemon (level and user metrics, quality checks, feature export).', parse: boolFlag }),
  v({ name: 'GAMESTREAM_ETL_SCHEDULE', key: 'schedule', default: '0 2 * * *', allowed: '5-field cron, UTC',
    doc: 'When the daily run fires; each run processes the UTC day before the firing day.', parse: cron }),
  v({ name: 'GAMESTREAM_ETL_CATCHUP', key: 'catchup', default: 'on', allowed: 'on | off',
    doc: 'At start, run the days missed since the last successful day in etl_runs, and the due days in the 14 days before it that never ran (or only the latest due day when none succeeded).', parse: boolFlag }),
  v({ name: 'GAMESTREAM_ETL_POKE_INTERVAL', key: 'pokeIntervalMs', default: '5m', allowed: '10ms–1h',
    doc: 'How often the wait_for_data sensor checks whether the day is complete.', parse: duration(10, 3_600_000) }),
  v({ name: 'GAMESTREAM_ETL_SENSOR_TIMEOUT', key: 'sensorTimeoutMs', default: '1h', allowed: '0–7d',
    doc: 'How long wait_for_data waits for the day to complete before the run fails, counted from the end of the day plus GAMESTREAM_ETL_ALLOWED_LATENESS (or from the start of the wait, when later).', parse: duration(0, 7 * 86_400_000) }),
  v({ name: 'GAMESTREAM_ETL_RETRIES', key: 'retries', default: '2', allowed: '0–20',
    doc: 'Retries per task after its first failed attempt.', parse: integer(0, 20) }),
  v({ name: 'GAMESTREAM_ETL_RETRY_DELAY', key: 'retryDelayMs', default: '5m', allowed: '0–1d',
    doc: 'Wait between attempts of a task.', parse: duration(0, 86_400_000) }),
  v({ name: 'GAMESTREAM_ETL_ALLOWED_LATENESS', key: 'allowedLatenessMs', default: '60s', allowed: '0–1d',
    doc: 'A day counts as complete once a source watermark has passed its end by this much.', parse: duration(0, 86_400_000) }),
  v({ name: 'GAMESTREAM_ETL_ML_WEBHOOK', key: 'mlWebhook', default: '', allowed: 'an http(s) URL, or empty (skip)',
    doc: 'On Sundays (by the processed day) a JSON POST here starts the difficulty-prediction training.', parse: httpUrlOrEmpty, show: () => '<hidden>' }),
  v({ name: 'GAMESTREAM_ETL_ALERT_WEBHOOK', key: 'alertWebhook', default: '', allowed: 'an http(s) URL, or empty',
    doc: 'A task that fails after all its retries is POSTed here as JSON.', parse: httpUrlOrEmpty, show: () => '<hidden>' }),
  v({ name: 'GAMESTREAM_ETL_EXPORT_DIR', key: 'exportDir', default: './data/features', allowed: 'a directory path',
    doc: 'DuckDB warehouse: where export_features writes level_features/date=D/part-0.parquet.', parse: dirPath }),
  v({ name: 'GAMESTREAM_ETL_EXPORT_URI', key: 'exportUri', default: '', allowed: 'gs://<bucket>[/<prefix>], or empty (skip)',
    doc: 'BigQuery warehouse: export_features runs EXPORT DATA to <uri>/level_features/date=D/*.parquet (overwrite). Empty: the task is skipped. Not used with DuckDB (GAMESTREAM_ETL_EXPORT_DIR).', parse: gsUriOrEmpty }),
  v({ name: 'GAMESTREAM_ETL_MAX_NULL_RATE', key: 'maxNullRate', default: '0.01', allowed: 'a fraction from 0 to 1',
    doc: 'Largest share of a day\'s events with NULL country or device_category that passes the quality check (the seed\'s "null rate < 1%"; 1 turns it off).', parse: fraction() }),
  v({ name: 'GAMESTREAM_ETL_DROP_WARNING', key: 'dropShare', default: '0.6', allowed: 'a fraction from 0 to 1 (0 turns it off)',
    doc: 'An event type whose count on the processed day is below this share of its mean on the same weekday of the previous weeks is a warning in the quality checks (it does not fail the run).', parse: fraction() }),
  v({ name: 'GAMESTREAM_ETL_DROP_WEEKS', key: 'dropWeeks', default: '4', allowed: '1–52',
    doc: 'How many previous same weekdays make the mean of the volume-drop warning.', parse: integer(1, 52) }),
  v({ name: 'GAMESTREAM_RETENTION_DAYS', key: 'retentionDays', default: '365', allowed: '1–36500, or 0 (keep every day)',
    doc: 'DuckDB warehouse: the daily run deletes the rows of events, events_dlq, events_agg_1min and the metrics tables dated more than this many days before the processed day (BigQuery: GAMESTREAM_BIGQUERY_PARTITION_EXPIRATION_DAYS).',
    parse: zeroIsOff(integer(0, 36_500)) }),
] as const;

export function loadEtlConfig(env: NodeJS.ProcessEnv = process.env): EtlConfig {
  const { values, problems } = parseVars<EtlConfig>(ETL_ENV_VARS as readonly VarSpec<EtlConfig, keyof EtlConfig>[], env);
  if (problems.length > 0) throw new GamestreamError('config_invalid', `invalid ETL configuration:\n  ${problems.join('\n  ')}`);
  return values as EtlConfig;
}
