/**
 * The seed's "Unusual drop in level_complete events: WARNING": for day D, each event type's count against its
 * mean on the same weekday of the previous weeks. Weekly seasonality is strong in games (weekends), so D is
 * compared with D − 7, D − 14, … rather than with the days just before it. A type below the configured share of
 * that mean is a warning, which is stored and exported but does not fail the run: a drop is worth a look, and may
 * be a holiday. Days in the history without any event at all are no evidence of volume and are left out; a day
 * with events but none of a type counts as zero for it.
 */
import type { CheckResult } from './check-result.ts';
import { addDays, dialectOf, sqlDate, uniqueEvents, type EtlWarehouse } from './warehouse.ts';

export interface DropRule {
  /** A type below this share of its mean is a warning; 0 turns the check off. */
  share: number;
  /** How many previous same weekdays make the mean. */
  weeks: number;
}

/**
 * A check name from the event's name (volume_drop_level_complete) when it is a plain identifier that no other
 * type of the day uses, else from its type number (volume_drop_type_1002): names must not collide.
 */
function checkNames(rows: { type: number; name: unknown }[]): string[] {
  const plain = rows.map((r) => (typeof r.name === 'string' && /^[a-z][a-z0-9_]{0,40}$/.test(r.name) ? r.name : null));
  return rows.map((r, i) => {
    const n = plain[i];
    return `volume_drop_${n !== null && plain.filter((x) => x === n).length === 1 ? n : `type_${r.type}`}`;
  });
}

export async function volumeDropChecks(wh: EtlWarehouse, day: string, rule: DropRule): Promise<CheckResult[]> {
  if (rule.share <= 0 || rule.weeks <= 0) return [{ name: 'volume_drop', passed: null, status: 'skipped: turned off', value: null, threshold: null }];
  const { countIf } = dialectOf(wh);
  const past = Array.from({ length: rule.weeks }, (_, i) => sqlDate(addDays(day, -7 * (i + 1))));
  const [h] = await wh.query(`SELECT count(DISTINCT event_date) AS days FROM events WHERE event_date IN (${past.join(', ')})`);
  const days = Number(h?.days ?? 0);
  if (days === 0) return [{ name: 'volume_drop', passed: null, status: 'skipped: no history', value: null, threshold: null }];
  const d = sqlDate(day);
  const rows = await wh.query(`SELECT event_type, max(event_name) AS name, ${countIf(`event_date = ${d}`)} AS today,
      ${countIf(`event_date <> ${d}`)} AS past
    FROM ${uniqueEvents(`event_date IN (${[d, ...past].join(', ')})`)} AS e GROUP BY event_type ORDER BY event_type`);
  const names = checkNames(rows.map((r) => ({ type: Number(r.event_type), name: r.name })));
  return rows.map((r, i) => {
    const mean = Number(r.past) / days;
    const today = Number(r.today);
    const low = today < rule.share * mean;
    return { name: names[i]!, passed: low ? null : true, status: low ? 'warning' : 'passed', value: today, threshold: rule.share * mean };
  });
}
