/**
 * Test support: a fresh DuckDB warehouse with the engine's tables (column lists from src/sinks/tables.ts), a
 * deterministic generator of game days with known level and user behaviour, and helpers to load them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { AGG_COLUMNS, DLQ_COLUMNS, EVENTS_COLUMNS, WATERMARK_COLUMNS } from '../../../src/sinks/tables.ts';
import { type EtlWarehouse } from '../../../src/etl/warehouse.ts';
import { duckdbEtlWarehouse } from '../../../src/sinks/duckdb/etl-warehouse.ts';
import { mulberry32 as prng } from '../../../src/sources/generator.ts';

export interface GenEvent {
  event_id: string;
  user_id: string;
  session_id: string | null;
  event_type: number;
  ts_ms: number;
  parameters: Record<string, unknown>;
  platform: string;
  country: string | null;
  device_category: string | null;
  /** The engine's user-state stamps (NULL: rows written before the engine had them). */
  is_paying_user: boolean | null;
  days_since_install: number | null;
}

const PLATFORMS = ['ios', 'android', 'web'];
const COUNTRIES = ['DE', 'US', 'BR', 'DE'];

export interface TestWarehouse {
  dir: string;
  conn: DuckDBConnection;
  wh: EtlWarehouse;
  path: string;
  /** Closes DuckDB but keeps the file, for another opener (the CLI). */
  release(): void;
  close(): void;
}

type Cols = readonly (readonly [string, string])[];
const ddl = (t: string, cols: Cols, extra = ''): string =>
  `CREATE TABLE ${t} (${cols.map(([c, ty]) => `"${c}" ${ty}`).join(', ')}${extra})`;

