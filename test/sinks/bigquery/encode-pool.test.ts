/**
 * The encode pool gives exactly the rows the calling thread would, from several files and all three tables;
 * rows the encoder refuses come back as the mapped row with the reason, and any row can be rebuilt by index
 * (for rows BigQuery refuses later).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncodePool } from '../../../src/sinks/bigquery/encode-pool.ts';
import type { EncodeTask } from '../../../src/sinks/bigquery/encode-task.ts';
import { eventsMapper, encodeObjects, rowCodec, type EncodedRows, type RowObject } from '../../../src/sinks/bigquery/rows.ts';
import { EVENTS_TABLE } from '../../../src/sinks/bigquery/tables.ts';

const T0 = Date.UTC(2026, 10, 20, 10, 0, 0);
let dir = '';
const pools: EncodePool[] = [];

function eventLine(i: number, userId: string | null = `u${i % 7}`): RowObject {
  const ts = T0 + i * 1000;
  return {
    event_id: `e-${i}`, user_id: userId, session_id: 's', event_type: 1001 + (i % 3), event_name: 'level_start', ts_ms: ts,
    event_date: new Date(ts).toISOString().slice(0, 10), event_hour: new Date(ts).getUTCHours(), day_of_week: new Date(ts).getUTCDay(),
    parameters: { level_id: i % 5 }, platform: 'ios', app_version: '1.0', country: 'DE', region: null, city: null,
    device_model: 'iPhone', device_category: 'phone', device_tier: 'high', source_partition: 1, source_offset: i,
  };
}

function file(name: string, lines: RowObject[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return path;
}

const task = (table: EncodeTask['table'], paths: string[]): EncodeTask => ({ table, paths, source: 'src', version: 'v', failureSchema: 'f' });
const bytes = (e: EncodedRows): string[] => e.rows.map((r) => Buffer.from(r).toString('hex'));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gs-encode-'));
  pools.push(new EncodePool(0), new EncodePool(2));
});
afterAll(async () => {
  for (const p of pools) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('EncodePool', () => {
  it('encodes on the pool exactly as on the calling thread, and as the row codec does', async () => {
    const a = Array.from({ length: 500 }, (_, i) => eventLine(i));
    const b = Array.from({ length: 300 }, (_, i) => eventLine(500 + i));
    const paths = [file('a.ndjson', a), file('b.ndjson', b)];
    const [inline, pooled] = await Promise.all(pools.map((p) => p.encode(task('events', paths))));
    const direct = encodeObjects([...a, ...b].map(eventsMapper('src')), rowCodec(EVENTS_TABLE));
    expect(pooled.rows).toHaveLength(800);
    expect(bytes(pooled)).toEqual(bytes(direct));
    expect(bytes(inline)).toEqual(bytes(direct));
    expect(pooled.bytes).toBe(direct.bytes);
    expect(pooled.objectAt(650)).toEqual(eventsMapper('src')(b[150]!));
  });

  it('returns rows the encoder refuses as mapped rows with the reason, and keeps the others in order', async () => {
    const lines = [eventLine(0), eventLine(1, null), eventLine(2), eventLine(3, null)];
    const enc = await pools[1]!.encode(task('events', [file('bad.ndjson', lines)]));
    expect(enc.rows).toHaveLength(2);
    expect(enc.bad.map((b) => [b.row.event_id, b.reason])).toEqual([['e-1', 'required column user_id is null'], ['e-3', 'required column user_id is null']]);
    expect(enc.objectAt(1)).toMatchObject({ event_id: 'e-2', source: 'src' });
  });

  it('encodes window and dead-letter rows, and an empty task without a thread hop', async () => {
    const agg = file('agg.ndjson', [{ window_start_ms: T0, window_end_ms: T0 + 60_000, event_type: 1001, level_id: 3, event_count: 7, source_partition: 1 }]);
    const dlq = file('dlq.ndjson', [{ error_code: 'missing_fields', error: 'no user_id', stage: 'validate', raw_message: '{}', raw_encoding: 'utf8', source_partition: 1, source_offset: 9, received_at_ms: T0 }]);
    const [a, d, none] = await Promise.all([pools[1]!.encode(task('agg', [agg])), pools[1]!.encode(task('dlq', [dlq])), pools[1]!.encode(task('events', []))]);
    expect([a.rows.length, a.bad]).toEqual([1, []]);
    expect([d.rows.length, d.bad]).toEqual([1, []]);
    expect(d.objectAt(0)).toMatchObject({ error_code: 'missing_fields', gamestream_version: 'v', failure_schema: 'f', received_at: T0 * 1000 });
    expect(none.rows).toEqual([]);
  });
});
