/**
 * The DAG's outward edges: the Sunday ML-training webhook, the Parquet feature export (a local file from DuckDB,
 * Cloud Storage objects from BigQuery), and the alert POST.
 */
import { renameSync, rmSync } from 'node:fs';
import { makeDir } from '../dirs.ts';
import { join } from 'node:path';
import { GamestreamError } from '../errors.ts';
import type { EtlConfig } from './config.ts';
import { dialectOf, sqlDate, sqlString, weekday, type EtlWarehouse } from './warehouse.ts';

export type FetchFn = typeof fetch;

const POST_TIMEOUT_MS = 10_000;

/** One POST; a non-2xx answer or a network error is a retryable failure (the task retries carry it). */
export async function postJson(fetchFn: FetchFn, url: string, body: unknown): Promise<number> {
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new GamestreamError('etl_webhook_failed', `POST ${url} failed: ${(err as Error).message}`, { cause: err, retryable: true });
  }
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new GamestreamError('etl_webhook_failed', `POST ${url} answered ${res.status}`, { retryable: true });
  return res.status;
}

export const ML_PIPELINE = 'difficulty-prediction-training';
export const ML_LOOKBACK_DAYS = 30;

export type TaskOutcome = { status: 'success'; rows: number | null } | { status: 'skipped'; reason: string };

export async function triggerMlTraining(fetchFn: FetchFn, url: string | null, day: string): Promise<TaskOutcome> {
  if (weekday(day) !== 0) return { status: 'skipped', reason: `${day} is not a Sunday` };
  if (url === null) return { status: 'skipped', reason: 'no GAMESTREAM_ETL_ML_WEBHOOK configured' };
  await postJson(fetchFn, url, { pipeline_name: ML_PIPELINE, training_date: day, lookback_days: ML_LOOKBACK_DAYS });
  return { status: 'success', rows: null };
}

export function featurePath(exportDir: string, day: string): string {
  return join(exportDir, 'level_features', `date=${day}`, 'part-0.parquet');
}

function featuresSelect(day: string): string {
  return `SELECT level_id, pass_rate, avg_moves, p95_moves, retry_rate, booster_usage_rate
      FROM level_metrics WHERE date = ${sqlDate(day)} ORDER BY level_id`;
}

async function featureRows(wh: EtlWarehouse, day: string): Promise<number> {
  const r = await wh.query(`SELECT count(*) AS n FROM level_metrics WHERE date = ${sqlDate(day)}`);
  return Number(r[0]?.n ?? 0);
}

/** DuckDB: writes to a temporary name and renames, so a reader never sees half a file and a rerun overwrites. */
export async function exportFeatures(wh: EtlWarehouse, exportDir: string, day: string): Promise<number> {
  const path = featurePath(exportDir, day);
  const tmp = `${path}.tmp`;
  makeDir(join(exportDir, 'level_features', `date=${day}`), 'GAMESTREAM_ETL_EXPORT_DIR');
  rmSync(tmp, { force: true });
  await wh.exec(`COPY (${featuresSelect(day)})
    TO ${sqlString(tmp)} (FORMAT parquet)`);
  renameSync(tmp, path);
  return featureRows(wh, day);
}

/** The object pattern EXPORT DATA writes for day D (BigQuery numbers the files from 000000000000). */
export function featureUri(exportUri: string, day: string): string {
  return `${exportUri}/level_features/date=${day}/*.parquet`;
}

/**
 * BigQuery: EXPORT DATA straight from the warehouse to Cloud Storage, overwriting the day's objects. One day's
 * level_metrics is far below the 1 GB at which BigQuery starts a second file, so a rerun replaces the one file.
 */
export async function exportFeaturesToStorage(wh: EtlWarehouse, exportUri: string, day: string): Promise<number> {
  const { str } = dialectOf(wh);
  try {
    await wh.exec(`EXPORT DATA OPTIONS (uri = ${str(featureUri(exportUri, day))}, format = 'PARQUET', overwrite = true) AS
    ${featuresSelect(day)}`);
  } catch (err) {
    // Usually permissions: the job's identity needs storage.objects.create (and .delete, to overwrite) on the bucket.
    throw new GamestreamError('etl_export_failed', `EXPORT DATA to ${featureUri(exportUri, day)} failed: ${(err as Error).message}`, {
      cause: err, retryable: true,
    });
  }
  return featureRows(wh, day);
}

/** The export_features task for the warehouse at hand. */
export async function exportFeaturesTask(wh: EtlWarehouse, config: EtlConfig, day: string): Promise<TaskOutcome> {
  if (dialectOf(wh).name === 'duckdb') return { status: 'success', rows: await exportFeatures(wh, config.exportDir, day) };
  if (config.exportUri === null) return { status: 'skipped', reason: 'no GAMESTREAM_ETL_EXPORT_URI configured (BigQuery exports to Cloud Storage)' };
  return { status: 'success', rows: await exportFeaturesToStorage(wh, config.exportUri, day) };
}
