/**
 * Which dead letters a `gamestream dlq` command reads: the filters of its flags as SQL over events_dlq, and which
 * letters a replay can run again.
 */
import { dialectOf, sqlTimestamp, type EtlWarehouse } from '../etl/warehouse.ts';

export interface LetterFilters {
  code: string | null;
  source: string | null;
  partition: number | null;
  sinceMs: number;
  untilMs: number | null;
}

/** The WHERE clause over events_dlq (`alias.` before each column): always a bound on received_at (BigQuery's partition filter). */
export function letterWhere(wh: EtlWarehouse, f: LetterFilters, alias = ''): string {
  const d = dialectOf(wh);
  const a = alias === '' ? '' : `${alias}.`;
  const c = [`${a}received_at >= ${sqlTimestamp(f.sinceMs)}`];
  if (f.untilMs !== null) c.push(`${a}received_at < ${sqlTimestamp(f.untilMs)}`);
  if (f.code !== null) c.push(`${a}error_code = ${d.str(f.code)}`);
  if (f.source !== null) c.push(`${a}source = ${d.str(f.source)}`);
  if (f.partition !== null) c.push(`${a}source_partition = ${f.partition}`);
  return c.join(' AND ');
}

/**
 * Letters whose raw_message is not the record as it came cannot be run again, and are never claimed:
 * - too_large: only the record's first bytes are kept;
 * - warehouse_rejected: the raw message is the enriched row the warehouse refused, not the source record;
 * - base64: binary records (Avro, or bytes that are not UTF-8 text); replay decodes JSON text only.
 */
export const NOT_REPLAYABLE: readonly { why: string; sql: (a: string) => string }[] = [
  { why: 'too_large (only the first bytes were kept)', sql: (a) => `${a}error_code = 'too_large'` },
  { why: 'warehouse_rejected (the raw message is the refused row, not the record)', sql: (a) => `${a}error_code = 'warehouse_rejected'` },
  { why: 'binary records (Avro or not UTF-8 text; replay decodes JSON text)', sql: (a) => `${a}raw_encoding <> 'utf8'` },
];

/** The condition a replayable letter meets (`alias.` before each column). */
export function replayable(alias: string): string {
  const a = alias === '' ? '' : `${alias}.`;
  return `NOT (${NOT_REPLAYABLE.map((r) => r.sql(a)).join(' OR ')}) AND ${a}raw_message IS NOT NULL`;
}

/** The source name a replay's records are stored under (its checkpoints resume it after a crash). */
export function replaySourceName(replayId: string): string {
  return `dlq-replay:${replayId}`;
}
