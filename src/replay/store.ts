/**
 * A dead-letter replay's state in the warehouse, the same SQL on DuckDB and BigQuery (tables in etl/warehouse.ts
 * and sinks/bigquery/tables.ts):
 *
 * 1. claim: one INSERT … SELECT copies the matching letters no replay has claimed into `dlq_replays`, numbered
 *    0, 1, 2, … in a fixed order (seq). One statement, so a crash leaves all of them claimed or none; a letter
 *    claimed once is never claimed again.
 * 2. the engine runs the claimed records as a source named `dlq-replay:<id>`, record seq at offset seq, so its
 *    checkpoints resume it exactly after a crash, like a file (sources/dlq-replay.ts);
 * 3. finish: one INSERT … SELECT writes each letter's outcome to `dlq_replay_outcomes`: `stored` (an event at its
 *    offset), `dead_letter` (a dead letter at its offset, with the new code) or `duplicate` (neither: the
 *    engine dropped it as a copy of an event already stored). A replay without outcomes is unfinished; the next
 *    `dlq replay` finishes it before claiming anything new.
 */
import { dialectOf, sqlTimestamp, type EtlWarehouse } from '../etl/warehouse.ts';
import { letterWhere, NOT_REPLAYABLE, replayable, replaySourceName, type LetterFilters } from './letters.ts';

export interface ClaimedReplay {
  id: string;
  /** The partition count the records were placed with; a resumed replay must use the same. */
  partitions: number;
  letters: number;
  claimedAtMs: number;
}

export interface Outcomes {
  stored: number;
  duplicate: number;
  /** Dead letters again, by their new code. */
  deadLetters: Map<string, number>;
}

const num = (v: unknown): number => Number(v ?? 0);

/** The replay that claimed letters but has no outcomes yet (a crash or Ctrl-C), oldest first; null when none. */
export async function unfinishedReplay(wh: EtlWarehouse): Promise<ClaimedReplay | null> {
  const rows = await wh.query(`SELECT r.replay_id, max(r.partitions) AS partitions, count(*) AS letters,
      ${dialectOf(wh).epochMs('min(r.claimed_at)')} AS claimed_ms
    FROM dlq_replays r LEFT JOIN (SELECT DISTINCT replay_id FROM dlq_replay_outcomes) o ON o.replay_id = r.replay_id
    WHERE o.replay_id IS NULL GROUP BY r.replay_id ORDER BY claimed_ms LIMIT 1`);
  const r = rows[0];
  return r ? { id: String(r.replay_id), partitions: num(r.partitions), letters: num(r.letters), claimedAtMs: num(r.claimed_ms) } : null;
}

/** Letters that match: how many a replay would claim, how many were claimed before, and those it cannot run, by why. */
export async function selection(wh: EtlWarehouse, f: LetterFilters): Promise<{ replayable: number; claimedBefore: number; notReplayable: { why: string; letters: number }[] }> {
  // Each letter under its first reason only (a too_large Avro letter is binary too): the counts add up.
  const cases = NOT_REPLAYABLE.map((n, i) => {
    const earlier = NOT_REPLAYABLE.slice(0, i).map((e) => `NOT (${e.sql('d.')})`);
    return `${dialectOf(wh).countIf([...earlier, `(${n.sql('d.')})`].join(' AND '))} AS n${i}`;
  }).join(', ');
  const [r] = await wh.query(`SELECT ${dialectOf(wh).countIf(`${replayable('d')} AND c.replay_id IS NULL`)} AS fresh,
      ${dialectOf(wh).countIf('c.replay_id IS NOT NULL')} AS claimed, ${cases}
    FROM events_dlq d ${CLAIM_JOIN} WHERE ${letterWhere(wh, f, 'd')}`);
  return {
    replayable: num(r?.fresh), claimedBefore: num(r?.claimed),
    notReplayable: NOT_REPLAYABLE.map((n, i) => ({ why: n.why, letters: num(r?.[`n${i}`]) })).filter((n) => n.letters > 0),
  };
}

/**
 * The claim on each letter `d` of events_dlq, as a LEFT JOIN: `c.replay_id` is NULL for a letter no replay
 * claimed, else the replay that did (at most one), with the letter's number in it (`c.seq`).
 */
export const CLAIM_JOIN = `LEFT JOIN dlq_replays c
    ON c.letter_source = d.source AND c.letter_partition = d.source_partition AND c.letter_offset = d.source_offset
    AND c.letter_received_at = d.received_at`;

