/**
 * An Avro file whose schema lacks fields every event needs is refused at the start, naming them, instead of
 * being read to the end with every record dead-lettered; records that are bad one by one still are.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { runEngine } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-avro-src-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function writeFile(path: string, schema: Schema, datums: Record<string, unknown>[]): Promise<void> {
  const encoder = new avro.streams.BlockEncoder(avro.Type.forSchema(schema) as unknown as Schema);
  const out = createWriteStream(path);
  encoder.pipe(out);
  for (const d of datums) encoder.write(d);
  encoder.end();
  await once(out, 'close');
}

const run = (path: string) => runEngine({
  GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_SOURCE: `file:${path}`, GAMESTREAM_ETL: 'off',
  GAMESTREAM_WAREHOUSE: `duckdb:${path}.duckdb`,
}, 60_000);

describe('an Avro file source', () => {
  it('refuses a schema without the required fields at the start, naming them', async () => {
    const path = join(dir, 'renamed.avro');
    const schema = { type: 'record', name: 'Other', fields: [{ name: 'id', type: 'string' }, { name: 'uid', type: 'string' }, { name: 'ts', type: 'long' }] } as Schema;
    await writeFile(path, schema, Array.from({ length: 50 }, (_, i) => ({ id: `e${i}`, uid: `u${i}`, ts: Date.now() })));
    const r = await run(path);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/user_id, timestamp, type/);
    expect(r.stderr).toContain(path);
  });

  it('still reads a file with the required fields, dead-lettering only the bad records', async () => {
    const path = join(dir, 'good.avro');
    const schema = {
      type: 'record', name: 'GameEvent', fields: [
        { name: 'id', type: 'string' }, { name: 'user_id', type: ['null', 'string'], default: null },
        { name: 'timestamp', type: 'long' }, { name: 'type', type: 'int' },
      ],
    } as Schema;
    const now = Date.now();
    const datums = Array.from({ length: 20 }, (_, i) => ({ id: `g${i}`, user_id: i < 3 ? null : { string: `u${i}` }, timestamp: now, type: 1001 }));
    await writeFile(path, schema, datums.map((d) => ({ ...d, user_id: d.user_id === null ? null : (d.user_id as { string: string }).string })));
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/events 17, dead letters 3/);
  });
});
