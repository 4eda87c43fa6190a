/**
 * BigQuery sink throughput against the local emulator (an emulator is not BigQuery: these numbers say what
 * gamestream's side costs and how the parallel streams scale, not what Google's service does).
 *   node bench/bigquery.ts [rows=200000] [pipelineEvents=200000]
 * 1. Encoding: worker row lines → Storage Write protos, on the calling thread and on the piscina pool (1, 2
 *    threads), with how busy the calling thread stays meanwhile.
 * 2. Writer: the same rows through PENDING streams and a commit, with 1, 2 and 4 parallel streams.
 * 3. Whole pipeline: file → daemon → BigQuery, in events/s, with the encoding on the supervisor thread and on
 *    the pool.
 * Uses GAMESTREAM_BIGQUERY_ENDPOINT / _WRITE_ENDPOINT when set; otherwise starts scripts/bqemulator.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClients, type BigQueryTarget } from '../src/sinks/bigquery/client.ts';
import { ensureSchema } from '../src/sinks/bigquery/ddl.ts';
import { EncodePool } from '../src/sinks/bigquery/encode-pool.ts';
import type { EncodeTask } from '../src/sinks/bigquery/encode-task.ts';
import { concatEncoded, rowCodec, type EncodedRows } from '../src/sinks/bigquery/rows.ts';
import { EVENTS_TABLE } from '../src/sinks/bigquery/tables.ts';
import { commitStreams, TableWriter, type WriterContext } from '../src/sinks/bigquery/table-writer.ts';
import { startBigQueryEmulator, stopBigQueryEmulator } from '../test/setup/bigquery-emulator.ts';
import { formatCost, runDaemonChild } from './daemon-child.ts';
import { makeEventsFile } from './make-events.ts';

/** Worker row lines (the shape partition/actor.ts writes) from generated events. */
function rowLines(eventsFile: string, rows: number): string[] {
  const out: string[] = [];
  for (const line of readFileSync(eventsFile, 'utf8').split('\n')) {
    if (out.length >= rows) break;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const ts = typeof e.timestamp === 'string' ? Date.parse(e.timestamp) : Number(e.timestamp);
    if (!Number.isFinite(ts) || typeof e.id !== 'string' || typeof e.user_id !== 'string') continue;
    const d = new Date(ts);
    out.push(JSON.stringify({
      event_id: e.id, user_id: e.user_id, session_id: e.session_id ?? null, event_type: Number(e.type) || 1001,
      event_name: e.name ?? null, ts_ms: ts, event_date: d.toISOString().slice(0, 10), event_hour: d.getUTCHours(),
      day_of_week: d.getUTCDay(), parameters: e.parameters ?? {}, platform: e.platform ?? null, app_version: e.app_version ?? null,
      country: 'DE', region: 'Berlin', city: 'Berlin', device_model: e.device_model ?? null, device_category: 'phone',
      device_tier: 'high', source_partition: out.length % 64, source_offset: out.length,
    }));
  }
  return out;
}

