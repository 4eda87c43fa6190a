/**
 * `npm run bench`: micro benches of each stage (tinybench) and the whole pipeline (1M events, file → DuckDB),
 * the latter with events/s, CPU µs per event and peak RSS of the whole daemon process. Writes the results to bench/results/<timestamp>.json and prints them. Options (env):
 *   BENCH_EVENTS   events in the whole-pipeline run (default 1000000)
 *   BENCH_ONLY     "micro" or "pipeline" to run one part
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { eventsPerSecond, stageBench } from './micro/stages.bench.ts';
import { pipelineBench } from './pipeline.ts';

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
  for (const workers of [1, availableParallelism()]) {
    const r = await pipelineBench(events, workers);
    console.log(
      `whole pipeline, ${workers} worker thread(s): ${r.eventsPerSec.toLocaleString('en-US')} events/s; ${r.cost} ` +
        `(${r.events.toLocaleString('en-US')} events, ${(r.bytes / r.events).toFixed(0)} B/event, ${r.wallSeconds.toFixed(2)} s)\n  ${r.summary}`,
    );
    runs.push(r);
  }
  results.pipeline = runs;
}
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const file = new URL(`${machine.date.replaceAll(':', '-')}.json`, dir);
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`results written to ${file.pathname}`);
