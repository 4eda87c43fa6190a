/** A GAMESTREAM_* variable nothing reads is a typo until shown otherwise: the command stops and names it. */
import { describe, expect, it } from 'vitest';
import { allEnvVars, unknownVarProblems } from '../../src/cli/env-vars.ts';
import { describeRun, runEngine } from '../support/truth/engine.ts';

describe('unknown GAMESTREAM_* variables', () => {
  it('are named, with the closest setting when one is near', () => {
    expect(unknownVarProblems({ GAMESTREAM_SORCE: 'kafka', GAMESTREAM_FLUSH_INTREVAL: '1s', GAMESTREAM_SOMETHING_ELSE: '1', PATH: '/bin' })).toEqual([
      "GAMESTREAM_FLUSH_INTREVAL is not a gamestream setting: did you mean GAMESTREAM_FLUSH_INTERVAL? ('gamestream env' lists every setting; unset it or fix the name)",
      "GAMESTREAM_SOMETHING_ELSE is not a gamestream setting ('gamestream env' lists every setting; unset it or fix the name)",
      "GAMESTREAM_SORCE is not a gamestream setting: did you mean GAMESTREAM_SOURCE? ('gamestream env' lists every setting; unset it or fix the name)",
    ]);
  });

  it('leave every documented setting, the test switches and the scripts\' cache alone', () => {
    const env: Record<string, string> = { GAMESTREAM_TEST_CRASH_WORKER: '0:1', GAMESTREAM_TEST_ANY_HARNESS_SETTING: 'x', GAMESTREAM_CACHE: '/c', GAMESTREAM_LOADGEN_API_KEY: 'k' };
    for (const v of allEnvVars()) env[v.name] = 'x';
    expect(unknownVarProblems(env)).toEqual([]);
  });

  it('stop the daemon before it starts, with exit code 2, in the same report as other problems', async () => {
    const r = await runEngine({ GAMESTREAM_SORCE: 'file:/nonexistent', GAMESTREAM_IDLE_TIMEOUT: '60', GAMESTREAM_WAREHOUSE: 'duckdb:/tmp/never-made/w.duckdb' }, 60_000);
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toContain('GAMESTREAM_SORCE is not a gamestream setting: did you mean GAMESTREAM_SOURCE?');
    expect(r.stderr).toContain('GAMESTREAM_IDLE_TIMEOUT="60" is not valid: expected a duration with its unit: 60s or 60ms?');
  });
});

describe('gamestream env', () => {
  it('stops quietly, exit 0, when its reader closes the pipe early (| head)', async () => {
    const { firstChunkThenClose } = await import('../support/truth/engine.ts');
    const { first, stderr, code } = await firstChunkThenClose(['env']);
    expect(first).toMatch(/^GAMESTREAM_/);
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});

describe('gamestream env, the listing', () => {
  it('shows the value in effect and where it comes from, masks secrets, and leaves the test switches out', async () => {
    const { spawnSync } = await import('node:child_process');
    const { ENGINE_MAIN, nodeBinary } = await import('../support/truth/engine.ts');
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, GAMESTREAM_WORKERS: '1', GAMESTREAM_INGEST_API_KEYS: 'game:supersecretkey123456' };
    const r = spawnSync(nodeBinary(), [ENGINE_MAIN, 'env'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('GAMESTREAM_WORKERS\n  in effect: "1" (from the environment)');
    expect(r.stdout).toContain('GAMESTREAM_SOURCE\n  in effect: the default\n  default: generator');
    expect(r.stdout).not.toContain('supersecretkey123456');
    expect(r.stdout).toMatch(/GAMESTREAM_INGEST_API_KEYS\n {2}in effect: "game:supe…" \(from the environment\)/);
    expect(r.stdout).not.toContain('GAMESTREAM_TEST_');
  });
});
