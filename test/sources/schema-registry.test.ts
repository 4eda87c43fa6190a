/**
 * The schema registry client and the supervisor's schema store, against a real registry (Apicurio Registry's
 * Confluent API, started by the suite's global setup). Only the basic-auth header and a hung server are checked
 * against small local servers: the test registry runs without authentication.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { redactUrl, SchemaRegistryClient } from '../../src/sources/kafka/schema-registry.ts';
import { ConfluentSchemas } from '../../src/sources/kafka/schemas.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { freePort } from '../setup/kafka-broker.ts';
import { chunkOf } from '../support/memory-source.ts';
import { confluentFrame, registerSchema } from '../support/schema-registry.ts';

const registry = inject('schemaRegistry');

const suffix = `${process.pid}-${Date.now()}`;
const record = (name: string) => ({
  type: 'record', name, namespace: `test.t${suffix.replace(/-/g, '_')}`,
  fields: [{ name: 'id', type: 'string' }, { name: 'user_id', type: 'string' }],
});

describe('schema registry client (real registry)', () => {
  const client = new SchemaRegistryClient({ url: registry.url, timeoutMs: 5000 });

  it('returns a registered Avro schema by id, and "not found" for an id nobody registered', async () => {
    const id = await registerSchema(registry.url, `client-${suffix}-value`, record('A'));
    const a = await client.schemaById(id);
    expect(a.kind).toBe('found');
    if (a.kind === 'found') expect(JSON.parse(a.schema)).toMatchObject({ name: 'A', fields: [{ name: 'id' }, { name: 'user_id' }] });
    expect(await client.schemaById(2_000_000_000)).toEqual({ kind: 'not_found' });
  });

  it('a JSON Schema id is unusable, with the reason', async () => {
    const id = await registerSchema(registry.url, `json-${suffix}-value`, { type: 'object', title: `t${suffix}`, properties: { id: { type: 'string' } } }, 'JSON');
    const a = await client.schemaById(id);
    expect(a).toEqual({ kind: 'unusable', reason: 'it is a JSON schema, not Avro' });
  });

  it('anything but a clear answer is a retryable schema_registry_unavailable, never "not found"', async () => {
    // The registry's root instead of its Confluent API: a 404 without error 40403.
    const root = new SchemaRegistryClient({ url: registry.url.replace(/\/apis\/ccompat\/v7$/, '/nothing-here'), timeoutMs: 5000 });
    await expect(root.schemaById(1)).rejects.toMatchObject({ code: 'schema_registry_unavailable', retryable: true, message: expect.stringContaining('40403') });
    // Nobody listening.
    const closed = new SchemaRegistryClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 5000 });
    await expect(closed.schemaById(1)).rejects.toMatchObject({ code: 'schema_registry_unavailable', message: expect.stringContaining('ECONNREFUSED') });
    // Accepts and never answers: the timeout.
    const hung = net.createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const port = (hung.address() as net.AddressInfo).port;
      const slow = new SchemaRegistryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 });
      await expect(slow.schemaById(1)).rejects.toMatchObject({ code: 'schema_registry_unavailable', message: expect.stringContaining('no answer within 300 ms') });
    } finally {
      hung.close();
    }
  });

  it('credentials in the URL become basic auth and never appear in messages', async () => {
    let auth: string | undefined;
    let path = '';
    const srv = http.createServer((req, res) => {
      auth = req.headers.authorization;
      path = req.url ?? '';
      res.writeHead(503).end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const url = `http://reader:s%3Acret@127.0.0.1:${port}/base/`;
      const c = new SchemaRegistryClient({ url, timeoutMs: 2000 });
      const err = (await c.schemaById(42).catch((e: unknown) => e)) as Error;
      expect(auth).toBe(`Basic ${Buffer.from('reader:s:cret').toString('base64')}`);
      expect(path).toBe('/base/schemas/ids/42');
      expect(err.message).toContain('HTTP 503');
      expect(err.message).not.toContain('cret');
      expect(c.displayUrl).toBe(`http://***@127.0.0.1:${port}/base`);
      expect(redactUrl(url)).not.toContain('reader');
    } finally {
      srv.close();
    }
  });
});

describe('the supervisor schema store', () => {
  const framed = (id: number) => confluentFrame(id, Buffer.from([2, 65]));

  it('asks only for framed ids nobody knows, once; the directory wins; "not found" is asked again later', async () => {
    const real = new SchemaRegistryClient({ url: registry.url, timeoutMs: 5000 });
    const asked: number[] = [];
    const lookup = { displayUrl: real.displayUrl, schemaById: (id: number) => (asked.push(id), real.schemaById(id)) };
    const id = await registerSchema(registry.url, `store-${suffix}-value`, record('S'));
    const dirSchema = JSON.stringify(record('Dir'));
    // The directory's id is one the shared registry never issues to a test (it numbers from 1 up): were it, say, 7,
    // the schema this test registers would get 7 whenever six were registered before it, and the store rightly
    // not ask for it.
    const DIR_ID = 1_999_999_999;
    expect(id).not.toBe(DIR_ID);
    const store = new ConfluentSchemas({ [DIR_ID]: dirSchema }, lookup);
    const c = chunkOf([Buffer.from('{"id":"x"}'), framed(DIR_ID), framed(id), framed(id), framed(2_000_000_001), Buffer.from([0, 1])]);
    const ids = store.unresolved(c.data, c.starts, c.ends, c.count, 0);
    expect(ids).toEqual([id, 2_000_000_001]);
    const r = await store.resolve(ids, 0);
    expect(Object.keys(r.schemas)).toEqual([String(id)]);
    expect(r.notFound).toEqual([2_000_000_001]);
    expect(r.failed).toEqual([]);
    expect(store.schemas[DIR_ID]).toBe(dirSchema);
    // Known ids are never asked again; a "not found" is believed for a while, then asked again.
    expect(store.unresolved(c.data, c.starts, c.ends, c.count, 1000)).toEqual([]);
    expect(store.unresolved(c.data, c.starts, c.ends, c.count, 60_000)).toEqual([2_000_000_001]);
    expect(asked).toEqual([id, 2_000_000_001]);
    expect(store.unknownHint).toContain('GAMESTREAM_AVRO_SCHEMA_DIR');
  });

  it('an outage leaves the ids unresolved and says why', async () => {
    const down = new SchemaRegistryClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 });
    const store = new ConfluentSchemas({}, down);
    const c = chunkOf([framed(5)]);
    const r = await store.resolve(store.unresolved(c.data, c.starts, c.ends, c.count, 0), 0);
    expect(r.failed).toEqual([5]);
    expect((r.error as { code: string }).code).toBe('schema_registry_unavailable');
    expect(store.unresolved(c.data, c.starts, c.ends, c.count, 0)).toEqual([5]);
  });
});

describe('GAMESTREAM_SCHEMA_REGISTRY_URL', () => {
  const base = { GAMESTREAM_WORKERS: '1' };
  it('takes an http(s) URL, with the directory too, and a timeout', () => {
    const c = loadConfig({ ...base, GAMESTREAM_SCHEMA_REGISTRY_URL: 'https://u:p@registry.example:8081/apis/ccompat/v7', GAMESTREAM_AVRO_SCHEMA_DIR: '/tmp/schemas', GAMESTREAM_SCHEMA_REGISTRY_TIMEOUT: '2s' });
    expect(c.schemaRegistryUrl).toBe('https://u:p@registry.example:8081/apis/ccompat/v7');
    expect(c.avroSchemaDir).toBe('/tmp/schemas');
    expect(c.schemaRegistryTimeoutMs).toBe(2000);
    expect(loadConfig(base).schemaRegistryUrl).toBeNull();
  });

  it('refuses other schemes, queries and bad timeouts, without echoing a password', () => {
    const msg = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    expect(msg({ GAMESTREAM_SCHEMA_REGISTRY_URL: 'ftp://registry:8081' })).toContain('GAMESTREAM_SCHEMA_REGISTRY_URL="ftp://registry:8081" is not valid');
    const q = msg({ GAMESTREAM_SCHEMA_REGISTRY_URL: 'https://u:topsecret@registry:8081/?x=1' });
    expect(q).toContain('without ?query');
    expect(q).not.toContain('topsecret');
    expect(msg({ GAMESTREAM_SCHEMA_REGISTRY_TIMEOUT: '10m' })).toContain('GAMESTREAM_SCHEMA_REGISTRY_TIMEOUT');
  });
});
