import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const scripts = fileURLToPath(new URL('../../scripts/', import.meta.url));

// Several brokers and emulators may run on one machine (parallel CI jobs, a developer's own): a stop script
// must be told which one, never fall back to "the one started last" from a file every run shares.
describe('the service stop scripts need the directory that names the service', () => {
  for (const [script, flag] of [['kafka/stop.sh', '--data-dir'], ['bqemulator/stop.sh', '--dir']] as const) {
    it(`${script} without ${flag} stops nothing and says what to give`, () => {
      const r = spawnSync('bash', [scripts + script], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`give ${flag} DIR`);
    });
  }

  for (const [script, flag, last] of [['kafka/stop.sh', '--data-dir', '--remove-data also deletes'], ['bqemulator/stop.sh', '--dir', 'also deletes DIR']] as const) {
    it(`${script} --help prints its whole header, down to its last option`, () => {
      const r = spawnSync('bash', [scripts + script, '--help'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.stderr).toContain(`${flag} DIR`);
      expect(r.stderr).toContain(last);
      expect(r.stderr).not.toContain('set -euo');
    });
  }

  it('the start scripts record no machine-wide "started last" file', () => {
    for (const s of ['kafka/start.sh', 'bqemulator/start.sh', 'schema-registry/start.sh']) {
      expect(readFileSync(scripts + s, 'utf8'), s).not.toMatch(/last-(data-)?dir/);
    }
  });
});
