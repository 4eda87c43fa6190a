/**
 * `gamestream dlq`: the dead letters read back from the warehouse, on DuckDB and BigQuery alike (the ETL's
 * connection and SQL dialect): counts, the letters themselves with their reason and whether a replay ran them,
 * their raw records for fixing by hand, and replay (dlq-replay.ts).
 */
import { isUtf8 } from 'node:buffer';
import { fmt } from '../actors/run-totals.ts';
import { loadConfig } from '../config/schema.ts';
import { errorCode, GamestreamError } from '../errors.ts';
import { dialectOf, dayStartMs, type EtlWarehouse } from '../etl/warehouse.ts';
import { dayFlag, flag, takeFlags, wholeFlag } from './flags.ts';
import { letterWhere, type LetterFilters } from '../replay/letters.ts';
import { CLAIM_JOIN } from '../replay/store.ts';
import { replayCommand } from './dlq-replay.ts';
import { openWarehouse, type EtlIo } from './etl.ts';
import { printable } from '../sql/format.ts';

const USAGE = `Usage:
  gamestream dlq stats  [--code C] [--source S] [--partition P] [--since YYYY-MM-DD] [--until YYYY-MM-DD]
  gamestream dlq show   [--code C] [--source S] [--partition P] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--limit N]
  gamestream dlq export [the same filters]     NDJSON of the raw records on stdout (base64 ones decoded)
  gamestream dlq replay [the same filters, no --limit] [--dry-run]
                                               runs them through the pipeline again, each letter once
Reads the warehouse in GAMESTREAM_WAREHOUSE (a DuckDB file: stop the daemon first; a BigQuery dataset: any time;
replay writes, so stop the daemon that uses the same dedupe index first).
--since defaults to the UTC day 7 days ago (today and the 7 days before it); show lists 20 letters unless
--limit says otherwise. Flags are --name value or --name=value.`;

interface Filters extends LetterFilters { limit: number | null }

/** The flags that choose letters, for every dlq command. */
const FILTERS = ['code', 'source', 'partition', 'since', 'until'] as const;

function dayStart(args: string[], name: string): number | null {
  const v = dayFlag(args, name);
  return v === undefined ? null : dayStartMs(v);
}

function filters(args: string[], nowMs: number, defaultLimit: number | null): Filters {
  const until = dayStart(args, 'until');
  return {
    code: flag(args, 'code') ?? null, source: flag(args, 'source') ?? null, partition: wholeFlag(args, 'partition') ?? null,
    sinceMs: dayStart(args, 'since') ?? Math.floor(nowMs / 86_400_000) * 86_400_000 - 7 * 86_400_000,
    untilMs: until === null ? null : until + 86_400_000, limit: wholeFlag(args, 'limit') ?? defaultLimit,
  };
}

function where(wh: EtlWarehouse, f: Filters): string {
  return letterWhere(wh, f, 'd');
}

/** What replays made of each letter (`d`): c.replay_id when one claimed it, o.outcome once it finished. */
const REPLAY_JOIN = `${CLAIM_JOIN}
  LEFT JOIN dlq_replay_outcomes o ON o.replay_id = c.replay_id AND o.seq = c.seq`;

async function stats(wh: EtlWarehouse, f: Filters, io: EtlIo): Promise<void> {
  const d = dialectOf(wh);
  const rows = await wh.query(`SELECT ${d.dayText('CAST(d.received_at AS DATE)')} AS day, d.error_code, d.stage, d.source, count(*) AS n,
      count(o.outcome) AS replayed
    FROM events_dlq d ${REPLAY_JOIN} WHERE ${where(wh, f)} GROUP BY 1, 2, 3, 4 ORDER BY day, n DESC, error_code`);
  if (rows.length === 0) {
    io.stdout.write(`no dead letters since ${new Date(f.sinceMs).toISOString().slice(0, 10)}\n`);
    return;
  }
  const total = rows.reduce((s, r) => s + Number(r.n), 0);
  io.stdout.write(`${'day'.padEnd(10)}  ${'code'.padEnd(18)}  ${'stage'.padEnd(9)}  ${'count'.padStart(9)}  ${'replayed'.padStart(9)}  source\n`);
  for (const r of rows) {
    io.stdout.write(`${String(r.day).padEnd(10)}  ${String(r.error_code).padEnd(18)}  ${String(r.stage).padEnd(9)}  ${fmt(Number(r.n)).padStart(9)}  ` +
      `${fmt(Number(r.replayed)).padStart(9)}  ${String(r.source)}\n`);
  }
  io.stdout.write(`${fmt(total)} dead letter(s)\n`);
}

