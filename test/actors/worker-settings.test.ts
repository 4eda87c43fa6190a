/**
 * What a worker is told of the source's records: a Kafka record that starts with a zero byte is Confluent-framed
 * Avro, so without a schema source it is an unknown schema naming the settings to set, not "not valid JSON".
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { workerSettings } from '../../src/actors/worker-settings.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { KeyFilter } from '../../src/dedupe/filter.ts';
import { ConfluentAvro, decodeJson } from '../../src/partition/decode.ts';
import type { Source } from '../../src/sources/source.ts';
import { KnownUsers } from '../../src/users/known-users.ts';

function settingsFor(source: Partial<Source>) {
  return workerSettings({
    cfg: loadConfig({ GAMESTREAM_GEOIP_DB: 'off', GAMESTREAM_DEVICE_TABLE: 'off' }), source: { name: 's', format: 'ndjson', avroWriterSchema: null, partitionedLog: null, group: null, ...source } as unknown as Source,
    schemas: null, spoolDir: tmpdir(), worker: 0, incarnation: 1, crash: null,
    index: { runs: [], filter: KeyFilter.create(1 << 16).sharedBuffer, origin: 0, runPrefix: join(tmpdir(), 'w0') },
    knownUsers: KnownUsers.forUsers(0).sharedBuffer,
  });
}

describe('worker settings', () => {
  const framed = Buffer.from([0, 0, 0, 0, 42, 2, 0x61, 0x62]);

  it('a Kafka source without a schema source: a framed record is unknown_schema, naming what to set', () => {
    const s = settingsFor({ partitionedLog: { partitionCount: 4 } as Source['partitionedLog'] });
    expect(s.confluent).not.toBeNull();
    const d = new ConfluentAvro(s.confluent!.schemas, { unusable: s.confluent!.unusable, unknownHint: s.confluent!.unknownHint }).decode(framed, 1 << 20);
    expect(d).toMatchObject({ ok: false, rejection: { code: 'unknown_schema', message: expect.stringMatching(/schema id 42 is unknown \(no schema source is configured: set GAMESTREAM_SCHEMA_REGISTRY_URL or GAMESTREAM_AVRO_SCHEMA_DIR/) } });
    // What it was before: the same bytes read as JSON.
    expect(decodeJson(framed, 1 << 20)).toMatchObject({ ok: false, rejection: { code: 'parse_error' } });
  });

  it('a file source reads every line as JSON: no Confluent framing there', () => {
    expect(settingsFor({}).confluent).toBeNull();
  });
});
