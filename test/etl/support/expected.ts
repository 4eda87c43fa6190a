/**
 * The metrics as docs/ETL.md defines them, computed in plain TypeScript over the generated events. Shares
 * nothing with the SQL under test.
 */
import type { GenEvent } from './world.ts';

export interface LevelRow {
  level_id: number; date: string; attempts: number; completions: number; failures: number; pass_rate: number | null;
  avg_moves: number | null; avg_time_seconds: number | null; p50_moves: number | null; p95_moves: number | null;
  unique_players: number; booster_usage_rate: number | null; retry_rate: number | null;
}

export interface UserRow {
  user_id: string; date: string; sessions: number; events: number; levels_played: number; levels_completed: number;
  playtime_minutes: number; revenue_usd: number; is_paying_user: boolean | null; days_since_install: number | null;
}

export interface RevenueRow {
  date: string; platform: string; country: string | null; revenue_usd: number; purchases: number; paying_users: number;
  first_time_payers: number; active_users: number; arpdau: number; arppu: number | null;
}

/**
 * `price_usd` in millionths of a dollar, exactly: a JSON number, or a string holding a decimal number; else null.
 * From the number's shortest text (what the client sent), so 4.99 is 4,990,000, not the double's expansion.
 */
export function micros(v: unknown): number | null {
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : null;
  const m = text === null ? null : /^(-?)(\d+)(?:\.(\d{1,6})\d*)?$/.exec(text);
  if (!m) return null;
  const value = Number(m[2]) * 1_000_000 + Number((m[3] ?? '').padEnd(6, '0'));
  return m[1] === '-' ? -value : value;
}

/** Millionths back to dollars: the double nearest to the exact amount, as the warehouses hand it over. */
const dollars = (x: number): number => x / 1_000_000;

const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const levelOf = (e: GenEvent): number | null => {
  const v = e.parameters.level_id;
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
};
const mean = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
/** Nearest rank: the ceil(n·q)-th smallest value. */
const nearestRank = (xs: number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(s.length * q)) - 1];
};
const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);

/** level_daily_stats for D: events per integer level_id (NULL: any other event), as the seed's view counts. */
export function expectedLevelDailyStats(all: GenEvent[], day: string): { level_id: number | null; event_date: string; events: number }[] {
  const counts = new Map<number | null, number>();
  for (const e of all) if (utcDay(e.ts_ms) === day) counts.set(levelOf(e), (counts.get(levelOf(e)) ?? 0) + 1);
  return [...counts].map(([level_id, events]) => ({ level_id, event_date: day, events }));
}

