/** Runs `gamestream run` as a child process, the way a user does, in a scratch folder for its warehouse. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;

export interface DaemonRun {
  wallSeconds: number;
  /** The last line the daemon printed (its summary). */
  summary: string;
  stdout: string;
}

/** `settings` are GAMESTREAM_* variables; the warehouse, progress and log level are set here. */
export async function runDaemonChild(settings: Record<string, string>): Promise<DaemonRun> {
  const work = mkdtempSync(join(tmpdir(), 'gamestream-bench-wh-'));
  const env = {
    ...process.env,
    GAMESTREAM_WAREHOUSE: `duckdb:${join(work, 'bench.duckdb')}`,
    GAMESTREAM_PROGRESS_INTERVAL: '0',
    GAMESTREAM_LOG_LEVEL: 'warn',
    ...settings,
  };
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'run'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
  const wallSeconds = (performance.now() - started) / 1000;
  rmSync(work, { recursive: true, force: true });
  if (code !== 0) throw new Error(`gamestream exited ${code}: ${out}`);
  return { wallSeconds, summary: out.trim().split('\n').pop() ?? '', stdout: out };
}
