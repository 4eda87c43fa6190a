/**
 * `npm run bench`: micro benches of each stage (tinybench) and the whole pipeline (1M events, file → DuckDB),
 * the latter with events/s, CPU µs per event and peak RSS of the whole daemon process, and against a plain
 * single-threaded loop over the same file (bench/naive.ts). Writes the results to bench/results/<timestamp>.json
 * and prints them. Options (env):
 *   BENCH_EVENTS   events in the whole-pipeline run (default 1000000)
 *   BENCH_ONLY     "micro" or "pipeline" to run one part
 *   BENCH_RESULTS  the folder the results file goes to (default bench/results)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventsPerSecond, stageBench } from './micro/stages.bench.ts';
import { pipelineBench } from './pipeline.ts';
import { benchEventsFile } from './make-events.ts';
import { naiveLoopBench } from './naive.ts';

const only = process.env.BENCH_ONLY ?? '';
const events = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: availableParallelism(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
};
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);

const results: Record<string, unknown> = { machine };
if (only === '' || only === 'micro') {
  const stages = eventsPerSecond(await stageBench());
  console.table(stages);
  results.stages = stages;
}
if (only === '' || only === 'pipeline') {
  const runs = [];
  // One worker thread, the default (cores less one) and one per core.
  for (const workers of new Set([1, Math.max(1, availableParallelism() - 1), availableParallelism()])) {
    const r = await pipelineBench(events, workers);
    console.log(
      `whole pipeline, ${workers} worker thread(s): ${r.eventsPerSec.toLocaleString('en-US')} events/s; ${r.cost} ` +
        `(${r.events.toLocaleString('en-US')} events, ${(r.bytes / r.events).toFixed(0)} B/event, ${r.wallSeconds.toFixed(2)} s)\n  ${r.summary}`,
    );
    runs.push(r);
  }
  results.pipeline = runs;
  // The yardstick, in the same sitting: a plain single-threaded parse → validate → appender loop.
  const naive = await naiveLoopBench(await benchEventsFile(events));
  const best = Math.max(...runs.map((r) => r.eventsPerSec));
  console.log(
    `naive loop (one thread: parse → validate → DuckDB appender): ${naive.eventsPerSec.toLocaleString('en-US')} events/s; ` +
      `CPU ${naive.cpuSeconds.toFixed(2)} s = ${naive.cpuMicrosPerEvent.toFixed(2)} µs/event\n` +
      `  the pipeline's best is ${(best / naive.eventsPerSec).toFixed(2)}× the naive loop's events/s`,
  );
  results.naive = naive;
}
const dir = process.env.BENCH_RESULTS ?? fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = join(dir, `${machine.date.replaceAll(':', '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`results written to ${file}`);
