/**
 * The daily ETL's data-quality checks as metrics: the seed's dashboard shows them, and an alert rule
 * (monitoring/alerts.yml, EtlQualityCheck) fires on a failed check or a warning (a volume drop) of the latest day
 * checked. One series per check name; each run's checks replace the previous run's values.
 */
import { Gauge, type Registry } from 'prom-client';
import type { CheckResult } from '../etl/check-result.ts';

export class EtlCheckMetrics {
  private readonly failed: Gauge<'check'>;
  private readonly warning: Gauge<'check'>;
  private readonly day: Gauge;
  private last: { day: string; failed: string[]; warnings: string[] } | null = null;

  constructor(registry: Registry) {
    const registers = [registry];
    this.failed = new Gauge({ name: 'gamestream_etl_check_failed', help: '1 when the check failed for the latest day the ETL checked, else 0 (etl_checks).', labelNames: ['check'], registers });
    this.warning = new Gauge({ name: 'gamestream_etl_check_warning', help: '1 when the check gave a warning for the latest day the ETL checked (a volume drop), else 0.', labelNames: ['check'], registers });
    this.day = new Gauge({ name: 'gamestream_etl_checked_day_timestamp_seconds', help: 'The UTC day (its start, Unix time) the latest quality checks were for.', registers });
  }

  set(day: string, checks: readonly CheckResult[]): void {
    this.failed.reset();
    this.warning.reset();
    for (const c of checks) {
      const check = c.name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
      this.failed.set({ check }, c.status === 'failed' ? 1 : 0);
      this.warning.set({ check }, c.status === 'warning' ? 1 : 0);
    }
    this.day.set(Date.parse(`${day}T00:00:00Z`) / 1000);
    this.last = {
      day, failed: checks.filter((c) => c.status === 'failed').map((c) => c.name), warnings: checks.filter((c) => c.status === 'warning').map((c) => c.name),
    };
  }

  /** The latest day's failed and warning checks (the in-process alert); null before the first run. */
  latest(): { day: string; failed: string[]; warnings: string[] } | null {
    return this.last;
  }
}
