/**
 * monitoring/alerts.yml and the Grafana dashboard refer only to metrics gamestream exposes; with promtool
 * installed (Debian: apt-get install -y prometheus) the rules are also checked and unit-tested by it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALERT_NAMES, SEVERITY } from '../../src/observability/alerts.ts';
import { Metrics } from '../../src/observability/metrics.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rulesText = readFileSync(`${root}monitoring/alerts.yml`, 'utf8');
interface Panel {
  id: number; title: string; timeFrom?: string; interval?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { refId: string; expr: string }[];
}
const dashboard = JSON.parse(readFileSync(`${root}monitoring/grafana-dashboard.json`, 'utf8')) as { title: string; uid: string; panels: Panel[] };
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

async function exposedNames(): Promise<Set<string>> {
  const m = new Metrics({ defaultMetrics: false });
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

function referenced(expr: string): string[] {
  return [...expr.matchAll(/\bgamestream_[a-z0-9_]+/g)].map((m) => m[0]);
}

/** The metrics a PromQL expression selects: every name followed by a label matcher or a range (`name{…}`, `name[5m]`). */
function selected(expr: string): string[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g)].map((m) => m[1]!);
}

describe('monitoring/alerts.yml', () => {
  it('has the six rules (the seed\'s five and the quality checks\') with the in-process names and severities', () => {
    const alerts = [...rulesText.matchAll(/- alert: (\w+)[\s\S]*?severity: (\w+)/g)].map((m) => [m[1], m[2]]);
    expect(alerts).toEqual(ALERT_NAMES.map((a) => [a, SEVERITY[a]]));
    expect(rulesText).toContain('> 100000');
    expect(rulesText).toContain('> 0.01');
    expect(rulesText).toContain('> 3600');
  });

  it('refers only to exposed metrics', async () => {
    const names = await exposedNames();
    const exprs = rulesText.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
    const used = referenced(exprs);
    expect(used.length).toBeGreaterThan(8);
    expect(used.filter((n) => !names.has(n))).toEqual([]);
  });

  it.skipIf(!hasPromtool)('passes promtool check rules and the rule unit tests', () => {
    const check = execFileSync('promtool', ['check', 'rules', 'monitoring/alerts.yml'], { cwd: root, encoding: 'utf8' });
    expect(check).toContain(`SUCCESS: ${ALERT_NAMES.length} rules found`);
    const tests = spawnSync('promtool', ['test', 'rules', 'monitoring/alerts.test.yml'], { cwd: root, encoding: 'utf8' });
    expect(tests.stdout + tests.stderr).toContain('SUCCESS');
    expect(tests.status).toBe(0);
  });
});

describe('monitoring/grafana-dashboard.json', () => {
  it('charts the required series over exposed metrics only', async () => {
    const names = await exposedNames();
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Events / s', 'Consumer lag', 'Dead-letter rate', 'Watermark delay', 'Warehouse flush duration', 'Worker restarts', 'Event volume, last 24 h', 'Data quality']) expect(titles).toContain(t);
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => referenced(t.expr)));
    expect(used.filter((n) => !names.has(n))).toEqual([]);
    expect(dashboard.uid).toBe('gamestream');
  });

  it('every expression selects only metrics the daemon exports, each on the chosen instances', async () => {
    const names = await exposedNames();
    const wrong: string[] = [];
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        const metrics = selected(t.expr);
        if (metrics.length === 0) wrong.push(`${p.title} ${t.refId}: selects no metric`);
        for (const m of metrics) if (!names.has(m)) wrong.push(`${p.title} ${t.refId}: ${m} is not exported`);
        // Each selector carries the dashboard's instance filter.
        const selectors = [...t.expr.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*\{([^}]*)\}/g)].map((m) => m[1]!);
        for (const sel of selectors) if (!sel.includes('instance=~"$instance"')) wrong.push(`${p.title} ${t.refId}: {${sel}} lacks the instance filter`);
      }
    }
    expect(wrong).toEqual([]);
    // Panels have their own ids and do not cover one another.
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const overlaps = (a: Panel['gridPos'], b: Panel['gridPos']) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (const [i, a] of dashboard.panels.entries()) {
      for (const b of dashboard.panels.slice(i + 1)) expect(overlaps(a.gridPos, b.gridPos), `${a.title} / ${b.title}`).toBe(false);
    }
  });

  it.skipIf(!hasPromtool)('every expression parses (promtool checks them as recording rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-dashboard-'));
    try {
      const rules = dashboard.panels.flatMap((p) => p.targets.map((t, i) => `      - record: panel_${p.id}_${i}\n        expr: ${JSON.stringify(t.expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '5m'))}`));
      writeFileSync(join(dir, 'dashboard.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const check = spawnSync('promtool', ['check', 'rules', join(dir, 'dashboard.yml')], { encoding: 'utf8' });
      expect(check.stdout + check.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has the 24 h event volume and the data-quality panels', () => {
    const panel = (title: string) => dashboard.panels.find((p) => p.title === title)!;
    const volume = panel('Event volume, last 24 h');
    // The last 24 h whatever the dashboard's range, one bar per hour.
    expect(volume.timeFrom).toBe('24h');
    expect(volume.interval).toBe('1h');
    expect(volume.targets.map((t) => t.expr)).toEqual([
      'sum(increase(gamestream_events_written_total{instance=~"$instance"}[1h]))',
      'sum(increase(gamestream_dead_letters_total{instance=~"$instance"}[1h]))',
      'sum(increase(gamestream_duplicates_dropped_total{instance=~"$instance"}[1h]))',
    ]);
    const quality = panel('Data quality');
    const metrics = new Set(quality.targets.flatMap((t) => selected(t.expr)));
    // Dead letters by code against the records, and the ETL's quality checks that fail or warn.
    expect(metrics).toEqual(new Set(['gamestream_dead_letters_total', 'gamestream_records_in_total', 'gamestream_etl_check_failed', 'gamestream_etl_check_warning']));
    expect(quality.targets.map((t) => t.expr).join('\n')).toMatch(/sum by \(code\)/);
  });
});