/** Claims every matching replayable letter not claimed before, in one statement; returns the replay (null: none matched). */
export async function claim(wh: EtlWarehouse, f: LetterFilters, id: string, partitions: number, nowMs: number): Promise<ClaimedReplay | null> {
  const s = dialectOf(wh).str;
  await wh.exec(`INSERT INTO dlq_replays (replay_id, seq, partitions, claimed_at, letter_source, letter_partition, letter_offset,
      letter_received_at, error_code, raw_message)
    SELECT ${s(id)}, row_number() OVER (ORDER BY d.received_at, d.source, d.source_partition, d.source_offset) - 1, ${partitions},
      ${sqlTimestamp(nowMs)}, d.source, d.source_partition, d.source_offset, d.received_at, d.error_code, d.raw_message
    FROM events_dlq d ${CLAIM_JOIN}
    WHERE ${letterWhere(wh, f, 'd')} AND ${replayable('d')} AND c.replay_id IS NULL`);
  const [r] = await wh.query(`SELECT count(*) AS n FROM dlq_replays WHERE replay_id = ${s(id)}`);
  return num(r?.n) === 0 ? null : { id, partitions, letters: num(r?.n), claimedAtMs: nowMs };
}

/** The claimed records from seq `from` on, at most `limit`, in seq order. */
export async function claimedRecords(wh: EtlWarehouse, id: string, from: number, limit: number): Promise<{ seq: number; raw: string }[]> {
  const rows = await wh.query(`SELECT seq, raw_message FROM dlq_replays
    WHERE replay_id = ${dialectOf(wh).str(id)} AND seq >= ${from} ORDER BY seq LIMIT ${limit}`);
  return rows.map((r) => ({ seq: num(r.seq), raw: String(r.raw_message) }));
}

/**
 * Records the outcome of every letter of a replay whose records the engine has all committed, in one statement;
 * a replay that has outcomes already is left as it is. Events and dead letters are read with bounds on their
 * partition columns (BigQuery may require them): any event date, and dead letters received since the claim.
 */
export async function finish(wh: EtlWarehouse, replay: ClaimedReplay, nowMs: number): Promise<void> {
  const s = dialectOf(wh).str;
  const [done] = await wh.query(`SELECT count(*) AS n FROM dlq_replay_outcomes WHERE replay_id = ${s(replay.id)}`);
  if (num(done?.n) > 0) return;
  const src = s(replaySourceName(replay.id));
  await wh.exec(`INSERT INTO dlq_replay_outcomes (replay_id, seq, replayed_at, outcome, error_code, error)
    SELECT r.replay_id, r.seq, ${sqlTimestamp(nowMs)},
      CASE WHEN e.source_offset IS NOT NULL THEN 'stored' WHEN d.source_offset IS NOT NULL THEN 'dead_letter' ELSE 'duplicate' END,
      d.error_code, d.error
    FROM dlq_replays r
    LEFT JOIN (SELECT DISTINCT source_offset FROM events WHERE source = ${src} AND event_date >= DATE '0001-01-01') e ON e.source_offset = r.seq
    LEFT JOIN (SELECT source_offset, min(error_code) AS error_code, min(error) AS error FROM events_dlq
      WHERE source = ${src} AND received_at >= ${sqlTimestamp(replay.claimedAtMs - 86_400_000)} GROUP BY source_offset) d ON d.source_offset = r.seq
    WHERE r.replay_id = ${s(replay.id)}`);
}

export async function outcomes(wh: EtlWarehouse, id: string): Promise<Outcomes> {
  const rows = await wh.query(`SELECT outcome, error_code, count(*) AS n FROM dlq_replay_outcomes
    WHERE replay_id = ${dialectOf(wh).str(id)} GROUP BY outcome, error_code`);
  const o: Outcomes = { stored: 0, duplicate: 0, deadLetters: new Map() };
  for (const r of rows) {
    if (r.outcome === 'stored') o.stored += num(r.n);
    else if (r.outcome === 'duplicate') o.duplicate += num(r.n);
    else o.deadLetters.set(String(r.error_code), (o.deadLetters.get(String(r.error_code)) ?? 0) + num(r.n));
  }
  return o;
}

/** The days a replay stored events on, and those of them the daily ETL had already run for (their tables lack the events). */
export async function touchedDays(wh: EtlWarehouse, id: string): Promise<{ days: string[]; etlDone: string[] }> {
  const d = dialectOf(wh);
  const days = (await wh.query(`SELECT DISTINCT ${d.dayText('event_date')} AS day FROM events
    WHERE source = ${d.str(replaySourceName(id))} AND event_date >= DATE '0001-01-01' ORDER BY day`)).map((r) => String(r.day));
  if (days.length === 0) return { days, etlDone: [] };
  const done = new Set((await wh.query(`SELECT DISTINCT ${d.dayText('date')} AS day FROM etl_runs
    WHERE status = 'success' AND date >= DATE '${days[0]}' AND date <= DATE '${days[days.length - 1]}'`)).map((r) => String(r.day)));
  return { days, etlDone: days.filter((x) => done.has(x)) };
}
