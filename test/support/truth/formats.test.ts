// The dataset writers: NDJSON and Avro files carry the same records, the Avro truth is computed over the
// records the Avro file holds, and the device table is what the truth assumes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDataset } from './generate.ts';
import { expectedFor } from './expected.ts';
import { readAvroFile } from './avro.ts';
import { DEVICE_TABLE } from './catalog.ts';
import { isUtf8 } from './validate.ts';
import { jsonEqual } from './compare.ts';

const dir = mkdtempSync(join(tmpdir(), 'truth-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dataset files', { timeout: 60_000 }, () => {
  const ds = generateDataset({ seed: 9, events: 6000 });

  it('writes NDJSON byte-exact, one record per line', async () => {
    const path = join(dir, 'in.ndjson');
    await ds.toNdjson(path);
    const bytes = readFileSync(path);
    const parts: Buffer[] = [];
    let start = 0;
    for (let i = bytes.indexOf(0x0a); i >= 0; start = i + 1, i = bytes.indexOf(0x0a, start)) parts.push(bytes.subarray(start, i));
    expect(start).toBe(bytes.length); // ends with a newline
    expect(parts).toHaveLength(ds.lines.length);
    parts.forEach((p, i) => expect(p.equals(ds.lines[i]), `record ${i}`).toBe(true));
  });

  it('writes Avro holding exactly the representable records, in order, with the JSON values', async () => {
    const path = join(dir, 'in.avro');
    const written = await ds.toAvro(path);
    const kept = ds.avroRecords();
    const data = await readAvroFile(path);
    expect(written).toBe(kept.length);
    expect(data).toHaveLength(kept.length);
    kept.forEach((r, i) => {
      const json = JSON.parse(r.line.toString('utf8')) as Record<string, unknown>;
      const d = data[i];
      for (const f of ['id', 'user_id', 'session_id', 'timestamp', 'type', 'name', 'app_version', 'platform', 'ip_address', 'device_model']) {
        expect(d[f], `record ${i} field ${f}`).toStrictEqual(Object.hasOwn(json, f) ? json[f] : null);
      }
      const params = Object.hasOwn(json, 'parameters') ? json.parameters : null;
      // jsonEqual, not toStrictEqual: vitest compares `.constructor`, which some records carry as a JSON key.
      expect(jsonEqual(d.parameters === null ? null : JSON.parse(d.parameters as string), params ?? null), `record ${i} parameters`).toBe(true);
    });
  });

  it('omits only records Avro cannot carry', () => {
    const kept = new Set(ds.avroRecords());
    const omitted = ds.records.filter((r) => !kept.has(r));
    const allowed = new Set([
      'random_bytes', 'truncated_json', 'invalid_utf8', 'not_object', 'deep_array', 'too_large',
      'id_not_string/id_object', 'id_not_string/user_id_array', 'type_not_integer/object', 'optional_not_string/name_object',
      // Half a character outside parameters: UTF-8 strings cannot carry it, and fields outside the schema are not in the datum.
      'lone_surrogate/name', 'lone_surrogate/unknown_field_nested', 'lone_surrogate/low_half',
    ]);
    for (const r of omitted) {
      expect(allowed.has(r.label.kind) || allowed.has(`${r.label.kind}/${r.label.variant}`), `${r.label.kind}/${r.label.variant}`).toBe(true);
    }
    for (const r of kept) expect(isUtf8(r.line)).toBe(true);
    expect(omitted.length).toBeGreaterThan(0);
  });

  it('computes the Avro truth over Avro positions (keyless records move with them)', () => {
    const json = expectedFor(ds, 'json');
    const avro = expectedFor(ds, 'avro');
    expect(avro.dlqCounts.parse_error).toBe(0);
    expect(avro.dlqCounts.too_large).toBe(0);
    expect(avro.events).toHaveLength(json.events.length);
    const kept = ds.avroRecords();
    const jsonByRecord = new Map(json.dlqRows.map((x) => [ds.records[x.recordIndex], x]));
    const keylessMoved = avro.dlqRows.some((d) => {
      const j = jsonByRecord.get(kept[d.recordIndex]);
      return j !== undefined && j.source_partition !== d.source_partition;
    });
    expect(keylessMoved).toBe(true);
  });

  it('writes the device table the truth enriches with', async () => {
    const path = join(dir, 'devices.csv');
    await ds.writeDeviceCsv(path);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('device_model,category,performance_tier');
    expect(lines.slice(1)).toEqual(DEVICE_TABLE.map((d) => `${d.model},${d.category},${d.tier}`));
  });
});
