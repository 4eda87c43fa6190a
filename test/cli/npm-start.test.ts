/**
 * `npm start` as the README runs it, stopped by Ctrl-C: the terminal sends SIGINT to the whole foreground process
 * group (npm, and the daemon), and npm forwards it to its script once more. The daemon drains once and exits 0,
 * and so does npm. A second Ctrl-C, later, still exits at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINE_MAIN, nodeBinary, REPO_ROOT } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-npm-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function demoEnv(name: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GAMESTREAM_') && !k.startsWith('npm_')) env[k] = v;
  return Object.assign(env, {
    GAMESTREAM_METRICS_PORT: '0', GAMESTREAM_ETL: 'off', GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `${name}.duckdb`)}`,
    GAMESTREAM_PROGRESS_INTERVAL: '200ms', GAMESTREAM_GENERATOR_RATE: '2000',
  });
}

/** Runs a process group as a terminal would hold it; `onOut` sees the output so far. */
function group(cmd: string, args: string[], env: NodeJS.ProcessEnv, onOut: (out: string, child: ChildProcess) => void): Promise<{ code: number | null; signal: string | null; out: string }> {
  const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const take = (b: Buffer): void => {
    out += b.toString();
    onOut(out, child);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out })));
}

/** Ctrl-C: SIGINT to every process of the group. */
const ctrlC = (child: ChildProcess): boolean => process.kill(-child.pid!, 'SIGINT');

describe('Ctrl-C', () => {
  it('stops `npm start` after a drain, with exit code 0 from the daemon and from npm', async () => {
    let sent = false;
    const r = await group('npm', ['start'], demoEnv('npm'), (out, child) => {
      if (!sent && /written [1-9]/.test(out)) sent = ctrlC(child);
    });
    expect(sent, r.out).toBe(true);
    expect([r.code, r.signal], r.out).toEqual([0, null]);
    expect(r.out).toContain('SIGINT: draining');
    expect(r.out).toMatch(/stopped: [\d,]+ records/);
    expect(r.out).not.toContain('again: exiting without draining');
  }, 120_000);

  it('a second Ctrl-C while the drain runs exits at once, with 130', async () => {
    let first = false;
    let second = false;
    // A slow warehouse keeps the drain going long enough for the second Ctrl-C to land in it.
    const env = { ...demoEnv('twice'), GAMESTREAM_TEST_COMMIT_DELAY: '20s' };
    const r = await group(nodeBinary(), [ENGINE_MAIN, 'run'], env, (out, child) => {
      if (!first && /read [1-9]/.test(out)) first = ctrlC(child);
      if (first && !second && out.includes('SIGINT: draining')) {
        second = true;
        // The product's rule: a signal within 300 ms of the first is the same Ctrl-C delivered twice. A person's
        // second press comes later than that.
        setTimeout(() => ctrlC(child), 600);
      }
    });
    expect(second, r.out).toBe(true);
    expect([r.code, r.signal], r.out).toEqual([130, null]);
    expect(r.out).toContain('SIGINT again: exiting without draining');
  }, 120_000);
});
