// Runs the real engine as a child process, the way an operator would: `node src/cli/main.ts run` with
// configuration in GAMESTREAM_* variables. Nothing from src/ is imported.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const ENGINE_MAIN = join(REPO_ROOT, 'src/cli/main.ts');

/** A Node that strips types (26+): the test runner's own when it qualifies, else the project's pinned one. */
export function nodeBinary(): string {
  const major = Number(process.versions.node.split('.')[0]);
  const pinned = join(REPO_ROOT, 'node_modules/.bin/node');
  return major >= 26 || !existsSync(pinned) ? process.execPath : pinned;
}

export interface EngineRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** This process's environment with exactly the given GAMESTREAM_* settings (inherited ones are dropped). */
export function engineEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GAMESTREAM_')) env[k] = v;
  // Daemons of test files running side by side must not fight over the default metrics port.
  env.GAMESTREAM_METRICS_PORT = '0';
  return Object.assign(env, settings);
}

/** Starts `run` (or the command `args` give) with exactly the given GAMESTREAM_* settings (inherited ones are dropped). */
export function runEngine(
  settings: Record<string, string>,
  timeoutMs = 110_000,
  /** Signal the engine (kill -9 by default) as soon as this returns true for the stdout so far. */
  killWhen?: (stdout: string) => boolean,
  killSignal: NodeJS.Signals = 'SIGKILL',
  args: string[] = ['run'],
): Promise<EngineRun> {
  const env = engineEnv(settings);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(nodeBinary(), [ENGINE_MAIN, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let killed = false;
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      if (killWhen && !killed && killWhen(Buffer.concat(out).toString('utf8'))) {
        killed = true;
        child.kill(killSignal);
      }
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code, signal, timedOut, ms: Date.now() - started,
        stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** The last "written N" figure of the progress lines. */
export function writtenSoFar(stdout: string): number {
  const all = [...stdout.matchAll(/written ([\d,]+)/g)];
  return all.length === 0 ? 0 : Number(all[all.length - 1][1].replaceAll(',', ''));
}

/**
 * Runs the engine, kill -9s it each time its progress line shows more rows written than before (at least
 * `minStep` more), and starts it again, until a run ends by itself. Returns how many kills landed and that last
 * run. `minStep` bounds the number of runs where each start is slow (a Kafka group waits out the killed member's
 * session) and commits come early and small.
 */
export async function runWithKills(settings: Record<string, string>, timeoutMs: number, maxRuns = 20, minStep = 1, args: string[] = ['run']): Promise<{ kills: number; last: EngineRun }> {
  let kills = 0;
  let seen = 0;
  for (let run = 1; ; run++) {
    const r = await runEngine(settings, timeoutMs, (out) => writtenSoFar(out) >= seen + minStep, 'SIGKILL', args);
    if (r.signal !== 'SIGKILL' || run >= maxRuns) return { kills, last: r };
    kills++;
    seen = Math.max(seen, writtenSoFar(r.stdout));
  }
}

/** A short account of a run for assertion messages. */
export function describeRun(r: EngineRun): string {
  const tail = (s: string) => (s.length > 3000 ? `...${s.slice(-3000)}` : s);
  return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}${r.timedOut ? ' after timeout' : ''} in ${r.ms} ms\n` +
    `--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`;
}

export async function gunzipFile(src: string, dest: string): Promise<void> {
  await pipeline(createReadStream(src), createGunzip(), createWriteStream(dest));
}

/**
 * Runs a command (`env`, `dlq export`, …), reads the first chunk of its output and then closes the pipe, as
 * `| head` does; returns that chunk, what it wrote on stderr and its exit code.
 */
export function firstChunkThenClose(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ first: string; stderr: string; code: number | null }> {
  const child = spawn(nodeBinary(), [ENGINE_MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let first = '';
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout.once('data', (b: Buffer) => {
    first = b.toString();
    child.stdout.destroy();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ first, stderr, code })));
}
