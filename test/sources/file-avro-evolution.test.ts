/**
 * Schema evolution with Avro files: each file is read with its own writer schema, so versions of the event
 * schema load into one warehouse. A field gamestream does not know (one added with a default) is kept in the
 * events' `properties`; a field a version removed is simply absent (NULL).
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRun, runEngine } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-avro-evolution-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const V1 = JSON.parse(readFileSync(new URL('../../schemas/game-event.avsc', import.meta.url), 'utf8')) as { fields: { name: string }[] };
/** Version 2 adds `level` (with a default) and `client` (a record with a union); version 3 removes `app_version` and `name`. */
const V2 = { ...V1, fields: [...V1.fields, { name: 'level', type: ['null', 'long'], default: null }, {
  name: 'client', type: { type: 'record', name: 'Client', fields: [{ name: 'sdk', type: 'string' }, { name: 'build', type: 'int' }, { name: 'tier', type: ['null', 'string'], default: null }] },
  default: { sdk: 'none', build: 0, tier: null },
}] };
const V3 = { ...V1, fields: V1.fields.filter((f) => f.name !== 'app_version' && f.name !== 'name') };

async function writeFile(path: string, schema: object, datums: Record<string, unknown>[]): Promise<void> {
  const encoder = new avro.streams.BlockEncoder(avro.Type.forSchema(schema as Schema, { wrapUnions: true }) as unknown as Schema);
  const out = createWriteStream(path);
  encoder.pipe(out);
  for (const d of datums) encoder.write(d);
  encoder.end();
  await once(out, 'close');
}

const now = Date.now() - 60_000;
/** The base schema's fields in wrapped-union form. */
const base = (id: string, i: number) => ({
  id: { string: id }, user_id: { string: `u${i % 5}` }, session_id: null, timestamp: { long: now + i }, type: { long: 1001 },
  name: { string: 'level_start' }, parameters: { string: JSON.stringify({ level_id: i % 4 }) }, app_version: { string: '2.0.0' },
  platform: { string: 'ios' }, ip_address: null, device_model: null,
});
const without = (o: Record<string, unknown>, ...names: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !names.includes(k)));

describe('Avro files written with different versions of the event schema', () => {
  it('load into one warehouse: unknown fields kept in properties, removed fields NULL, every event stored', async () => {
    const wh = join(dir, 'wh.duckdb');
    const files: [string, object, Record<string, unknown>[]][] = [
      ['v1.avro', V1, Array.from({ length: 20 }, (_, i) => base(`v1-${i}`, i))],
      ['v2.avro', V2, Array.from({ length: 20 }, (_, i) => ({ ...base(`v2-${i}`, i), level: i % 2 === 0 ? { long: 40 + i } : null, client: { sdk: 'unity', build: i, tier: i % 2 === 0 ? { string: 'pro' } : null } }))],
      ['v3.avro', V3, Array.from({ length: 20 }, (_, i) => without(base(`v3-${i}`, i), 'app_version', 'name'))],
    ];
    for (const [name, schema, datums] of files) {
      const path = join(dir, name);
      await writeFile(path, schema, datums);
      const r = await runEngine({
        GAMESTREAM_SOURCE: `file:${path}`, GAMESTREAM_WAREHOUSE: `duckdb:${wh}`, GAMESTREAM_WORKERS: '1', GAMESTREAM_ETL: 'off', GAMESTREAM_LOG_LEVEL: 'warn',
      }, 60_000);
      expect(r.code, describeRun(r)).toBe(0);
    }
    const inst = await DuckDBInstance.create(wh, { access_mode: 'READ_ONLY' });
    const conn = await inst.connect();
    try {
      const rows = (await conn.runAndReadAll(`SELECT event_id, event_name, app_version, properties::VARCHAR AS properties FROM events`)).getRowObjectsJson();
      const byId = new Map(rows.map((r) => [String(r.event_id), r]));
      expect(byId.size).toBe(60);
      const props = (id: string): unknown => JSON.parse(String(byId.get(id)!.properties ?? 'null'));
      expect(props('v1-3')).toBeNull();
      // Unions inside a record lose their wrappers too; a null top-level field is absent, as with known fields.
      expect(props('v2-2')).toEqual({ level: 42, client: { sdk: 'unity', build: 2, tier: 'pro' } });
      expect(props('v2-3')).toEqual({ client: { sdk: 'unity', build: 3, tier: null } });
      expect(byId.get('v3-5')).toMatchObject({ event_name: null, app_version: null, properties: null });
      expect(byId.get('v2-5')).toMatchObject({ event_name: 'level_start', app_version: '2.0.0' });
      const [dl] = (await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM events_dlq')).getRowObjectsJson();
      expect(dl!.n).toBe(0);
    } finally {
      conn.closeSync();
      inst.closeSync();
    }
  });
});
