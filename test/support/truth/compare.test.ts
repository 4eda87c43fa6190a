// compareWarehouse finds nothing on a perfect warehouse and finds each planted mistake.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from './generate.ts';
import { expectedFor } from './expected.ts';
import type { Expected } from './expected.ts';
import { compareWarehouse, jsonEqual } from './compare.ts';
import { writeReferenceWarehouse } from './reference-warehouse.ts';

const dir = mkdtempSync(join(tmpdir(), 'truth-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function mutated(base: string, sql: string): Promise<string> {
  const path = join(dir, `m${++n}.duckdb`);
  copyFileSync(base, path);
  const db = await DuckDBInstance.create(path);
  const conn = await db.connect();
  await conn.run(sql);
  await conn.run('CHECKPOINT');
  conn.closeSync();
  db.closeSync();
  return path;
}

describe('compareWarehouse', { timeout: 120_000 }, () => {
  const ds = generateDataset({ seed: 3, events: 3000 });
  let json: Expected;
  let official: string;

  beforeAll(async () => {
    json = expectedFor(ds, 'json');
    official = join(dir, 'official.duckdb');
    await writeReferenceWarehouse(official, json, 'official');
  });

  it('reports nothing for the perfect warehouse, JSON + official and Avro + flat', async () => {
    expect(await compareWarehouse(official, json, { geoLayout: 'official' })).toEqual([]);
    const avro = expectedFor(ds, 'avro');
    const flat = join(dir, 'flat.duckdb');
    await writeReferenceWarehouse(flat, avro, 'flat');
    expect(await compareWarehouse(flat, avro, { geoLayout: 'flat' })).toEqual([]);
  });

  it('notices the wrong geolocation layout', async () => {
    const diffs = await compareWarehouse(official, json, { geoLayout: 'flat' });
    expect(diffs.some((d) => / city: expected null/.test(d))).toBe(true);
  });

  const cases: [string, string, RegExp][] = [
    ['a missing event', `DELETE FROM events WHERE rowid = 5`, /events: missing row/],
    ['a duplicated event', `INSERT INTO events SELECT * FROM events WHERE rowid = 5`, /appears more than once/],
    ['an unexpected event', `UPDATE events SET source_offset = source_offset + 100000 WHERE rowid = 7`, /unexpected row/],
    ['a timestamp off by 1 ms', `UPDATE events SET timestamp = timestamp + INTERVAL 1 MILLISECOND WHERE rowid = 9`, /timestamp \(epoch ms\)/],
    ['a wrong country', `UPDATE events SET country = 'ZZ' WHERE country IS NOT NULL AND rowid < 20`, /country: expected/],
    ['a wrong region', `UPDATE events SET region = 'Atlantis' WHERE region IS NOT NULL`, /region: expected one of/],
    ['a paying flag flipped', `UPDATE events SET is_paying_user = NOT is_paying_user WHERE rowid = 13`, /is_paying_user: expected/],
    ['days since install off by one', `UPDATE events SET days_since_install = days_since_install + 1 WHERE rowid = 15`, /days_since_install: expected/],
    ['a changed parameter', `UPDATE events SET parameters = '{"level_id":-1}' WHERE rowid = 11`, /parameters: expected/],
    ['a wrong device tier', `UPDATE events SET device_tier = 'ultra' WHERE device_tier IS NOT NULL`, /device_tier/],
    ['a wrong weekday', `UPDATE events SET day_of_week = (day_of_week + 1) % 7 WHERE rowid = 13`, /day_of_week/],
    ['a missing dead letter', `DELETE FROM events_dlq WHERE rowid = 2`, /events_dlq: missing/],
    ['a wrong error code', `UPDATE events_dlq SET error_code = 'parse_error' WHERE error_code = 'invalid_field'`, /error_code/],
    ['a wrong stage', `UPDATE events_dlq SET stage = 'decode' WHERE stage = 'validate'`, /stage: expected validate/],
    ['an unmasked raw message', `UPDATE events_dlq SET raw_message = raw_message || ' 81.2.69.142' WHERE rowid = (SELECT min(rowid) FROM events_dlq WHERE raw_encoding = 'utf8')`, /raw address 81\.2\.69\.142/],
    ['a wrong raw encoding', `UPDATE events_dlq SET raw_encoding = 'utf8' WHERE raw_encoding = 'base64'`, /raw_encoding: expected base64/],
    ['a wrong window count', `UPDATE events_agg_1min SET event_count = event_count + 1 WHERE rowid = 0`, /sum over partitions/],
    ['a window in the wrong partition', `UPDATE events_agg_1min SET source_partition = (source_partition + 1) % 64 WHERE rowid = 1`, /events_agg_1min p\d+ window/],
    ['a split window row', `INSERT INTO events_agg_1min SELECT * REPLACE (0 AS event_count) FROM events_agg_1min WHERE rowid = 3`, /more than one row/],
    ['a wrong window_end', `UPDATE events_agg_1min SET window_end = window_end + INTERVAL 1 SECOND WHERE rowid = 4`, /window_end - window_start/],
    ['a missing table', `DROP TABLE events_agg_1min`, /table events_agg_1min is missing/],
    ['a wrong column type', `ALTER TABLE events ALTER timestamp TYPE TIMESTAMPTZ`, /events.timestamp has type/],
  ];
  for (const [name, sql, pattern] of cases) {
    it(`finds ${name}`, async () => {
      const diffs = await compareWarehouse(await mutated(official, sql), json, { geoLayout: 'official' });
      expect(diffs.join('\n')).toMatch(pattern);
    });
  }

  it('caps the list and counts the rest', async () => {
    const diffs = await compareWarehouse(await mutated(official, `DELETE FROM events`), json, { geoLayout: 'official' });
    expect(diffs).toHaveLength(51);
    expect(diffs[50]).toMatch(/^\.\.\. and \d+ more differences$/);
  });

  it('compares parameters as JSON, own keys included', () => {
    const a: unknown = JSON.parse('{"__proto__":{"x":1},"b":[1,{"c":null}]}');
    expect(jsonEqual(a, JSON.parse('{"b":[1,{"c":null}],"__proto__":{"x":1}}'))).toBe(true);
    expect(jsonEqual(a, { b: [1, { c: null }] })).toBe(false);
    expect(jsonEqual([1, 2], { 0: 1, 1: 2 })).toBe(false);
  });
});
