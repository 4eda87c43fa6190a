// The CLI drops Node's TimeoutNegativeWarning (kafkajs arms a negative timer) and nothing else.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const MODULE = new URL('../../src/cli/quiet-warnings.ts', import.meta.url).href;

function stderrOf(script: string): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stderr;
}

const TRIGGER = "setTimeout(() => {}, -1795801289575); process.emitWarning('still shown', 'CustomWarning');";

describe('quiet-warnings', () => {
  it('Node warns about a negative timer without it', () => {
    expect(stderrOf(TRIGGER)).toMatch(/TimeoutNegativeWarning/);
  });

  it('drops that warning and keeps the others', () => {
    const err = stderrOf(`await import(${JSON.stringify(MODULE)}); ${TRIGGER}`);
    expect(err).not.toMatch(/TimeoutNegativeWarning/);
    expect(err).toMatch(/CustomWarning: still shown/);
  });
});
