/**
 * Whole pipeline: N synthetic events in an NDJSON file → gamestream (file source) → DuckDB, as a child process
 * exactly as a user runs it. Prints events/s (records routed / wall time of the whole process).
 *   node bench/pipeline.ts [events=1000000] [workers=cores]
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { formatCost, runDaemonChild } from './daemon-child.ts';
import { benchEventsFile } from './make-events.ts';

export interface PipelineResult {
  events: number;
  bytes: number;
  workers: number;
  wallSeconds: number;
  eventsPerSec: number;
  /** User + system CPU seconds of the whole daemon process. */
  cpuSeconds: number | null;
  cpuMicrosPerEvent: number | null;
  peakRssMb: number | null;
  /** The three figures above as one line. */
  cost: string;
  summary: string;
}


export async function pipelineBench(events: number, workers = availableParallelism()): Promise<PipelineResult> {
  const input = await benchEventsFile(events);
  const bytes = statSync(input).size;
  const run = await runDaemonChild({
    GAMESTREAM_SOURCE: `file:${input}`,
    GAMESTREAM_WORKERS: String(workers),
  });
  const { wallSeconds, cpuSeconds, peakRssMb, summary } = run;
  return {
    events, bytes, workers, wallSeconds, eventsPerSec: Math.round(events / wallSeconds),
    cpuSeconds, cpuMicrosPerEvent: cpuSeconds === null ? null : +((cpuSeconds / events) * 1e6).toFixed(2), peakRssMb,
    cost: formatCost(run, events), summary,
  };
}

if (import.meta.main) {
  const events = Number(process.argv[2] ?? 1_000_000);
  const workers = Number(process.argv[3] ?? availableParallelism());
  const r = await pipelineBench(events, workers);
  console.log(JSON.stringify(r, null, 2));
}
