/**
 * The daemon keeps Node's cache of compiled modules (src/cli/main.ts): without it every start, and every worker
 * thread, strips TypeScript types and compiles each module again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEventsFile } from '../../bench/make-events.ts';
import { ENGINE_MAIN, engineEnv, nodeBinary, REPO_ROOT } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-compile-cache-'));
const input = join(dir, 'events.ndjson');
beforeAll(() => makeEventsFile(input, 200, 4));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/**
 * Runs `gamestream <args>` through `entry` with its own temporary folder; the contents of the compile cache's files
 * in it (each names the module it holds).
 */
function cacheAfter(entry: string, args: string[], extra: Record<string, string> = {}): string[] {
  const tmp = join(dir, `tmp-${++n}`);
  mkdirSync(tmp);
  const env = engineEnv({ GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_ETL: 'off', GAMESTREAM_WORKERS: '1',
    GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `w-${n}.duckdb`)}` });
  // Node's own cache settings only as the case gives them.
  for (const k of Object.keys(env)) if (k.startsWith('NODE_COMPILE_CACHE') || k === 'NODE_DISABLE_COMPILE_CACHE') delete env[k];
  Object.assign(env, { TMPDIR: tmp, ...extra });
  const r = spawnSync(nodeBinary(), [entry, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const cache = join(tmp, 'node-compile-cache');
  if (!existsSync(cache)) return [];
  return readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => readFileSync(join(e.parentPath, e.name), 'latin1'));
}

/** Whether a cache file holds the module at this path of the repository (its URL is in it). */
const holds = (files: string[], path: string): boolean => files.some((f) => f.includes(pathToFileURL(join(REPO_ROOT, path)).href));

describe('the compile cache', () => {
  it('is written by a run started as main.ts, for the modules it loads after starting and for its worker thread', () => {
    const files = cacheAfter(ENGINE_MAIN, ['run']);
    expect(holds(files, 'src/cli/run.ts')).toBe(true);
    // Only the worker thread loads its own module: the cache reached it through the environment.
    expect(holds(files, 'src/actors/worker.ts')).toBe(true);
  }, 120_000);

  it('is on from the first module when started through bin/gamestream.js', () => {
    expect(holds(cacheAfter(join(REPO_ROOT, 'bin/gamestream.js'), ['version']), 'src/cli/main.ts')).toBe(true);
  }, 60_000);

  it('is not written with NODE_DISABLE_COMPILE_CACHE=1', () => {
    expect(cacheAfter(ENGINE_MAIN, ['run'], { NODE_DISABLE_COMPILE_CACHE: '1' })).toEqual([]);
  }, 120_000);
});
