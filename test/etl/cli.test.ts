/** `gamestream etl` on a DuckDB file: run, resumable backfill with progress, status, and a locked file. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etlCommand as command } from '../../src/cli/etl.ts';
import { generateDay, insertEvents, openTestWarehouse, setWatermark, type TestWarehouse } from './support/world.ts';

let t: TestWarehouse;
let out: string;
let err: string;

beforeAll(async () => {
  t = await openTestWarehouse();
  await insertEvents(t, [...generateDay('2026-11-18', 21), ...generateDay('2026-11-19', 22), ...generateDay('2026-11-20', 23)]);
  await setWatermark(t, Date.parse('2026-11-21T06:00:00Z'), false);
  t.release();
});
afterAll(() => t.close());

function capture(): void {
  out = '';
  err = '';
}

const etlCommand = (args: string[], tty = false): Promise<number> => command(args, {
  stdout: { write: (s: string) => (out += s) },
  stderr: { write: (s: string) => (err += s), isTTY: tty },
  env: {
    GAMESTREAM_WAREHOUSE: `duckdb:${t.path}`, GAMESTREAM_ETL_EXPORT_DIR: join(t.dir, 'features'),
    GAMESTREAM_ETL_RETRY_DELAY: '1ms', GAMESTREAM_ETL_SENSOR_TIMEOUT: '0', GAMESTREAM_LOG_LEVEL: 'silent',
  },
});

/** Plain processes: none of the test runner's own variables (worker ids, IPC hints) leak into them. */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VITEST|NODE_|TINYPOOL)/.test(k)));
}

/**
 * `gamestream etl …` as its own process, on a warehouse whose 2026-11-20 waits for its data (the source's
 * watermark half a day behind), once it has said what it waits for: as an operator sees it before a Ctrl-C.
 */