export async function bigqueryBench(rows: number, pipelineEvents: number): Promise<Record<string, unknown>> {
  const givenRest = process.env.GAMESTREAM_BIGQUERY_ENDPOINT?.trim();
  const givenGrpc = process.env.GAMESTREAM_BIGQUERY_WRITE_ENDPOINT?.trim();
  const emu = givenRest && givenGrpc ? null : await startBigQueryEmulator();
  const endpoint = givenRest && givenGrpc ? givenRest : emu!.restEndpoint;
  const writeEndpoint = givenRest && givenGrpc ? givenGrpc : emu!.grpcEndpoint;
  const work = mkdtempSync(join(tmpdir(), 'gamestream-bq-bench-'));
  try {
    const dataDir = join(tmpdir(), 'gamestream-bench');
    mkdirSync(dataDir, { recursive: true });
    const input = join(dataDir, `events-${Math.max(rows, pipelineEvents)}.ndjson`);
    if (!existsSync(input)) await makeEventsFile(input, Math.max(rows, pipelineEvents), 42);
    // Eight row files, as eight worker flushes of one commit would be.
    const lines = rowLines(input, rows);
    const rowFiles = Array.from({ length: 8 }, (_, i) => {
      const f = join(work, `events-${i}.rows.ndjson`);
      writeFileSync(f, lines.filter((_, j) => j % 8 === i).join('\n') + '\n');
      return f;
    });
    const task = (paths: string[]): EncodeTask => ({ table: 'events', paths, source: 'bench', version: 'bench', failureSchema: 'bench' });
    const result: Record<string, unknown> = {};
    const encodes: Record<string, unknown>[] = [];
    let enc: EncodedRows | null = null;
    for (const threads of [0, 1, 2]) {
      const pool = new EncodePool(threads);
      await pool.encode(task(rowFiles.slice(0, 1))); // threads started, codecs built
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      const parts = await Promise.all(rowFiles.map((f) => pool.encode(task([f]))));
      const secs = (performance.now() - t0) / 1000;
      const busy = performance.eventLoopUtilization(elu0).utilization;
      await pool.close();
      const n = parts.reduce((a, p) => a + p.rows.length, 0);
      const bytes = parts.reduce((a, p) => a + p.bytes, 0);
      const r = { threads, rows: n, rowsPerSec: Math.round(n / secs), protoBytesPerRow: Math.round(bytes / n), callingThreadBusy: +busy.toFixed(2) };
      console.log(`encode, ${threads === 0 ? 'calling thread' : `pool of ${threads}`}: ${r.rowsPerSec.toLocaleString('en-US')} rows/s, ${r.protoBytesPerRow} B/row, calling thread busy ${Math.round(busy * 100)}%`);
      encodes.push(r);
      if (threads === 0) {
        enc = parts.reduce(concatEncoded);
      }
    }
    result.encode = encodes;
    const codec = rowCodec(EVENTS_TABLE);
    const all = enc!;

    const target: BigQueryTarget = { project: 'gamestream-bench', dataset: `bench_${Date.now()}`, endpoint, writeEndpoint, location: 'US' };
    const { bq, writer } = createClients(target);
    await ensureSchema(bq, target, [EVENTS_TABLE], { partitionExpirationDays: null, requirePartitionFilter: false }, false);
    const writers: Record<string, unknown>[] = [];
    for (const parallel of [1, 2, 4]) {
      const ctx: WriterContext = {
        writer, target, timeoutMs: 120_000, maxRequestBytes: 8 << 20, parallel, inflight: 4,
        retry: { baseDelayMs: 200, maxDelayMs: 5000, giveUpAfterMs: 60_000, stopped: () => false, onRetry: () => undefined },
      };
      // Enough bytes that every stream gets a share: the writer splits by request size.
      ctx.maxRequestBytes = Math.max(256 * 1024, Math.ceil(all.bytes / (parallel * 4)));
      const tw = new TableWriter(ctx, EVENTS_TABLE, codec);
      const s = performance.now();
      const { streams } = await tw.writePending(all);
      await commitStreams(ctx, EVENTS_TABLE.name, streams);
      const secs = (performance.now() - s) / 1000;
      const r = { parallelStreams: streams.length, seconds: +secs.toFixed(2), rowsPerSec: Math.round(all.rows.length / secs), mbPerSec: +(all.bytes / 1e6 / secs).toFixed(1) };
      console.log(`writer, ${streams.length} stream(s): ${r.rowsPerSec.toLocaleString('en-US')} rows/s, ${r.mbPerSec} MB/s (${r.seconds} s)`);
      writers.push(r);
    }
    writer.close();
    result.writers = writers;

    const pipeline: Record<string, unknown>[] = [];
    for (const threads of ['0', '1']) {
      const run = await runDaemonChild({
        GAMESTREAM_SOURCE: `file:${input}`,
        GAMESTREAM_WAREHOUSE: `bigquery:gamestream-bench.pipeline_${Date.now()}`,
        GAMESTREAM_BIGQUERY_ENDPOINT: endpoint,
        GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: writeEndpoint,
        GAMESTREAM_BIGQUERY_ENCODE_THREADS: threads,
        GAMESTREAM_ETL: 'off',
        GAMESTREAM_METRICS_PORT: '0',
      });
      const routed = Number(/([\d,]+) records in/.exec(run.summary)?.[1]?.replaceAll(',', '') ?? 0);
      const cost = formatCost(run, Math.max(routed, 1));
      pipeline.push({ encodeThreads: Number(threads), events: routed, seconds: +run.wallSeconds.toFixed(2), eventsPerSec: Math.round(routed / run.wallSeconds), cpuSeconds: run.cpuSeconds, peakRssMb: run.peakRssMb, cost, summary: run.summary });
      console.log(`whole pipeline file → BigQuery emulator, encode threads ${threads}: ${Math.round(routed / run.wallSeconds).toLocaleString('en-US')} events/s; ${cost}\n  ${run.summary}`);
    }
    result.pipeline = pipeline;
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (emu) stopBigQueryEmulator(emu);
  }
}

if (import.meta.main) {
  const [rows = '200000', pipelineEvents = '200000'] = process.argv.slice(2);
  const r = await bigqueryBench(Number(rows), Number(pipelineEvents));
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`bigquery-${new Date().toISOString().replaceAll(':', '-')}.json`, dir);
  writeFileSync(file, JSON.stringify({ node: process.version, ...r }, null, 2));
  console.log(`results written to ${file.pathname}`);
}
