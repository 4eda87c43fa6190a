/**
 * Supervision through the real daemon: a crash loop stops it with a clear error instead of spinning, and what
 * it had committed is still consistent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEventsFile } from '../../bench/make-events.ts';
import { runEngine, type EngineRun } from '../support/truth/engine.ts';

let dir = '';
let input = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gs-sup-'));
  input = join(dir, 'events.ndjson');
  await makeEventsFile(input, 20_000, 3);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(env: Record<string, string>): Promise<EngineRun> {
  return runEngine({ GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '2', ...env }, 60_000);
}

describe('supervisor', () => {
  it('stops with crash_loop when a worker keeps dying', async () => {
    const r = await run({
      GAMESTREAM_SOURCE: `file:${input}`,
      GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'loop.duckdb')}`,
      GAMESTREAM_BATCH_RECORDS: '200',
      GAMESTREAM_TEST_CRASH_WORKER: '1:2:always',
      GAMESTREAM_RESTART_LIMIT: '3',
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/crash_loop: worker 1 crashed 4 times/);
  });

  it('rejects bad configuration before starting, naming every problem', async () => {
    const r = await run({ GAMESTREAM_SOURCE: 'ftp://x', GAMESTREAM_PARTITIONS: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('GAMESTREAM_SOURCE="ftp://x"');
    expect(r.stderr).toContain('GAMESTREAM_PARTITIONS="0"');
  });

  it('says clearly when the input file is missing', async () => {
    const r = await run({ GAMESTREAM_SOURCE: `file:${join(dir, 'nope.ndjson')}`, GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'x.duckdb')}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/input_not_found: cannot read GAMESTREAM_SOURCE file .*nope\.ndjson/);
  });
});
