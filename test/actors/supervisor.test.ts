/**
 * Supervision through the real daemon: a crash loop stops it with a clear error instead of spinning, and what
 * it had committed is still consistent.
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
  dir = mkdtempSync(join(tmpdir(), 'gs-sup-'));
  input = join(dir, 'events.ndjson');
  const gen = new GeneratorSource({ seed: 3, rate: 1e9, total: 20_000, badShare: 0.01 });
  await gen.open();
  const parts: Buffer[] = [];
  for (let c = await gen.next(); c; c = await gen.next()) parts.push(Buffer.from(c.data), Buffer.from('\n'));
  writeFileSync(input, Buffer.concat(parts));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'run'], {
    env: { PATH: process.env.PATH, GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '2', GAMESTREAM_METRICS_PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('supervisor', () => {
  it('stops with crash_loop when a worker keeps dying', () => {
    const r = run({
      GAMESTREAM_SOURCE: `file:${input}`,
      GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'loop.duckdb')}`,
      GAMESTREAM_BATCH_RECORDS: '200',
      GAMESTREAM_TEST_CRASH_WORKER: '1:2:always',
      GAMESTREAM_RESTART_LIMIT: '3',
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/crash_loop: worker 1 crashed 4 times/);
  });

  it('rejects bad configuration before starting, naming every problem', () => {
    const r = run({ GAMESTREAM_SOURCE: 'ftp://x', GAMESTREAM_PARTITIONS: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('GAMESTREAM_SOURCE="ftp://x"');
    expect(r.stderr).toContain('GAMESTREAM_PARTITIONS="0"');
  });

  it('says clearly when the input file is missing', () => {
    const r = run({ GAMESTREAM_SOURCE: `file:${join(dir, 'nope.ndjson')}`, GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'x.duckdb')}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/input_not_found: cannot read GAMESTREAM_SOURCE file .*nope\.ndjson/);
  });
});
