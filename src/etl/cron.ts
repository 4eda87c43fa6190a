/**
 * A small 5-field cron (minute hour day-of-month month day-of-week), always in UTC: `*`, numbers, lists `1,5`,
 * ranges `1-5`, steps `*\/15` and `10-50/20`. Day-of-week is 0–7 with 0 and 7 both Sunday. As in Vixie cron,
 * when both day fields are restricted a day matches if either does.
 */

export interface CronSchedule {
  readonly expression: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
  readonly domRestricted: boolean;
  readonly dowRestricted: boolean;
}

const FIELDS = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7],
] as const;

function parseField(text: string, name: string, min: number, max: number): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`${name} field ${JSON.stringify(part)} is not *, a number, a range or a step`);
    let lo = min;
    let hi = max;
    if (m[1] !== '*') {
      lo = Number(m[2]);
      hi = m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : lo;
    }
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (lo < min || hi > max || lo > hi) throw new Error(`${name} field ${JSON.stringify(part)} is outside ${min}–${max}`);
    if (step < 1) throw new Error(`${name} field ${JSON.stringify(part)} has a step below 1`);
    for (let x = lo; x <= hi; x += step) out.add(x);
  }
  return out;
}

export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`expected 5 fields, got ${parts.length}`);
  const sets = parts.map((p, i) => parseField(p, FIELDS[i][0], FIELDS[i][1], FIELDS[i][2]));
  const dow = sets[4];
  if (dow.has(7)) {
    dow.delete(7);
    dow.add(0);
  }
  return {
    expression: parts.join(' '),
    minutes: sets[0],
    hours: sets[1],
    daysOfMonth: sets[2],
    months: sets[3],
    daysOfWeek: dow,
    domRestricted: !parts[2].startsWith('*'),
    dowRestricted: !parts[4].startsWith('*'),
  };
}

function dayMatches(c: CronSchedule, d: Date): boolean {
  const dom = c.daysOfMonth.has(d.getUTCDate());
  const dow = c.daysOfWeek.has(d.getUTCDay());
  if (c.domRestricted && c.dowRestricted) return dom || dow;
  return dom && dow;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The first matching minute strictly after `after` (epoch ms). Jumps a day or an hour at a time. */
export function nextAfter(c: CronSchedule, after: number | Date): Date {
  const start = typeof after === 'number' ? after : after.getTime();
  let t = Math.floor(start / MINUTE) * MINUTE + MINUTE;
  const limit = start + 5 * 366 * DAY; // "30 2 31 2 *" never matches; do not loop forever
  while (t <= limit) {
    const d = new Date(t);
    if (!c.months.has(d.getUTCMonth() + 1) || !dayMatches(c, d)) {
      t = Math.floor(t / DAY) * DAY + DAY;
      continue;
    }
    if (!c.hours.has(d.getUTCHours())) {
      t = Math.floor(t / 3_600_000) * 3_600_000 + 3_600_000;
      continue;
    }
    if (!c.minutes.has(d.getUTCMinutes())) {
      t += MINUTE;
      continue;
    }
    return d;
  }
  throw new Error(`cron ${JSON.stringify(c.expression)} never fires`);
}