async function waitingEtl(args: string[]): Promise<{ cli: ReturnType<typeof spawn>; out: () => string; exited: Promise<number | null>; w: Awaited<ReturnType<typeof openTestWarehouse>> }> {
  const w = await openTestWarehouse();
  await insertEvents(w, generateDay('2026-11-20', 41));
  await setWatermark(w, Date.parse('2026-11-20T12:00:00Z'), false);
  w.release();
  const env = { ...childEnv(), GAMESTREAM_WAREHOUSE: `duckdb:${w.path}`, GAMESTREAM_LOG_LEVEL: 'info', GAMESTREAM_ETL_POKE_INTERVAL: '1s', GAMESTREAM_ETL_SENSOR_TIMEOUT: '1h' };
  const cli = spawn(process.execPath, ['src/cli/main.ts', 'etl', ...args], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  cli.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  cli.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => cli.on('exit', (c) => resolve(c)));
  const deadline = Date.now() + 60_000;
  while (!/ETL 2026-11-20 waits for source file:\/test\/events.ndjson: watermark 2026-11-20T12:00:00.000Z/.test(stderr)) {
    if (Date.now() > deadline) {
      cli.kill('SIGKILL');
      w.close();
      throw new Error(`the run never said what it waits for:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { cli, out: () => stdout, exited, w };
}

describe('gamestream etl', () => {
  it('runs one day, then a resumable backfill with a plain progress line per day', async () => {
    capture();
    expect(await etlCommand(['run', '--date', '2026-11-19'])).toBe(0);
    expect(out).toContain('2026-11-19: success');
    capture();
    expect(await etlCommand(['backfill', '--from', '2026-11-18', '--to', '2026-11-21'])).toBe(1);
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\[gamestream etl\] 1\/4 2026-11-18 success \(elapsed .*, ETA .*\)$/);
    expect(lines[1]).toContain('2/4 2026-11-19 already done');
    expect(lines[3]).toContain('4/4 2026-11-21 failed (wait_for_data)'); // no events that day, never complete
    expect(out).toContain('3/4 days done, 1 failed');
    capture();
    expect(await etlCommand(['backfill', '--from', '2026-11-18', '--to', '2026-11-20'])).toBe(0);
    expect(err.match(/already done/g)).toHaveLength(3);
  });

  it('prints a summary per day, the recent task attempts as a table, and their errors in full', async () => {
    capture();
    expect(await etlCommand(['status', '--limit', '5'])).toBe(0);
    const [daysPart, tasksPart, errorsPart] = out.trim().split('\n\n');
    const days = daysPart!.split('\n');
    expect(days[1]).toMatch(/^date\s+status\s+started_at\s+seconds\s+failed_tasks\s+failed_checks\s+warnings\s+run_id$/);
    // The latest run of each day: 2026-11-21 failed in one task; the others succeeded, every check passed.
    expect(days.slice(3)).toHaveLength(4);
    expect(days[3]).toMatch(/^2026-11-21\s+failed\s+\S+ \S+\s+[\d.]+\s+1\s+0\s+0\s+etl-2026-11-21-/);
    expect(days[4]).toMatch(/^2026-11-20\s+success\s+\S+ \S+\s+[\d.]+\s+0\s+0\s+0\s+etl-2026-11-20-/);
    const tasks = tasksPart!.split('\n');
    expect(tasks[1]).toMatch(/^date\s+task\s+attempt\s+status\s+started_at\s+seconds\s+rows\s+run_id$/);
    expect(tasks.slice(3)).toHaveLength(5);
    expect(tasks[3]).toMatch(/^2026-11-21\s+dag\s+1\s+failed/);
    // Whole: the error that says why 2026-11-21 failed is longer than a table cell could hold.
    const errors = errorsPart!.split('\n');
    expect(errors[0]).toBe('Errors:');
    expect(errors[1]).toMatch(/^2026-11-21 wait_for_data attempt \d+: /);
    expect(errors[1]!.length).toBeGreaterThan(100);
  });

  it('rejects bad arguments with exit code 2', async () => {
    capture();
    expect(await etlCommand(['run', '--date', '2026-02-30'])).toBe(2);
    expect(err).toContain('--date="2026-02-30" is not valid');
    expect(await etlCommand(['backfill', '--from', '2026-11-20', '--to', '2026-11-19'])).toBe(2);
    expect(await etlCommand(['frobnicate'])).toBe(2);
    // A missing date is said to be missing, with an example, not taken for an empty one.
    expect(await etlCommand(['run'])).toBe(2);
    expect(err).toMatch(/--date is missing: give the UTC day as --date YYYY-MM-DD \(for example --date \d{4}-\d{2}-\d{2}, yesterday\)/);
    expect(await etlCommand(['backfill', '--from', '--to', '2026-11-19'])).toBe(2);
    expect(err).toContain('--from is missing');
    // A day not over yet is refused at once, saying from when it can be run (its sensor would wait for it in vain).
    const today = new Date().toISOString().slice(0, 10);
    capture();
    expect(await etlCommand(['run', '--date', today])).toBe(2);
    expect(err).toMatch(new RegExp(`${today} is not over yet: it can be complete from \\d{4}-\\d{2}-\\d{2}T.*GAMESTREAM_ETL_ALLOWED_LATENESS`));
    capture();
    expect(await etlCommand(['backfill', '--from', '2026-11-18', '--to', '2999-01-01'])).toBe(2);
    expect(err).toContain('end --to before it');
  });

  it('on a terminal, redraws one progress bar with an ETA instead of printing a line per day', async () => {
    capture();
    expect(await etlCommand(['backfill', '--from', '2026-11-18', '--to', '2026-11-20', '--force'], true)).toBe(0);
    const frames = err.split('\r').filter((f) => f !== '');
    expect(frames).toHaveLength(3);
    expect(frames[0]).toMatch(/^\[#{10}\.{20}\] 1\/3 2026-11-18 success {2}ETA \S+ +$/);
    expect(frames[1]).toMatch(/^\[#{20}\.{10}\] 2\/3 2026-11-19 success {2}ETA \S+ +$/);
    // The last frame completes the bar and ends the line.
    expect(frames[2]).toMatch(/^\[#{30}\] 3\/3 2026-11-20 success {2}ETA 0s +\n$/);
    expect(err.split('\n')).toHaveLength(2);
  });

  it('says clearly when the daemon (another process) holds the file', async () => {
    const holder = spawn(process.execPath, ['--input-type=module', '-e',
      `import { DuckDBInstance } from '@duckdb/node-api'; const i = await DuckDBInstance.create(${JSON.stringify(t.path)}); await i.connect(); console.log('open'); setTimeout(() => {}, 20000);`,
    ], { cwd: process.cwd(), env: childEnv(), stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      // The CLI in a process of its own, as an operator would run it next to the daemon.
      const cli = spawn(process.execPath, ['--input-type=module', '-e',
        `import { etlCommand } from './src/cli/etl.ts'; process.exitCode = await etlCommand(['status']);`,
      ], { cwd: process.cwd(), env: { ...childEnv(), GAMESTREAM_WAREHOUSE: `duckdb:${t.path}` }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      cli.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const code = await new Promise<number | null>((resolve) => cli.on('exit', (c) => resolve(c)));
      expect(stderr).toMatch(/locked by another process \(is the gamestream daemon running on it\?/);
      expect(code).toBe(1);
    } finally {
      const gone = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill();
      await gone;
    }
  });

  it('a backfill fails a day without data at once, says why, and goes on with the next', async () => {
    const w = await openTestWarehouse();
    await insertEvents(w, [...generateDay('2026-11-18', 31), ...generateDay('2026-11-20', 33)]);
    await setWatermark(w, Date.parse('2026-11-21T06:00:00Z'), false);
    w.release();
    capture();
    const started = Date.now();
    // The sensor's real timeout and poke interval: a day it waited on would take an hour.
    const code = await command(['backfill', '--from', '2026-11-18', '--to', '2026-11-20'], {
      stdout: { write: (x: string) => (out += x) },
      stderr: { write: (x: string) => (err += x), isTTY: false },
      env: { GAMESTREAM_WAREHOUSE: `duckdb:${w.path}`, GAMESTREAM_ETL_EXPORT_DIR: join(w.dir, 'features'), GAMESTREAM_LOG_LEVEL: 'silent', GAMESTREAM_ETL_MAX_NULL_RATE: '1' },
    });
    const lines = err.trim().split('\n');
    try {
      expect(code).toBe(1);
      expect(lines[0]).toContain('1/3 2026-11-18 success');
      expect(lines[1]).toMatch(/2\/3 2026-11-19 failed \(wait_for_data\): etl_no_data: day 2026-11-19 has no events in the warehouse and no more can come/);
      expect(lines[2]).toContain('3/3 2026-11-20 success');
      expect(Date.now() - started).toBeLessThan(120_000);
      expect(out).toContain('2/3 days done, 1 failed');
    } finally {
      w.close();
    }
  }, 180_000);

  it('Ctrl-C while a run waits for its data records the run as cancelled, not running', async () => {
    const { cli, out: stdoutOf, exited, w } = await waitingEtl(['run', '--date', '2026-11-20']);
    try {
      // It said what it waits for; the operator gives up.
      cli.kill('SIGINT');
      expect(await exited).toBe(1);
      expect(stdoutOf()).toContain('cancelled by SIGINT');
      capture();
      expect(await command(['status'], {
        stdout: { write: (x: string) => (out += x) }, stderr: { write: (x: string) => (err += x) }, env: { GAMESTREAM_WAREHOUSE: `duckdb:${w.path}` },
      })).toBe(0);
      expect(out).toMatch(/^2026-11-20\s+dag\s+1\s+cancelled/m);
      expect(out).toMatch(/^2026-11-20\s+wait_for_data\s+1\s+cancelled/m);
      expect(out).not.toMatch(/running/);
    } finally {
      cli.kill('SIGKILL');
      w.close();
    }
  }, 120_000);

  it('a backfill cancelled by Ctrl-C (delivered twice, as a terminal and npx do) counts only the days it did', async () => {
    const { cli, out: stdoutOf, exited, w } = await waitingEtl(['backfill', '--from=2026-11-20', '--to', '2026-11-22']);
    try {
      // The same Ctrl-C twice within a moment: a cancel, not the exit at once of a second Ctrl-C.
      cli.kill('SIGINT');
      cli.kill('SIGINT');
      expect(await exited).toBe(1);
      expect(stdoutOf()).toContain('0/3 days done, 0 failed, 1 cancelled, 2 not started');
      expect(stdoutOf()).toContain('cancelled by SIGINT');
    } finally {
      cli.kill('SIGKILL');
      w.close();
    }
  }, 120_000);
});
