/**
 * `gamestream dlq replay`: runs matching dead letters through the pipeline again (after a device-table, schema
 * or configuration fix), exactly once, and marks each with what became of it (replay/store.ts has the steps).
 * The engine runs in this process on the daemon's settings, with its own source; the daily ETL and the HTTP
 * server stay off. A replay cut short (Ctrl-C, a crash, kill -9) is finished by the next `dlq replay` before it
 * claims anything new.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt } from '../actors/run-totals.ts';
import { loadFaults } from '../config/faults.ts';
import { loadConfig, type Config } from '../config/schema.ts';
import { loadEtlConfig } from '../etl/config.ts';
import { loadObservabilityConfig } from '../observability/config.ts';
import type { EtlWarehouse } from '../etl/warehouse.ts';
import { replaySourceName, type LetterFilters } from '../replay/letters.ts';
import { claim, claimedRecords, finish, outcomes, selection, touchedDays, unfinishedReplay, type ClaimedReplay } from '../replay/store.ts';
import { ReplaySpoolSource, writeReplaySpool } from '../sources/dlq-replay.ts';
import { openWarehouse, type EtlIo } from './etl.ts';
import { runDaemon } from './run.ts';
import { createReplaySpoolDir } from './spool.ts';

const PAGE = 5000;

function newReplayId(nowMs: number): string {
  return `${new Date(nowMs).toISOString().replace(/[-:]/g, '').slice(0, 15)}Z-${randomBytes(3).toString('hex')}`;
}

async function* pages(wh: EtlWarehouse, id: string): AsyncIterable<{ seq: number; raw: string }[]> {
  for (let from = 0; ; from += PAGE) {
    const page = await claimedRecords(wh, id, from, PAGE);
    if (page.length > 0) yield page;
    if (page.length < PAGE) return;
  }
}

/** The replay to run: the unfinished one, else the letters the filters select (null: nothing to do). */
/** A lateness no replayed event can pass (about 3,000 years), and still a safe integer below any event time. */
const REPLAY_LATENESS_MS = 1e14;

async function prepare(wh: EtlWarehouse, cfg: Config, f: LetterFilters, dryRun: boolean, io: EtlIo): Promise<ClaimedReplay | null> {
  const open = await unfinishedReplay(wh);
  if (open) {
    const what = `replay ${open.id} (${fmt(open.letters)} letters, claimed ${new Date(open.claimedAtMs).toISOString()}) did not finish`;
    if (dryRun) {
      io.stdout.write(`${what}: \`gamestream dlq replay\` finishes it before it claims other letters\n`);
      return null;
    }
    io.stdout.write(`${what}: finishing it first; run \`gamestream dlq replay\` again afterwards for other letters\n`);
    return open;
  }
  const sel = await selection(wh, f);
  const since = new Date(f.sinceMs).toISOString().slice(0, 10);
  io.stdout.write(`${fmt(sel.replayable)} dead letter(s) since ${since} to replay` +
    (sel.claimedBefore > 0 ? `; ${fmt(sel.claimedBefore)} matching were replayed before and are not replayed again` : '') + '\n');
  for (const n of sel.notReplayable) io.stdout.write(`  not replayable: ${fmt(n.letters)} ${n.why}\n`);
  if (dryRun || sel.replayable === 0) return null;
  return claim(wh, f, newReplayId(Date.now()), cfg.partitions, Date.now());
}

export async function replayCommand(f: LetterFilters, dryRun: boolean, io: EtlIo): Promise<number> {
  const cfg = loadConfig(io.env);
  const etl = loadEtlConfig(io.env);
  const observability = loadObservabilityConfig(io.env);
  let opened = await openWarehouse(cfg);
  let replay: ClaimedReplay | null;
  const dir = createReplaySpoolDir(tmpdir());
  const spool = join(dir, 'records');
  try {
    try {
      replay = await prepare(opened.wh, cfg, f, dryRun, io);
      if (replay === null) return 0;
      await writeReplaySpool(spool, pages(opened.wh, replay.id));
    } finally {
      // The engine opens the warehouse itself (a DuckDB file takes one opener at a time).
      opened.close();
    }
    io.stdout.write(`replay ${replay.id}: running ${fmt(replay.letters)} record(s) through the pipeline as source ${replaySourceName(replay.id)}\n`);
    const source = new ReplaySpoolSource(spool, replaySourceName(replay.id), replay.partitions);
    // The letters were placed over the partition count of the claim; a resumed replay keeps it. They come in the
    // order they were received, not by event time (an archive's letters after live traffic's), so no window closes
    // before the replay's end: none of its events is late.
    const run = { ...cfg, partitions: replay.partitions, workers: Math.min(cfg.workers, replay.partitions), allowedLatenessMs: REPLAY_LATENESS_MS };
    const code = await runDaemon(run, { ...etl, enabled: false }, { ...observability, metricsPort: null }, loadFaults(io.env, run.workers), source);
    if (code !== 0 || !source.ended) {
      io.stdout.write(`replay ${replay.id} stopped before its end; what it stored is kept: run \`gamestream dlq replay\` again to finish it\n`);
      return code === 0 ? 1 : code;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  opened = await openWarehouse(cfg);
  try {
    await finish(opened.wh, replay, Date.now());
    await report(opened.wh, replay.id, io);
  } finally {
    opened.close();
  }
  return 0;
}

async function report(wh: EtlWarehouse, id: string, io: EtlIo): Promise<void> {
  const o = await outcomes(wh, id);
  const dead = [...o.deadLetters].sort((a, b) => b[1] - a[1]);
  const deadTotal = dead.reduce((s, [, n]) => s + n, 0);
  io.stdout.write(`replay ${id} done: ${fmt(o.stored)} stored, ${fmt(deadTotal)} dead letter(s) again` +
    (dead.length > 0 ? ` (${dead.map(([c, n]) => `${c} ${fmt(n)}`).join(', ')})` : '') +
    `, ${fmt(o.duplicate)} duplicate(s) of events already stored\n`);
  const { days, etlDone } = await touchedDays(wh, id);
  if (days.length > 0) io.stdout.write(`replayed events fall on ${days.length === 1 ? days[0] : `${days.length} days, ${days[0]} to ${days[days.length - 1]}`}\n`);
  if (etlDone.length > 0) {
    io.stdout.write(`the daily ETL already ran for ${etlDone.join(', ')}: run \`gamestream etl backfill --from ${etlDone[0]} --to ${etlDone[etlDone.length - 1]} --force\` so its tables count the replayed events\n`);
  }
}