async function letters(wh: EtlWarehouse, f: Filters): Promise<Record<string, unknown>[]> {
  return wh.query(`SELECT d.error_code, d.stage, d.error, d.source, d.source_partition, d.source_offset, d.received_at, d.raw_message, d.raw_encoding,
      c.replay_id, o.replayed_at, o.outcome, o.error_code AS replay_code
    FROM events_dlq d ${REPLAY_JOIN} WHERE ${where(wh, f)}
    ORDER BY d.received_at, d.source, d.source_partition, d.source_offset${f.limit === null ? '' : ` LIMIT ${f.limit}`}`);
}

function when(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

function replayed(r: Record<string, unknown>): string {
  if (r.outcome === null || r.outcome === undefined) return 'claimed, not finished (the next `dlq replay` finishes it)';
  const again = r.outcome === 'dead_letter' ? ` (${String(r.replay_code)})` : '';
  return `${String(r.outcome)}${again} at ${when(r.replayed_at)}`;
}

async function show(wh: EtlWarehouse, f: Filters, io: EtlIo): Promise<void> {
  const rows = await letters(wh, f);
  for (const r of rows) {
    const raw = String(r.raw_message ?? '');
    io.stdout.write(`${when(r.received_at)}  ${String(r.error_code)} (${String(r.stage)})  ${String(r.source)} p${String(r.source_partition)}/o${String(r.source_offset)}\n`);
    // Client text, shown at a terminal: control characters escaped, and line breaks too (one letter, one block).
    const shown = (t: string): string => printable(t).replaceAll('\n', '\\n');
    io.stdout.write(`  why: ${shown(String(r.error))}\n`);
    io.stdout.write(`  raw (${String(r.raw_encoding)}, ${raw.length} chars): ${shown(raw.length > 300 ? `${raw.slice(0, 300)}…` : raw)}\n`);
    if (r.replay_id !== null && r.replay_id !== undefined) io.stdout.write(`  replay ${String(r.replay_id)}: ${replayed(r)}\n`);
  }
  io.stdout.write(`${rows.length} dead letter(s) shown${f.limit !== null && rows.length === f.limit ? ` (--limit ${f.limit}; there may be more)` : ''}\n`);
}

async function exportRaw(wh: EtlWarehouse, f: Filters, io: EtlIo): Promise<void> {
  let binary = 0;
  for (const r of await letters(wh, f)) {
    const raw = String(r.raw_message ?? '');
    let text = raw;
    if (r.raw_encoding === 'base64') {
      const bytes = Buffer.from(raw, 'base64');
      // Bytes that are not UTF-8 text (an Avro datum, a broken encoding) cannot be a line of text without being
      // changed: they are left out, and counted, rather than exported with U+FFFD in place of their bytes.
      if (!isUtf8(bytes)) {
        binary++;
        continue;
      }
      text = bytes.toString('utf8');
    }
    // One record a line: a raw record holding a line break would split, so it is written as a JSON string instead.
    io.stdout.write(`${/[\r\n]/.test(text) ? JSON.stringify(text) : text}\n`);
  }
  if (binary > 0) {
    io.stderr.write(`gamestream dlq export: ${fmt(binary)} binary letter(s) left out (Avro records, or bytes that are not UTF-8 text): their exact bytes are raw_message in events_dlq, as base64 (raw_encoding = 'base64')\n`);
  }
}

export async function dlqCommand(args: string[], io: EtlIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const sub = args[0];
  if (sub === undefined || sub === 'help' || sub === '--help') {
    io.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  try {
    if (!['stats', 'show', 'export', 'replay'].includes(sub)) throw new GamestreamError('config_invalid', `unknown dlq command ${JSON.stringify(sub)}\n${USAGE}`);
    // stats has no use for --limit; replay reads it only to refuse it with its reason.
    const given = takeFlags(args.slice(1), `dlq ${sub}`, sub === 'stats' ? FILTERS : [...FILTERS, 'limit'], sub === 'replay' ? ['dry-run'] : []);
    const f = filters(given, Date.now(), sub === 'show' ? 20 : null);
    if (sub === 'replay') {
      if (f.limit !== null) throw new GamestreamError('config_invalid', `dlq replay takes no --limit: it replays every letter the filters match (try --dry-run first)\n${USAGE}`);
      return await replayCommand(f, given.includes('--dry-run'), io);
    }
    const opened = await openWarehouse(loadConfig(io.env));
    try {
      if (sub === 'stats') await stats(opened.wh, f, io);
      else if (sub === 'show') await show(opened.wh, f, io);
      else await exportRaw(opened.wh, f, io);
    } finally {
      opened.close();
    }
    return 0;
  } catch (err) {
    io.stderr.write(`gamestream dlq: ${(err as Error).message}\n`);
    return errorCode(err) === 'config_invalid' ? 2 : 1;
  }
}
