/**
 * Runs `gamestream run` as a child process, the way a user does, in a scratch folder for its warehouse, and
 * measures the whole process: wall time, CPU time (user + system, all threads) and peak RSS. These come from
 * /usr/bin/time when the machine has it (GNU time, as `/usr/bin/time -v` reports them); otherwise from the
 * daemon's own last line, which gives its peak RSS and the CPU it used up to that line.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
const GNU_TIME = '/usr/bin/time';
const TIME_TAG = 'gamestream-bench-time:';

export interface DaemonRun {
  wallSeconds: number;
  /** User + system CPU seconds of the whole process, all threads. */
  cpuSeconds: number | null;
  peakRssMb: number | null;
  /** Where cpuSeconds and peakRssMb come from. */
  measuredBy: 'time' | 'daemon' | 'none';
  /** The last line the daemon printed (its summary). */
  summary: string;
  stdout: string;
}

/** CPU µs per event and the other whole-process figures, as one line for a bench's output. */
export function formatCost(run: Pick<DaemonRun, 'cpuSeconds' | 'peakRssMb' | 'measuredBy'>, events: number): string {
  if (run.cpuSeconds === null) return 'CPU and peak RSS not measured';
  const by = run.measuredBy === 'time' ? GNU_TIME : 'the daemon';
  return `CPU ${run.cpuSeconds.toFixed(2)} s = ${((run.cpuSeconds / events) * 1e6).toFixed(2)} µs/event; peak RSS ${run.peakRssMb} MB (by ${by})`;
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
  const timed = existsSync(GNU_TIME);
  const [cmd, args] = timed
    ? [GNU_TIME, ['-f', `${TIME_TAG} %e %U %S %M`, process.execPath, CLI, 'run']]
    : [process.execPath, [CLI, 'run']];
  const started = performance.now();
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let timeLine = '';
  let errTail = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // The daemon's stderr goes on to ours, except the timing line GNU time appends.
  child.stderr.on('data', (d: Buffer) => {
    errTail += d.toString();
    const lines = errTail.split('\n');
    errTail = lines.pop() ?? '';
    for (const l of lines) {
      if (l.startsWith(TIME_TAG)) timeLine = l;
      else process.stderr.write(`${l}\n`);
    }
  });
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
  if (errTail.startsWith(TIME_TAG)) timeLine = errTail;
  else if (errTail) process.stderr.write(errTail);
  const wallSeconds = (performance.now() - started) / 1000;
  rmSync(work, { recursive: true, force: true });
  if (code !== 0) throw new Error(`gamestream exited ${code}: ${out}`);
  const summary = out.trim().split('\n').pop() ?? '';
  const t = timeLine.slice(TIME_TAG.length).trim().split(/\s+/).map(Number);
  if (t.length === 4 && t.every(Number.isFinite)) {
    return { wallSeconds, cpuSeconds: t[1] + t[2], peakRssMb: Math.round(t[3] / 1024), measuredBy: 'time', summary, stdout: out };
  }
  const cpu = /; CPU ([\d.]+) s/.exec(summary);
  const rss = /peak RSS (\d+) MB/.exec(summary);
  if (cpu && rss) return { wallSeconds, cpuSeconds: Number(cpu[1]), peakRssMb: Number(rss[1]), measuredBy: 'daemon', summary, stdout: out };
  return { wallSeconds, cpuSeconds: null, peakRssMb: rss ? Number(rss[1]) : null, measuredBy: 'none', summary, stdout: out };
}