export function expectedLevelMetrics(all: GenEvent[], day: string): LevelRow[] {
  const byLevel = new Map<number, GenEvent[]>();
  for (const e of all) {
    if (utcDay(e.ts_ms) !== day || ![1001, 1002, 1003].includes(e.event_type)) continue;
    const l = levelOf(e);
    if (l === null) continue;
    if (!byLevel.has(l)) byLevel.set(l, []);
    byLevel.get(l)!.push(e);
  }
  const rows: LevelRow[] = [];
  for (const [level, evs] of byLevel) {
    const starts = evs.filter((e) => e.event_type === 1001);
    const completes = evs.filter((e) => e.event_type === 1002);
    const finished = evs.filter((e) => e.event_type !== 1001);
    const failures = evs.filter((e) => e.event_type === 1003);
    const moves = completes.map((e) => e.parameters.moves_used).filter((x): x is number => typeof x === 'number');
    const times = completes.map((e) => e.parameters.time_seconds).filter((x): x is number => typeof x === 'number');
    const withBoosters = finished.filter((e) => Array.isArray(e.parameters.boosters_used) && e.parameters.boosters_used.length > 0);
    // A start is a retry when the same user already started this level earlier that day (ties: event_id).
    const seen = new Map<string, number>();
    let retries = 0;
    const ordered = [...starts].sort((a, b) => a.ts_ms - b.ts_ms || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
    for (const s of ordered) {
      const k = seen.get(s.user_id) ?? 0;
      if (k >= 1) retries++;
      seen.set(s.user_id, k + 1);
    }
    rows.push({
      level_id: level, date: day, attempts: starts.length, completions: completes.length, failures: failures.length,
      pass_rate: ratio(completes.length, finished.length), avg_moves: mean(moves), avg_time_seconds: mean(times),
      p50_moves: nearestRank(moves, 0.5), p95_moves: nearestRank(moves, 0.95),
      unique_players: new Set(evs.map((e) => e.user_id)).size,
      booster_usage_rate: ratio(withBoosters.length, finished.length), retry_rate: ratio(retries, starts.length),
    });
  }
  return rows.sort((a, b) => a.level_id - b.level_id);
}

export function expectedUserMetrics(all: GenEvent[], day: string): UserRow[] {
  const byUser = new Map<string, GenEvent[]>();
  for (const e of all) {
    if (utcDay(e.ts_ms) !== day) continue;
    if (!byUser.has(e.user_id)) byUser.set(e.user_id, []);
    byUser.get(e.user_id)!.push(e);
  }
  const rows: UserRow[] = [];
  for (const [user, evs] of byUser) {
    const num = (type: number, key: string): number =>
      evs.filter((e) => e.event_type === type).reduce((s, e) => s + (typeof e.parameters[key] === 'number' ? (e.parameters[key] as number) : 0), 0);
    rows.push({
      user_id: user, date: day,
      sessions: new Set(evs.map((e) => e.session_id).filter((s) => s !== null)).size,
      events: evs.length,
      levels_played: new Set(evs.filter((e) => e.event_type === 1001).map(levelOf).filter((l) => l !== null)).size,
      levels_completed: evs.filter((e) => e.event_type === 1002).length,
      playtime_minutes: num(3002, 'duration_sec') / 60,
      revenue_usd: dollars(evs.filter((e) => e.event_type === 2001).reduce((s, e) => s + (micros(e.parameters.price_usd) ?? 0), 0)),
      // As of the day's end: paying if any of the day's events says so; the oldest install age of the day.
      is_paying_user: evs.some((e) => e.is_paying_user === true) ? true : evs.some((e) => e.is_paying_user === false) ? false : null,
      days_since_install: evs.reduce<number | null>((m, e) => (e.days_since_install === null ? m : Math.max(m ?? -Infinity, e.days_since_install)), null),
    });
  }
  return rows.sort((a, b) => (a.user_id < b.user_id ? -1 : 1));
}

/** revenue_daily for D: per platform and country with any event on D (docs/ETL.md, "revenue_daily"). */
export function expectedRevenueDaily(all: GenEvent[], day: string): RevenueRow[] {
  const paid = (e: GenEvent): boolean => e.event_type === 2001 && (micros(e.parameters.price_usd) ?? 0) > 0;
  const paidBefore = new Set(all.filter((e) => utcDay(e.ts_ms) < day && paid(e)).map((e) => e.user_id));
  const groups = new Map<string, GenEvent[]>();
  for (const e of all) {
    if (utcDay(e.ts_ms) !== day) continue;
    const k = JSON.stringify([e.platform, e.country]);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(e);
  }
  return [...groups].map(([k, evs]) => {
    const [platform, country] = JSON.parse(k) as [string, string | null];
    const revenue = evs.filter((e) => e.event_type === 2001).reduce((s, e) => s + (micros(e.parameters.price_usd) ?? 0), 0);
    const payers = new Set(evs.filter(paid).map((e) => e.user_id));
    const active = new Set(evs.map((e) => e.user_id)).size;
    return {
      date: day, platform, country, revenue_usd: dollars(revenue), purchases: evs.filter(paid).length, paying_users: payers.size,
      first_time_payers: [...payers].filter((u) => !paidBefore.has(u)).length, active_users: active,
      arpdau: dollars(revenue) / active, arppu: payers.size === 0 ? null : dollars(revenue) / payers.size,
    };
  });
}

/** Money is stored exactly: compared without tolerance (a DOUBLE sum such as 15.969999999999999 differs). */
const MONEY = new Set(['revenue_usd']);

/** Rows keyed by several columns joined with '|', in a column `key`, for compareRows. */
export function withKey<T extends object>(rows: T[], cols: string[]): (T & { key: string })[] {
  return rows.map((r) => ({ ...r, key: cols.map((c) => String((r as Record<string, unknown>)[c])).join('|') }));
}

/** Every column of every row; numbers within 1e-9 (relative for large values), money exactly. */
export function compareRows(actual: Record<string, unknown>[], expected: object[], key: string): string[] {
  const problems: string[] = [];
  if (actual.length !== expected.length) problems.push(`row count ${actual.length} ≠ expected ${expected.length}`);
  const byKey = new Map(actual.map((r) => [String(r[key]), r]));
  for (const exp of expected as Record<string, unknown>[]) {
    const act = byKey.get(String(exp[key]));
    if (!act) {
      problems.push(`missing row ${key}=${String(exp[key])}`);
      continue;
    }
    for (const [col, want] of Object.entries(exp)) {
      const got = act[col];
      const same = typeof want === 'number' && typeof got === 'number' && !MONEY.has(col)
        ? Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want))
        : got === want;
      if (!same) problems.push(`${key}=${String(exp[key])} ${col}: got ${String(got)}, expected ${String(want)}`);
    }
  }
  return problems;
}
