/**
 * monitoring/alerts.yml and the Grafana dashboard refer only to metrics gamestream exposes; with promtool
 * installed (Debian: apt-get install -y prometheus) the rules are also checked and unit-tested by it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALERT_NAMES, SEVERITY } from '../../src/observability/alerts.ts';
import { Metrics } from '../../src/observability/metrics.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rulesText = readFileSync(`${root}monitoring/alerts.yml`, 'utf8');
const dashboard = JSON.parse(readFileSync(`${root}monitoring/grafana-dashboard.json`, 'utf8')) as {
  title: string; uid: string; panels: { title: string; targets: { expr: string }[] }[];
};
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
    for (const t of ['Events / s', 'Consumer lag', 'Dead-letter rate', 'Watermark delay', 'Warehouse flush duration', 'Worker restarts']) expect(titles).toContain(t);
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => referenced(t.expr)));
    expect(used.filter((n) => !names.has(n))).toEqual([]);
    expect(dashboard.uid).toBe('gamestream');
  });
});
