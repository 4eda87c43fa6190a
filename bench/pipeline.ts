/**
 * Whole pipeline: N synthetic events in an NDJSON file → gamestream (file source) → DuckDB, as a child process
 * exactly as a user runs it. Prints events/s (records routed / wall time of the whole process).
 *   node bench/pipeline.ts [events=1000000] [workers=cores]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEventsFile } from './make-events.ts';

export interface PipelineResult {
  events: number;
  bytes: number;
  workers: number;
  wallSeconds: number;
  eventsPerSec: number;
  peakRssMb: number | null;
  summary: string;
}

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;

export async function pipelineBench(events: number, workers = availableParallelism(), dataDir?: string): Promise<PipelineResult> {
  const dir = dataDir ?? join(tmpdir(), 'gamestream-bench');
  const input = join(dir, `events-${events}.ndjson`);
  if (!existsSync(input)) {
    process.stderr.write(`generating ${events} events into ${input} …\n`);
    mkdirSync(dir, { recursive: true });
    await makeEventsFile(input, events, 42);
  }
  const bytes = statSync(input).size;
  const work = mkdtempSync(join(tmpdir(), 'gamestream-bench-wh-'));
  const env = {
    ...process.env,
    GAMESTREAM_SOURCE: `file:${input}`,
    GAMESTREAM_WAREHOUSE: `duckdb:${join(work, 'bench.duckdb')}`,
    GAMESTREAM_WORKERS: String(workers),
    GAMESTREAM_PROGRESS_INTERVAL: '0',
    GAMESTREAM_LOG_LEVEL: 'warn',
  };
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'run'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
  const wallSeconds = (performance.now() - started) / 1000;
  rmSync(work, { recursive: true, force: true });
  if (code !== 0) throw new Error(`gamestream exited ${code}: ${out}`);
  const summary = out.trim().split('\n').pop() ?? '';
  const rss = /peak RSS (\d+) MB/.exec(out);
  return { events, bytes, workers, wallSeconds, eventsPerSec: Math.round(events / wallSeconds), peakRssMb: rss ? Number(rss[1]) : null, summary };
}

if (import.meta.main) {
  const events = Number(process.argv[2] ?? 1_000_000);
  const workers = Number(process.argv[3] ?? availableParallelism());
  const r = await pipelineBench(events, workers);
  console.log(JSON.stringify(r, null, 2));
}
