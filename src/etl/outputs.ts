/**
 * The DAG's outward edges: the Sunday ML-training webhook, the Parquet feature export, and the alert POST.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GamestreamError } from '../errors.ts';
import { sqlDate, sqlString, weekday, type EtlWarehouse } from './warehouse.ts';

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

/** Writes to a temporary name and renames, so a reader never sees half a file and a rerun overwrites. */
export async function exportFeatures(wh: EtlWarehouse, exportDir: string, day: string): Promise<number> {
  const path = featurePath(exportDir, day);
  const tmp = `${path}.tmp`;
  mkdirSync(join(exportDir, 'level_features', `date=${day}`), { recursive: true });
  rmSync(tmp, { force: true });
  await wh.exec(`COPY (SELECT level_id, pass_rate, avg_moves, p95_moves, retry_rate, booster_usage_rate
      FROM level_metrics WHERE date = ${sqlDate(day)} ORDER BY level_id)
    TO ${sqlString(tmp)} (FORMAT parquet)`);
  renameSync(tmp, path);
  const r = await wh.query(`SELECT count(*) AS n FROM level_metrics WHERE date = ${sqlDate(day)}`);
  return Number(r[0]?.n ?? 0);
}
