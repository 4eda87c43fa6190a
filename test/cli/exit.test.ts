/**
 * A finished command exits even when something still holds the event loop open (a library's socket or timer):
 * a daemon that stopped with an error and hung instead of exiting would never be restarted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeneratorSource } from '../../src/sources/generator.ts';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
let dir = '';
let input = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gs-exit-'));
  input = join(dir, 'events.ndjson');
  const gen = new GeneratorSource({ seed: 5, rate: 1e9, total: 2_000, badShare: 0.01 });
  await gen.open();
  const parts: Buffer[] = [];
  for (let c = await gen.next(); c; c = await gen.next()) parts.push(Buffer.from(c.data), Buffer.from('\n'));
  writeFileSync(input, Buffer.concat(parts));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(source: string, extra: Record<string, string> = {}): { code: number | null; ms: number; stderr: string } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, 'run'], {
    env: {
      PATH: process.env.PATH, GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_METRICS_PORT: '0',
      GAMESTREAM_SOURCE: source, GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `w-${t0}.duckdb`)}`, GAMESTREAM_TEST_LEAK_HANDLE: 'on',
      ...extra,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, ms: Date.now() - t0, stderr: r.stderr };
}

describe('the command exits', () => {
  it('after a finished run, with its exit code, though a timer is still armed', () => {
    const r = run(`file:${input}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/still running 5000 ms after finishing \(open: .*Timeout.*\); exiting/);
  });

  it('after a failed run, with exit code 1', () => {
    const r = run(`file:${input}`, { GAMESTREAM_BATCH_RECORDS: '200', GAMESTREAM_TEST_CRASH_WORKER: '0:2:always', GAMESTREAM_RESTART_LIMIT: '1' });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/crash_loop/);
    expect(r.stderr).toMatch(/still running 5000 ms after finishing/);
  });
});
