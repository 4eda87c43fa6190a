/**
 * A command loads the Kafka and BigQuery client libraries only when its settings name Kafka or BigQuery: loading
 * them took about 0.6 s of CPU and 70 MB at every start of a file → DuckDB run, and each `gamestream sql` took 0.8 s
 * instead of 0.2 s (docs/PERFORMANCE.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEventsFile } from '../../bench/make-events.ts';
import { ENGINE_MAIN, engineEnv, nodeBinary, REPO_ROOT } from '../support/truth/engine.ts';

const RECORDER = join(REPO_ROOT, 'test/support/record-loads.ts');
const BACKEND_LIBRARIES = /\/node_modules\/(@platformatic\/kafka|@google-cloud\/|google-auth-library|@grpc\/)/;

const MINUTE = 60_000;
let dir = '';
let input = '';
let warehouse = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gs-lazy-'));
  input = join(dir, 'events.ndjson');
  warehouse = `duckdb:${join(dir, 'w.duckdb')}`;
  await makeEventsFile(input, 500, 3);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** The engine's environment with these settings and the recorder's file. */
const envWith = (out: string, settings: Record<string, string>): NodeJS.ProcessEnv => ({ ...engineEnv({ GAMESTREAM_LOG_LEVEL: 'warn', ...settings }), RECORD_LOADS_TO: out });

/** Runs `gamestream <args>` with these settings; returns the modules its main thread loaded. */
function loadsOf(args: string[], settings: Record<string, string>): string[] {
  const out = join(dir, `loads-${++n}.txt`);
  const r = spawnSync(nodeBinary(), ['--import', RECORDER, ENGINE_MAIN, ...args], { env: envWith(out, settings), encoding: 'utf8', timeout: MINUTE });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(out, 'utf8').split('\n');
}

describe('backend libraries', () => {
  const fileRun = { GAMESTREAM_ETL: 'off', GAMESTREAM_WORKERS: '1' };

  it('are not loaded by a file → DuckDB run', () => {
    const loads = loadsOf(['run'], { ...fileRun, GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: warehouse });
    // The recorder sees the packages that are loaded: DuckDB's client is one.
    expect(loads.some((u) => u.includes('/node_modules/@duckdb/node-api/'))).toBe(true);
    expect(loads.filter((u) => BACKEND_LIBRARIES.test(u))).toEqual([]);
  }, 2 * MINUTE);

  it('are not loaded by gamestream sql or dlq stats on a DuckDB file', () => {
    // A warehouse of its own, so that the case does not depend on the one before.
    const own = `duckdb:${join(dir, 'sql.duckdb')}`;
    loadsOf(['run'], { ...fileRun, GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: own });
    for (const args of [['sql', 'SELECT count(*) FROM events'], ['dlq', 'stats']]) {
      const loads = loadsOf(args, { GAMESTREAM_WAREHOUSE: own });
      expect(loads.some((u) => u.includes('/node_modules/@duckdb/node-api/')), args.join(' ')).toBe(true);
      expect(loads.filter((u) => BACKEND_LIBRARIES.test(u)), args.join(' ')).toEqual([]);
    }
  }, 3 * MINUTE);

  it('are loaded when the settings name them (the check itself works)', async () => {
    // Each adapter is loaded before anything connects, so the unreachable addresses do not matter: the command is
    // stopped once the library shows up in the list.
    const bigquery = { GAMESTREAM_WAREHOUSE: 'bigquery:my-project.game_analytics', GAMESTREAM_BIGQUERY_ENDPOINT: 'http://127.0.0.1:1', GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: 'http://127.0.0.1:1' };
    expect(await loadsUntil(['sql', 'SELECT 1'], bigquery, /\/node_modules\/@google-cloud\/bigquery\//)).toBe(true);
    const kafka = { GAMESTREAM_SOURCE: 'kafka', GAMESTREAM_KAFKA_BROKERS: '127.0.0.1:1', GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'kafka.duckdb')}`, GAMESTREAM_ETL: 'off' };
    expect(await loadsUntil(['run'], kafka, /\/node_modules\/@platformatic\/kafka\//)).toBe(true);
  }, 3 * MINUTE);
});

/**
 * Starts `gamestream <args>` and stops it (SIGKILL, by its pid) once it has loaded a module matching `want`, once
 * it ends, or after a minute; whether it loaded one.
 */
async function loadsUntil(args: string[], settings: Record<string, string>, want: RegExp): Promise<boolean> {
  const out = join(dir, `loads-${++n}.txt`);
  const child = spawn(nodeBinary(), ['--import', RECORDER, ENGINE_MAIN, ...args], { env: envWith(out, settings), stdio: 'ignore' });
  const ended = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exited = false;
  void ended.then(() => (exited = true));
  const seen = (): boolean => existsSync(out) && want.test(readFileSync(out, 'utf8'));
  const deadline = Date.now() + MINUTE;
  try {
    while (!exited && !seen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } finally {
    if (!exited) child.kill('SIGKILL');
    await ended;
  }
  return seen();
}
