/**
 * `gamestream dlq`: the dead letters read back from the warehouse, on DuckDB and BigQuery alike (the ETL's
 * connection and SQL dialect): counts, the letters themselves with their reason, and their raw records for
 * fixing by hand. Read only.
 */
import { loadConfig } from '../config/schema.ts';
import { errorCode, GamestreamError } from '../errors.ts';
import { dialectOf, isDay, sqlTimestamp, dayStartMs, type EtlWarehouse } from '../etl/warehouse.ts';
import { openWarehouse, type EtlIo } from './etl.ts';

const USAGE = `Usage:
  gamestream dlq stats  [--since YYYY-MM-DD]
  gamestream dlq show   [--code C] [--source S] [--partition P] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--limit N]
  gamestream dlq export [the same filters]     NDJSON of the raw records on stdout (base64 ones decoded)
Reads the warehouse in GAMESTREAM_WAREHOUSE (a DuckDB file: stop the daemon first; a BigQuery dataset: any time).
--since defaults to 7 days ago; show lists 20 letters unless --limit says otherwise.`;

interface Filters { code: string | null; source: string | null; partition: number | null; sinceMs: number; untilMs: number | null; limit: number | null }

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i === -1) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new GamestreamError('config_invalid', `--${name} needs a value\n${USAGE}`);
  return v;
}

function dayFlag(args: string[], name: string): number | null {
  const v = flag(args, name);
  if (v === undefined) return null;
  if (!isDay(v)) throw new GamestreamError('config_invalid', `--${name}=${JSON.stringify(v)} is not valid: expected a date YYYY-MM-DD`);
  return dayStartMs(v);
}

function intFlag(args: string[], name: string): number | null {
  const v = flag(args, name);
  if (v === undefined) return null;
  if (!/^\d+$/.test(v)) throw new GamestreamError('config_invalid', `--${name}=${JSON.stringify(v)} is not valid: expected a whole number`);
  return Number(v);
}

function filters(args: string[], nowMs: number, defaultLimit: number | null): Filters {
  const until = dayFlag(args, 'until');
  return {
    code: flag(args, 'code') ?? null, source: flag(args, 'source') ?? null, partition: intFlag(args, 'partition'),
    sinceMs: dayFlag(args, 'since') ?? Math.floor(nowMs / 86_400_000) * 86_400_000 - 7 * 86_400_000,
    untilMs: until === null ? null : until + 86_400_000, limit: intFlag(args, 'limit') ?? defaultLimit,
  };
}

/** The WHERE clause: always a bound on received_at (BigQuery's partition filter). */
function where(wh: EtlWarehouse, f: Filters): string {
  const d = dialectOf(wh);
  const c = [`received_at >= ${sqlTimestamp(f.sinceMs)}`];
  if (f.untilMs !== null) c.push(`received_at < ${sqlTimestamp(f.untilMs)}`);
  if (f.code !== null) c.push(`error_code = ${d.str(f.code)}`);
  if (f.source !== null) c.push(`source = ${d.str(f.source)}`);
  if (f.partition !== null) c.push(`source_partition = ${f.partition}`);
  return c.join(' AND ');
}

async function stats(wh: EtlWarehouse, f: Filters, io: EtlIo): Promise<void> {
  const d = dialectOf(wh);
  const rows = await wh.query(`SELECT ${d.dayText('CAST(received_at AS DATE)')} AS day, error_code, stage, source, count(*) AS n
    FROM events_dlq WHERE ${where(wh, f)} GROUP BY 1, 2, 3, 4 ORDER BY day, n DESC, error_code`);
  if (rows.length === 0) {
    io.stdout.write(`no dead letters since ${new Date(f.sinceMs).toISOString().slice(0, 10)}\n`);
    return;
  }
  const total = rows.reduce((s, r) => s + Number(r.n), 0);
  io.stdout.write(`${'day'.padEnd(10)}  ${'code'.padEnd(18)}  ${'stage'.padEnd(9)}  ${'count'.padStart(9)}  source\n`);
  for (const r of rows) {
    io.stdout.write(`${String(r.day).padEnd(10)}  ${String(r.error_code).padEnd(18)}  ${String(r.stage).padEnd(9)}  ${Number(r.n).toLocaleString('en-US').padStart(9)}  ${String(r.source)}\n`);
  }
  io.stdout.write(`${total.toLocaleString('en-US')} dead letter(s)\n`);
}

async function letters(wh: EtlWarehouse, f: Filters): Promise<Record<string, unknown>[]> {
  return wh.query(`SELECT error_code, stage, error, source, source_partition, source_offset, received_at, raw_message, raw_encoding
    FROM events_dlq WHERE ${where(wh, f)} ORDER BY received_at, source, source_partition, source_offset${f.limit === null ? '' : ` LIMIT ${f.limit}`}`);
}

function when(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

async function show(wh: EtlWarehouse, f: Filters, io: EtlIo): Promise<void> {
  const rows = await letters(wh, f);
  for (const r of rows) {
    const raw = String(r.raw_message ?? '');
    io.stdout.write(`${when(r.received_at)}  ${String(r.error_code)} (${String(r.stage)})  ${String(r.source)} p${String(r.source_partition)}/o${String(r.source_offset)}\n`);
    io.stdout.write(`  why: ${String(r.error)}\n`);
    io.stdout.write(`  raw (${String(r.raw_encoding)}, ${raw.length} chars): ${raw.length > 300 ? `${raw.slice(0, 300)}…` : raw}\n`);
  }
  io.stdout.write(`${rows.length} dead letter(s) shown${f.limit !== null && rows.length === f.limit ? ` (--limit ${f.limit}; there may be more)` : ''}\n`);
}

async function exportRaw(wh: EtlWarehouse, f: Filters, io: EtlIo): Promise<void> {
  for (const r of await letters(wh, f)) {
    const raw = String(r.raw_message ?? '');
    const text = r.raw_encoding === 'base64' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    // One record a line: a raw record holding a line break would split, so it is written as a JSON string instead.
    io.stdout.write(`${/[\r\n]/.test(text) ? JSON.stringify(text) : text}\n`);
  }
}

export async function dlqCommand(args: string[], io: EtlIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const sub = args[0];
  if (sub === undefined || sub === 'help' || sub === '--help') {
    io.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  try {
    if (!['stats', 'show', 'export'].includes(sub)) throw new GamestreamError('config_invalid', `unknown dlq command ${JSON.stringify(sub)}\n${USAGE}`);
    const f = filters(args.slice(1), Date.now(), sub === 'show' ? 20 : null);
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
