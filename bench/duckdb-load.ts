/**
 * DuckDB alone, loading the pipeline's own `events` rows through the daemon's own warehouse code (its settings,
 * its INSERT from row files, its checkpoints between commits), at several commit sizes. It answers what the
 * warehouse's storage costs per row before any of gamestream's other work, and how much of that the commit
 * cadence decides.
 *
 *   node bench/duckdb-load.ts [rows-per-commit,…] [events]      defaults: 50000,130000,200000,all and 1000000
 *
 * First `gamestream run` loads the bench file (bench/make-events.ts, 1M events) into a scratch warehouse; its
 * `events` rows are written back out as row files of the given sizes, in the columns the workers write. Each
 * size is then loaded into a fresh warehouse by a child process of its own (so that its peak RSS is its own),
 * with `GAMESTREAM_*` settings taken from this environment as the daemon takes them. 50,000 rows a commit is a
 * steady 50k events/s with the 1 s flush interval, 130,000 a steady 130k events/s, and 200,000 the flush size at
 * which the 1M-event file and Kafka benches commit (docs/PERFORMANCE.md, "Commits of more than a row group", says
 * why 130,000 costs DuckDB about twice as much). Prints, per size, CPU µs per row (the whole child process), wall time,
 * peak RSS and the database's size. The row files are removed at the end. Only `events` is loaded: a daemon's
 * commit also merges its users and writes its dead letters, windows and checkpoints, so DuckDB's share of the
 * daemon's CPU is somewhat more than this.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { loadConfig } from '../src/config/schema.ts';
import { DuckDbWarehouse } from '../src/sinks/duckdb/duckdb-warehouse.ts';
import { runDaemonChild } from './daemon-child.ts';
import { procStats } from './daemon-watch.ts';
import { benchEventsFile } from './make-events.ts';

/** The columns of the workers' events row files (src/partition/actor.ts, writeEvent), in their order. */
const ROW_FILE_SELECT = `event_id, user_id, session_id, event_type, event_name, epoch_ms("timestamp") AS ts_ms, event_date,
  event_hour, day_of_week, parameters, platform, app_version, country, region, city, device_model, device_category,
  device_tier, source_partition, source_offset, is_paying_user, days_since_install, properties`;

export interface LoadResult {
  rowsPerCommit: number | 'all';
  rows: number;
  commits: number;
  cpuMicrosPerRow: number;
  wallSeconds: number;
  peakRssMb: number;
  databaseMb: number;
  /** The rows the fresh warehouse holds after the load: `rows`, unless the load lost or repeated some. */
  loadedRows: number;
}

/** `use` on a connection to the warehouse opened read-only, on one thread (no more of a shared machine than the loads take). */
async function readOnly<T>(warehouse: string, use: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const inst = await DuckDBInstance.create(warehouse, { access_mode: 'READ_ONLY', threads: '1' });
  const conn = await inst.connect();
  try {
    return await use(conn);
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

function countEvents(warehouse: string): Promise<number> {
  return readOnly(warehouse, async (conn) => Number((await conn.runAndReadAll('SELECT count(*) FROM events')).getRows()[0]![0]));
}

/**
 * Writes the warehouse's events as row files of `size` rows each (the last one shorter), in insertion order: a
 * fresh warehouse's row ids are 0, 1, 2, … in that order, and one thread scans them so.
 */
function writeRowFiles(warehouse: string, dir: string, size: number, total: number): Promise<string[]> {
  return readOnly(warehouse, async (conn) => {
    const files: string[] = [];
    for (let from = 0; from < total; from += size) {
      const f = join(dir, `events-${size}-${files.length}.ndjson`);
      await conn.run(`COPY (SELECT ${ROW_FILE_SELECT} FROM events WHERE rowid >= ${from} AND rowid < ${from + size}) TO '${f}' (FORMAT json)`);
      files.push(f);
    }
    return files;
  });
}

/** In the child: commits `files` one a commit into a fresh warehouse, as the committer does, and reports. */
async function loadInChild(path: string, files: string[]): Promise<void> {
  const cfg = loadConfig(process.env);
  const wh = new DuckDbWarehouse({ path, source: 'file:bench', maxEventBytes: cfg.maxEventBytes, threads: cfg.duckdbThreads, memoryLimitBytes: cfg.duckdbMemoryLimit });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await wh.open();
  for (const events of files) {
    await wh.commit({ files: [{ events, dlq: null, agg: null, aggUpdates: null }], checkpoints: [], engineWatermarkMs: null, endOfInput: false });
    await wh.betweenCommits();
  }
  await wh.close();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds: (performance.now() - t0) / 1000, peakRssMb: Math.round(procStats(process.pid).hwmMb) })}\n`);
}

function runChild(path: string, files: string[]): Promise<{ cpuSeconds: number; wallSeconds: number; peakRssMb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', path, ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`load child exited ${code}`))));
  });
}

/** `input`: an NDJSON events file (default: the 1M-event bench file). */
export async function duckdbLoadBench(sizes: (number | 'all')[], input?: string): Promise<LoadResult[]> {
  const work = mkdtempSync(join(tmpdir(), 'gamestream-duckdb-load-'));
  try {
    const source = join(work, 'source.duckdb');
    process.stderr.write('loading the bench file with gamestream run, for its events rows…\n');
    await runDaemonChild({ GAMESTREAM_SOURCE: `file:${input ?? (await benchEventsFile(1_000_000))}`, GAMESTREAM_WAREHOUSE: `duckdb:${source}`, GAMESTREAM_ETL: 'off', GAMESTREAM_METRICS_PORT: 'off' });
    const total = await countEvents(source);
    const results: LoadResult[] = [];
    for (const s of sizes) {
      const size = s === 'all' ? total : s;
      const files = await writeRowFiles(source, work, size, total);
      const target = join(work, `load-${size}.duckdb`);
      process.stderr.write(`${total} rows, ${size} a commit (${files.length} commits)…\n`);
      const r = await runChild(target, files);
      results.push({ rowsPerCommit: s, rows: total, commits: files.length, cpuMicrosPerRow: (r.cpuSeconds / total) * 1e6, wallSeconds: r.wallSeconds, peakRssMb: r.peakRssMb, databaseMb: Math.round(statSync(target).size / 1e6), loadedRows: await countEvents(target) });
      for (const f of files) rmSync(f, { force: true });
      rmSync(target, { force: true });
      rmSync(`${target}.wal`, { force: true });
    }
    return results;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main && process.argv[2] === '--child') {
  await loadInChild(process.argv[3]!, process.argv.slice(4));
} else if (import.meta.main) {
  const arg = process.argv[2] ?? '50000,130000,200000,all';
  const sizes = arg.split(',').map((x) => (x === 'all' ? 'all' : Number(x))) as (number | 'all')[];
  if (sizes.some((x) => x !== 'all' && !(Number.isInteger(x) && x > 0))) throw new Error(`rows per commit: whole numbers above 0 or "all", comma separated; got ${arg}`);
  const events = Number(process.argv[3] ?? 1_000_000);
  if (!(Number.isInteger(events) && events > 0)) throw new Error(`events: a whole number above 0; got ${process.argv[3]}`);
  for (const r of await duckdbLoadBench(sizes, await benchEventsFile(events))) {
    process.stdout.write(`${JSON.stringify({ ...r, cpuMicrosPerRow: +r.cpuMicrosPerRow.toFixed(2), wallSeconds: +r.wallSeconds.toFixed(2) })}\n`);
  }
}
