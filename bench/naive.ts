/**
 * The yardstick the pipeline is measured against: a plain single-threaded loop over the same NDJSON file that
 * parses each line, validates it with gamestream's own rules, derives the date parts and appends the row to a
 * DuckDB `events` table of the same columns with DuckDB's appender. No dedupe, windows, GeoIP, device table,
 * dead-letter rows, masking, checkpoints or crash safety: what a first script would do.
 *   node bench/naive.ts [events=1000000]
 * Prints events/s and the CPU µs per event of this process (user + system, all threads).
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DuckDBDateValue, DuckDBInstance, DuckDBTimestampValue } from '@duckdb/node-api';
import { deriveTimeFields } from '../src/enrich/derived.ts';
import { isRejection, validate } from '../src/partition/validate.ts';
import { EVENTS_COLUMNS } from '../src/sinks/tables.ts';
import { benchEventsFile } from './make-events.ts';

export interface NaiveResult {
  events: number;
  stored: number;
  rejected: number;
  wallSeconds: number;
  eventsPerSec: number;
  cpuSeconds: number;
  cpuMicrosPerEvent: number;
}

const MS_PER_DAY = 86_400_000;
/** The last column the loop fills; those after it are nullable additions. */
const SOURCE_OFFSET_COLUMN = EVENTS_COLUMNS.findIndex(([n]) => n === 'source_offset');

export async function naiveLoopBench(input: string): Promise<NaiveResult> {
  const work = mkdtempSync(join(tmpdir(), 'gamestream-naive-'));
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const inst = await DuckDBInstance.create(join(work, 'naive.duckdb'), { threads: '1' });
  const conn = await inst.connect();
  let events = 0;
  let stored = 0;
  let rejected = 0;
  try {
    await conn.run(`CREATE TABLE events (${EVENTS_COLUMNS.map(([n, t]) => `"${n}" ${t}`).join(', ')})`);
    const app = await conn.createAppender('events');
    const text = (s: string | null): void => (s === null ? app.appendNull() : app.appendVarchar(s));
    const nowMs = Date.now();
    for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Infinity })) {
      if (line === '') continue;
      events++;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        rejected++;
        continue;
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
        rejected++;
        continue;
      }
      const v = validate(obj as Record<string, unknown>, { futureToleranceMs: 3_600_000, nowMs });
      if (isRejection(v)) {
        rejected++;
        continue;
      }
      const t = deriveTimeFields(v.tsMs);
      app.appendVarchar(v.id);
      app.appendVarchar(v.userId);
      text(v.sessionId);
      app.appendBigInt(BigInt(v.type));
      text(v.name);
      app.appendTimestamp(new DuckDBTimestampValue(BigInt(v.tsMs) * 1000n));
      app.appendDate(new DuckDBDateValue(Math.floor(v.tsMs / MS_PER_DAY)));
      app.appendInteger(t.eventHour);
      app.appendInteger(t.dayOfWeek);
      app.appendVarchar(JSON.stringify(v.parameters));
      text(v.platform);
      text(v.appVersion);
      app.appendNull(); // country
      app.appendNull(); // region
      app.appendNull(); // city
      text(v.deviceModel);
      app.appendNull(); // device_category
      app.appendNull(); // device_tier
      app.appendVarchar('file');
      app.appendInteger(0);
      app.appendBigInt(BigInt(events));
      // Columns added to the table since (user state, properties) are left empty, as a first script would.
      for (let c = SOURCE_OFFSET_COLUMN + 1; c < EVENTS_COLUMNS.length; c++) app.appendNull();
      app.endRow();
      stored++;
    }
    app.closeSync();
    await conn.run('CHECKPOINT');
  } finally {
    conn.closeSync();
    inst.closeSync();
    rmSync(work, { recursive: true, force: true });
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const c = process.cpuUsage(cpu0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  return {
    events, stored, rejected, wallSeconds, eventsPerSec: Math.round(events / wallSeconds),
    cpuSeconds, cpuMicrosPerEvent: +((cpuSeconds / events) * 1e6).toFixed(2),
  };
}

if (import.meta.main) {
  const r = await naiveLoopBench(await benchEventsFile(Number(process.argv[2] ?? 1_000_000)));
  console.log(JSON.stringify(r, null, 2));
}
