import { describe, expect, it } from 'vitest';
import { allEnvVars } from '../../src/cli/env-vars.ts';
import { FAULT_VARS, loadFaults, NO_FAULTS } from '../../src/config/faults.ts';
import { ENV_VARS, loadConfig } from '../../src/config/schema.ts';

describe('fault injection', () => {
  it('is off unless asked for', () => {
    expect(loadFaults({}, 2)).toEqual(NO_FAULTS);
  });

  it('reads the GAMESTREAM_TEST_* variables into one object', () => {
    expect(loadFaults({
      GAMESTREAM_TEST_CRASH_WORKER: '1:5:always', GAMESTREAM_TEST_COMMIT_DELAY: '300ms',
      GAMESTREAM_TEST_LEAK_HANDLE: 'on', GAMESTREAM_TEST_KILL_AFTER_COMMIT_RECORD: '2', GAMESTREAM_TEST_CLAIM_DELAY: '2s', GAMESTREAM_TEST_OPEN_DELAY: '1s',
    }, 2)).toEqual({ crashWorker: { worker: 1, afterBatches: 5, always: true }, commitDelayMs: 300, claimDelayMs: 2000, leakHandle: true, openDelayMs: 1000, killAfterCommitRecord: 2, stopBeforeCommitRecord: 0 });
  });

  it('is kept out of the configuration and out of `gamestream env`', () => {
    const config = loadConfig({ GAMESTREAM_TEST_COMMIT_DELAY: '1s' }) as unknown as Record<string, unknown>;
    expect(Object.keys(config).filter((k) => /^test/i.test(k))).toEqual([]);
    const listed = allEnvVars().map((v) => v.name);
    expect(listed.filter((n) => n.startsWith('GAMESTREAM_TEST_'))).toEqual([]);
    expect(ENV_VARS.map((v) => v.name).filter((n) => n.startsWith('GAMESTREAM_TEST_'))).toEqual([]);
    for (const v of FAULT_VARS) expect(v.name).toMatch(/^GAMESTREAM_TEST_/);
  });

  it('reports a bad value together with the configuration\'s own problems', () => {
    let message = '';
    try {
      loadConfig({ GAMESTREAM_TEST_COMMIT_DELAY: 'slow', GAMESTREAM_WINDOW_SIZE: 'x' });
    } catch (err) {
      expect((err as { code: string }).code).toBe('config_invalid');
      message = (err as Error).message;
    }
    expect(message).toContain('GAMESTREAM_TEST_COMMIT_DELAY="slow" is not valid');
    expect(message).toContain('GAMESTREAM_WINDOW_SIZE="x" is not valid');
  });

  it('refuses a crash of a worker that does not exist', () => {
    expect(() => loadFaults({ GAMESTREAM_TEST_CRASH_WORKER: '2:1' }, 2)).toThrow(/GAMESTREAM_TEST_CRASH_WORKER names worker 2, but GAMESTREAM_WORKERS=2/);
  });
});
