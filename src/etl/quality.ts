/**
 * data_quality_check for day D. Every check's outcome is stored in etl_checks (D's rows for the check are
 * replaced, so reruns keep one row per check and day); any failed check fails the task.
 */
import { GamestreamError } from '../errors.ts';
import type { CheckResult } from './check-result.ts';
import { volumeDropChecks, type DropRule } from './volume-drop.ts';
import { addDays, dayStartMs, dialectOf, execTransaction, sqlDate, sqlTimestamp, uniqueEvents, type EtlWarehouse } from './warehouse.ts';

export const MAX_DLQ_RATE = 0.01;
export const VOLUME_TOLERANCE = 0.5;
const ENRICHMENT_COLUMNS = ['country', 'device_category'] as const;

function check(name: string, passed: boolean, value: number | null, threshold: number | null): CheckResult {
  return { name, passed, status: passed ? 'passed' : 'failed', value, threshold };
}

export async function runQualityChecks(wh: EtlWarehouse, day: string, maxNullRate: number, drop: DropRule): Promise<CheckResult[]> {
  const d = sqlDate(day);
  const { countIf } = dialectOf(wh);
  const start = dayStartMs(day);
  const [lm] = await wh.query(`SELECT count(*) AS n, ${countIf('level_id IS NULL')} AS null_levels,
      ${countIf('pass_rate < 0 OR pass_rate > 1')} AS bad_pass_rates FROM level_metrics WHERE date = ${d}`);
  const [ev] = await wh.query(`SELECT count(*) AS n,
      ${ENRICHMENT_COLUMNS.map((c) => `${countIf(`${c} IS NULL`)} AS null_${c}`).join(', ')}
    FROM ${uniqueEvents(`event_date = ${d}`)} AS e`);
  const [dl] = await wh.query(`SELECT count(*) AS n FROM events_dlq
    WHERE received_at >= ${sqlTimestamp(start)} AND received_at < ${sqlTimestamp(start + 86_400_000)}`);
  // Exact decimals on both sides: any difference is a real one. As text, so no double rounds it away.
  const [rev] = await wh.query(`SELECT
      (SELECT CAST(coalesce(sum(revenue_usd), 0) AS ${dialectOf(wh).moneyType}) FROM revenue_daily WHERE date = ${d}) -
      (SELECT CAST(coalesce(sum(revenue_usd), 0) AS ${dialectOf(wh).moneyType}) FROM user_daily_metrics WHERE date = ${d}) AS diff`);
  const history = await wh.query(`SELECT event_date, count(*) AS n
    FROM ${uniqueEvents(`event_date >= ${sqlDate(addDays(day, -7))} AND event_date < ${d}`)} AS e GROUP BY event_date`);

  const events = Number(ev.n);
  const deadLetters = Number(dl.n);
  const out: CheckResult[] = [
    check('no_null_level_id', Number(lm.null_levels) === 0, Number(lm.null_levels), 0),
    check('pass_rate_in_range', Number(lm.bad_pass_rates) === 0, Number(lm.bad_pass_rates), 0),
    check('has_data', Number(lm.n) > 0, Number(lm.n), 1),
  ];
  const revenueDiff = Number(String(rev.diff));
  out.push(check('revenue_matches_user_metrics', revenueDiff === 0, revenueDiff, 0));
  const dlqRate = events + deadLetters === 0 ? 0 : deadLetters / (events + deadLetters);
  out.push(check('dlq_rate', dlqRate < MAX_DLQ_RATE, dlqRate, MAX_DLQ_RATE));
  for (const c of ENRICHMENT_COLUMNS) {
    const rate = events === 0 ? 0 : Number(ev[`null_${c}`]) / events;
    out.push(check(`null_rate_${c}`, rate <= maxNullRate, rate, maxNullRate));
  }
  if (history.length === 0) {
    out.push({ name: 'volume_vs_7d_mean', passed: null, status: 'skipped: no history', value: events, threshold: null });
  } else {
    // Mean over the trailing days that have events: a day the pipeline did not see is no evidence of volume.
    const mean = history.reduce((s, r) => s + Number(r.n), 0) / history.length;
    out.push(check('volume_vs_7d_mean', Math.abs(events - mean) <= VOLUME_TOLERANCE * mean, events, mean));
  }
  out.push(...(await volumeDropChecks(wh, day, drop)));
  return out;
}

function lit(x: number | null): string {
  return x === null || !Number.isFinite(x) ? 'NULL' : String(x);
}

export async function storeChecks(wh: EtlWarehouse, day: string, runId: string, checks: CheckResult[]): Promise<void> {
  const { str } = dialectOf(wh);
  const values = checks.map(
    (c) => `(${sqlDate(day)}, ${str(c.name)}, ${c.passed === null ? 'NULL' : c.passed}, ${str(c.status)}, ${lit(c.value)}, ${lit(c.threshold)}, ${str(runId)})`,
  );
  await execTransaction(wh, [
    `DELETE FROM etl_checks WHERE date = ${sqlDate(day)}`,
    `INSERT INTO etl_checks (date, check_name, passed, status, value, threshold, run_id) VALUES ${values.join(', ')}`,
  ]);
}

/** The task: run, store, and fail when any check failed. Returns the number of checks stored. */
export async function dataQualityCheck(
  wh: EtlWarehouse, day: string, runId: string, maxNullRate: number, drop: DropRule, onChecks?: (checks: CheckResult[]) => void,
): Promise<number> {
  const checks = await runQualityChecks(wh, day, maxNullRate, drop);
  await storeChecks(wh, day, runId, checks);
  onChecks?.(checks);
  const failed = checks.filter((c) => c.passed === false);
  if (failed.length > 0) {
    throw new GamestreamError(
      'etl_quality_failed',
      `data quality failed for ${day}: ${failed.map((c) => `${c.name} (value ${c.value}, threshold ${c.threshold})`).join(', ')}`,
    );
  }
  return checks.length;
}
