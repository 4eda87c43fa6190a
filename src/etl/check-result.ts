/** One data-quality check's outcome for a day, as etl_checks stores it (quality.ts, volume-drop.ts). */
export interface CheckResult {
  name: string;
  /** null: skipped, or a warning (which does not fail the run) */
  passed: boolean | null;
  status: 'passed' | 'failed' | 'warning' | `skipped: ${string}`;
  value: number | null;
  threshold: number | null;
}