export async function openTestWarehouse(): Promise<TestWarehouse> {
  const dir = mkdtempSync(join(tmpdir(), 'gs-etl-'));
  const instance = await DuckDBInstance.create(join(dir, 'wh.duckdb'));
  const conn = await instance.connect();
  await conn.run(ddl('events', EVENTS_COLUMNS));
  await conn.run(ddl('events_dlq', DLQ_COLUMNS));
  await conn.run(ddl('events_agg_1min', AGG_COLUMNS));
  await conn.run(ddl('gamestream_watermarks', WATERMARK_COLUMNS, ', PRIMARY KEY (source)'));
  let open = true;
  const release = (): void => {
    if (!open) return;
    open = false;
    conn.closeSync();
    instance.closeSync();
  };
  return {
    dir,
    conn,
    wh: duckdbEtlWarehouse(conn),
    path: join(dir, 'wh.duckdb'),
    release,
    close() {
      release();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const SOURCE = 'file:/test/events.ndjson';

/** Loads events the way the engine's commit does: NDJSON read by DuckDB, date parts derived in UTC. */
export async function insertEvents(t: TestWarehouse, events: GenEvent[], source = SOURCE): Promise<void> {
  const file = join(t.dir, `load-${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(file, events.map((e) => JSON.stringify({ ...e, parameters: JSON.stringify(e.parameters) })).join('\n') + '\n');
  await t.conn.run(`INSERT INTO events SELECT event_id, user_id, session_id, event_type, 'n', epoch_ms(ts_ms),
      CAST(epoch_ms(ts_ms) AS DATE), hour(epoch_ms(ts_ms)), dayofweek(epoch_ms(ts_ms)), parameters::JSON, platform, '1.0',
      country, NULL, NULL, 'Pixel', device_category, 'high', '${source}', 0, row_number() OVER (), is_paying_user, days_since_install, NULL
    FROM read_json('${file}', format = 'newline_delimited', columns = {event_id: 'VARCHAR', user_id: 'VARCHAR',
      session_id: 'VARCHAR', event_type: 'BIGINT', ts_ms: 'BIGINT', parameters: 'VARCHAR', platform: 'VARCHAR', country: 'VARCHAR',
      device_category: 'VARCHAR', is_paying_user: 'BOOLEAN', days_since_install: 'INTEGER'})`);
  rmSync(file);
}

export async function insertDeadLetters(t: TestWarehouse, receivedAtMs: number[]): Promise<void> {
  for (const ms of receivedAtMs) {
    await t.conn.run(`INSERT INTO events_dlq VALUES ('parse_error', 'bad', 'decode', '{', 'utf8', '${SOURCE}', 0, 0,
      epoch_ms(${ms}), 'test', 'x')`);
  }
}

export async function setWatermark(t: TestWarehouse, watermarkMs: number | null, endOfInput: boolean, source = SOURCE): Promise<void> {
  await t.conn.run(`INSERT OR REPLACE INTO gamestream_watermarks VALUES ('${source}',
    ${watermarkMs === null ? 'NULL' : `epoch_ms(${watermarkMs})`}, ${endOfInput}, now()::TIMESTAMP)`);
}


/**
 * One UTC day of play. Users play sessions; in a session they start levels, and each start ends in a
 * completion or a failure; failed levels are often retried. Edge cases on purpose: starts of the same level
 * at the same millisecond (ties broken by event_id), a level_id given as a string (not a level), level events
 * without level_id, completions whose start was the day before (a level with no start, one with more completions
 * than starts), boosters_used that is not an array, events a millisecond either side of midnight, NULL session
 * ids and missing enrichment.
 */
export function generateDay(day: string, seed: number, users = 25): GenEvent[] {
  const r = prng(seed);
  const t0 = Date.parse(`${day}T00:00:00Z`);
  const out: GenEvent[] = [];
  let n = 0;
  const id = (): string => `${day}-e${String(n++).padStart(6, '0')}`;
  const push = (user: string, session: string | null, type: number, ts: number, parameters: Record<string, unknown>, dice = true): void => {
    // Platform and country follow the player (no dice, so the sequence stays as it was).
    const u = Number(user.slice(1));
    out.push({
      event_id: id(), user_id: user, session_id: session, event_type: type, ts_ms: ts, parameters, platform: PLATFORMS[u % 3]!,
      country: dice && r() < 0.005 ? null : COUNTRIES[u % 4]!, device_category: dice && r() < 0.005 ? null : 'phone',
      // No dice here either: the stamps vary within a user's day, with a few NULLs.
      is_paying_user: n % 11 === 0 ? null : (u + n) % 3 === 0, days_since_install: n % 13 === 0 ? null : (u * 7 + Math.floor(n / 5)) % 40,
    });
  };
  for (let u = 0; u < users; u++) {
    const user = `u${u}`;
    const sessions = 1 + Math.floor(r() * 3);
    for (let s = 0; s < sessions; s++) {
      const session = `${user}-${day}-s${s}`;
      let ts = t0 + Math.floor(r() * 20 * 3_600_000);
      const sessionStart = ts;
      push(user, session, 3001, ts, {});
      const plays = 1 + Math.floor(r() * 6);
      for (let p = 0; p < plays; p++) {
        const level = 1 + Math.floor(r() * 6);
        let tries = 0;
        for (;;) {
          ts += 1000 + Math.floor(r() * 60_000);
          push(user, session, 1001, ts, { level_id: level });
          // Same level started again in the same millisecond: ordering falls back to event_id.
          if (r() < 0.05) push(user, session, 1001, ts, { level_id: level });
          ts += 5000 + Math.floor(r() * 120_000);
          const boosters = r() < 0.3 ? ['hammer'] : r() < 0.1 ? 'hammer' : [];
          if (r() < 0.55) {
            push(user, session, 1002, ts, {
              level_id: level, moves_used: 5 + Math.floor(r() * 40), time_seconds: Math.round(r() * 3000) / 10, boosters_used: boosters,
            });
            break;
          }
          push(user, session, 1003, ts, { level_id: level, boosters_used: boosters });
          if (++tries >= 3 || r() < 0.4) break;
        }
      }
      if (r() < 0.3) push(user, session, 2001, ts + 500, { price_usd: [0.99, 4.99, 9.99][Math.floor(r() * 3)] });
      ts += 2000;
      push(user, session, 3002, ts, { duration_sec: Math.round((ts - sessionStart) / 1000) });
    }
  }
  // Fixed edge cases, so the checks do not depend on the dice.
  push('u0', null, 1001, t0, { level_id: '3' }); // string level_id: not a level
  push('u0', null, 1003, t0 + 1, {}); // no level_id
  push('u1', 'late', 1002, t0 + 2, { level_id: 99, moves_used: 12, time_seconds: 30, boosters_used: ['x'] }); // attempts 0
  push('u2', 'edge', 1001, t0 + 86_400_000 - 1, { level_id: 1 }); // last millisecond of the day
  // Purchases that are not plain paid ones: free, a refund, a price given as text, no price.
  push('u3', null, 2001, t0 + 3, { price_usd: 0 });
  push('u4', null, 2001, t0 + 4, { price_usd: -0.99 });
  push('u5', null, 2001, t0 + 5, { price_usd: '1.10' });
  push('u6', null, 2001, t0 + 6, {});
  // Last, and without dice, so the events above and the day's null rates stay as they were. Level 98: one start on D, two completions (one of an attempt begun the day before) and a failure.
  push('u7', 'late', 1002, t0 + 7, { level_id: 98, moves_used: 9, time_seconds: 12, boosters_used: [] }, false);
  push('u8', 's98', 1001, t0 + 8, { level_id: 98 }, false);
  push('u8', 's98', 1002, t0 + 9, { level_id: 98, moves_used: 11, time_seconds: 20, boosters_used: [] }, false);
  push('u8', 's98', 1003, t0 + 10, { level_id: 98, boosters_used: [] }, false);
  return out;
}
