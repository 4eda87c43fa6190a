/**
 * A finished command exits even when something still holds the event loop open (a library's socket or timer):
 * a daemon that stopped with an error and hung instead of exiting would never be restarted.
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
  dir = mkdtempSync(join(tmpdir(), 'gs-exit-'));
  input = join(dir, 'events.ndjson');
  await makeEventsFile(input, 2_000, 5);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let runs = 0;

function run(source: string, extra: Record<string, string> = {}): Promise<EngineRun> {
  return runEngine({
    GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_SOURCE: source,
    GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `w-${++runs}.duckdb`)}`, GAMESTREAM_TEST_LEAK_HANDLE: 'on', ...extra,
  }, 60_000);
}

describe('the command exits', () => {
  it('after a finished run, with its exit code, though a timer is still armed', async () => {
    const r = await run(`file:${input}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/still running 5000 ms after finishing \(open: .*Timeout.*\); exiting/);
  });

  it('after a failed run, with exit code 1', async () => {
    const r = await run(`file:${input}`, { GAMESTREAM_BATCH_RECORDS: '200', GAMESTREAM_TEST_CRASH_WORKER: '0:2:always', GAMESTREAM_RESTART_LIMIT: '1' });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/crash_loop/);
    expect(r.stderr).toMatch(/still running 5000 ms after finishing/);
  });

  it('at once with a clear error when a configured path cannot be made, instead of spinning (/proc, a file as parent)', async () => {
    for (const [setting, value] of [
      ['GAMESTREAM_WAREHOUSE', 'duckdb:/proc/gamestream-nowhere/w.duckdb'],
      ['GAMESTREAM_WAREHOUSE', `duckdb:${input}/w.duckdb`],
      ['GAMESTREAM_DEDUPE_DIR', '/proc/gamestream-nowhere/dedupe'],
      ['GAMESTREAM_SPOOL_DIR', `${input}/spool`],
      ['GAMESTREAM_ETL_EXPORT_DIR', `${input}/features`],
    ] as const) {
      const r = await runEngine({
        GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_SOURCE: `file:${input}`,
        GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `w-${++runs}.duckdb`)}`, [setting]: value,
      }, 20_000);
      expect(r.timedOut, `${setting}=${value}: still running after 20 s\n${r.stderr}`).toBe(false);
      expect(r.code, `${setting}=${value}: exit ${r.code}, signal ${r.signal} after ${r.ms} ms\n${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(setting);
      expect(r.stderr).toMatch(/cannot create the directory/);
    }
  });

  it('stopped by a SIGTERM that came before the engine started (a slow warehouse open): drains at once, exit 0, nothing read', async () => {
    const r = await runEngine({
      GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_ETL: 'off',
      GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `w-${++runs}.duckdb`)}`, GAMESTREAM_TEST_OPEN_DELAY: '2s', GAMESTREAM_SHUTDOWN_TIMEOUT: '60s',
    }, 50_000, (out) => out.includes('metrics, health and status page on'), 'SIGTERM');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SIGTERM: draining');
    expect(r.stdout).toMatch(/stopped: 0 records/);
    expect(r.stdout).not.toContain('end of input');
  });
});
