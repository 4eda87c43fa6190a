// JSON and Confluent-framed Avro on one Kafka topic, with writer schemas from a real schema registry (Apicurio
// Registry's Confluent API, from the suite's global setup): the daemon runs as an operator would run it, and
// the warehouse must hold exactly the events produced. Schemas registered after the daemon started are resolved
// when their first record arrives; an id nobody registered is dead-lettered as unknown_schema; while the
// registry is down nothing is dead-lettered and the records arrive once it is back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import avro from 'avsc';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTopics } from '../../src/kafka-platformatic/topics.ts';
import { kafkaConn, produce as produceRecords, withAdmin } from '../support/kafka/client.ts';
import { startLocalSchemaRegistry, stopLocalSchemaRegistry } from '../setup/schema-registry-server.ts';
import { describeRun, runEngine, writtenSoFar, type EngineRun } from '../support/truth/engine.ts';
import { confluentFrame, registerSchema } from '../support/schema-registry.ts';

const TIMEOUT = 150_000;
const PARTITIONS = 4;
const UNREGISTERED_ID = 2_000_000_000;

describe('Kafka with a schema registry', { timeout: TIMEOUT }, () => {
  const brokers = inject('kafkaBrokers');
  const registry = inject('schemaRegistry');
  const kafka = kafkaConn(brokers);
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gamestream-kafka-registry-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A producer's writer schema: plain typed fields, as an application would declare them (unique per topic). */
  function writerSchema(topic: string, name: string, extra: { name: string; type: unknown; default?: unknown }[], drop: string[] = []): object {
    return {
      type: 'record', name, namespace: `test.${topic.replace(/-/g, '_')}`,
      fields: [
        { name: 'id', type: 'string' }, { name: 'user_id', type: 'string' }, { name: 'timestamp', type: 'long' },
        { name: 'type', type: 'long' }, { name: 'name', type: 'string' }, { name: 'parameters', type: 'string' }, ...extra,
      ].filter((f) => !drop.includes(f.name)),
    };
  }

  interface Sent { id: string; key: string; value: Buffer }
  let seq = 0;
  /** Events with recent timestamps (never future, never too old to matter); `fields` adds the schema's extras. */
  function events(prefix: string, n: number, encode: (e: Record<string, unknown>) => Buffer, fields: Record<string, unknown> = {}): Sent[] {
    const now = Date.now();
    return Array.from({ length: n }, (_, i) => {
      const e = {
        id: `${prefix}-${i}`, user_id: `u-${(seq++) % 7}`, timestamp: now - 60_000 + i, type: 1002, name: 'level_complete',
        parameters: JSON.stringify({ level_id: 10 + (i % 3), moves_used: i }), ...fields,
      };
      return { id: e.id, key: e.user_id, value: encode(e) };
    });
  }
  const json = (e: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...e, parameters: JSON.parse(e.parameters as string) }));
  const avroWith = (id: number, schema: object) => {
    const type = avro.Type.forSchema(schema as avro.Schema);
    return (e: Record<string, unknown>) => confluentFrame(id, type.toBuffer(e));
  };

  async function createTopic(topic: string): Promise<void> {
    await withAdmin(kafka, (admin) => ensureTopics(admin, [{ name: topic, partitions: PARTITIONS, retentionMs: 86_400_000 }]));
  }

  async function produce(topic: string, sent: Sent[]): Promise<void> {
    await produceRecords(kafka, topic, sent.map((s) => ({ key: s.key, value: s.value })));
  }

  /**
   * Starts the daemon on the topic until stop() is called (SIGTERM: it drains and exits 0). `out()` is its
   * stdout so far; progress lines every 100 ms keep it fresh and carry the stop.
   */
  function startDaemon(topic: string, extra: Record<string, string> = {}): { out(): string; stop(): Promise<EngineRun> } {
    let stdout = '';
    let stopping = false;
    const run = runEngine(
      {
        GAMESTREAM_SOURCE: 'kafka', GAMESTREAM_KAFKA_BROKERS: brokers, GAMESTREAM_KAFKA_TOPIC: topic,
        GAMESTREAM_KAFKA_GROUP: `g-${topic}`, GAMESTREAM_KAFKA_STOP: 'never', GAMESTREAM_KAFKA_RAW_PARTITIONS: String(PARTITIONS),
        GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off', GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
        GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `${topic}.duckdb`)}`, GAMESTREAM_GEOIP_DB: 'off', GAMESTREAM_DEVICE_TABLE: 'off',
        GAMESTREAM_WORKERS: '2', GAMESTREAM_LOG_LEVEL: 'info', GAMESTREAM_IDLE_TIMEOUT: '1h',
        GAMESTREAM_FLUSH_INTERVAL: '100ms', GAMESTREAM_PROGRESS_INTERVAL: '100ms',
        GAMESTREAM_SCHEMA_REGISTRY_URL: registry.url, GAMESTREAM_SCHEMA_REGISTRY_TIMEOUT: '2s',
        ...extra,
      },
      TIMEOUT - 10_000,
      (s) => {
        stdout = s;
        return stopping;
      },
      'SIGTERM',
    );
    return {
      out: () => stdout,
      stop: () => {
        stopping = true;
        return run;
      },
    };
  }

  const deadLettersSoFar = (stdout: string): number => {
    const all = [...stdout.matchAll(/dead letters ([\d,]+)/g)];
    return all.length === 0 ? 0 : Number(all[all.length - 1][1].replaceAll(',', ''));
  };

  /** Waits for `cond`; past `ms` the daemon is stopped, and its stderr (what it was waiting on) goes in the error. */
  async function until(what: string, cond: () => boolean, d: { out(): string; stop(): Promise<EngineRun> }, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${describeRun(await d.stop())}`);
      await sleep(100);
    }
  }

  async function warehouse(topic: string): Promise<{ events: Map<string, Record<string, unknown>>; dlq: Record<string, unknown>[] }> {
    const inst = await DuckDBInstance.create(join(dir, `${topic}.duckdb`), { access_mode: 'READ_ONLY' });
    const conn = await inst.connect();
    try {
      const ev = (await conn.runAndReadAll('SELECT event_id, user_id, event_type, event_name, platform, parameters::VARCHAR AS parameters, properties::VARCHAR AS properties FROM events')).getRowObjectsJson();
      const dlq = (await conn.runAndReadAll('SELECT error_code, error, stage, source_offset FROM events_dlq')).getRowObjectsJson();
      return { events: new Map(ev.map((r) => [String(r.event_id), r])), dlq };
    } finally {
      conn.closeSync();
      inst.closeSync();
    }
  }

  it('JSON and Avro together; a schema registered after the start is resolved; an unregistered id is dead-lettered', async () => {
    const topic = `registry-${Date.now()}`;
    await createTopic(topic);
    const schemaA = writerSchema(topic, 'LevelA', []);
    const idA = await registerSchema(registry.url, `${topic}-value`, schemaA);
    const first = [
      ...events('json1', 30, json),
      ...events('avroA', 30, avroWith(idA, schemaA)),
      // An id the registry never issued: the only dead letter.
      { id: 'unregistered', key: 'u-x', value: confluentFrame(UNREGISTERED_ID, Buffer.from([2, 65])) },
    ];
    await produce(topic, first);
    const d = startDaemon(topic);
    await until('the first records', () => writtenSoFar(d.out()) >= 60 && deadLettersSoFar(d.out()) >= 1, d);

    // Registered now, while the daemon runs: it has never seen this id. Version 2 of the subject adds a field gamestream
    // knows (platform) and one it does not (level, with a default); version 3 removes one (name) and adds another.
    const schemaB = writerSchema(topic, 'LevelB', [{ name: 'platform', type: 'string' }, { name: 'level', type: ['null', 'long'], default: null }]);
    const idB = await registerSchema(registry.url, `${topic}-value`, schemaB);
    expect(idB).not.toBe(idA);
    const schemaC = writerSchema(topic, 'LevelC', [{ name: 'sdk', type: 'string', default: 'none' }], ['name']);
    const idC = await registerSchema(registry.url, `${topic}-value`, schemaC);
    const second = [
      ...events('avroB', 30, avroWith(idB, schemaB), { platform: 'ios', level: 7 }), ...events('json2', 10, json, { sdk: { name: 'unity' } }),
      ...events('avroC', 10, avroWith(idC, schemaC), { sdk: 'unity-6' }),
    ];
    await produce(topic, second);
    await until('the records with the new schemas', () => writtenSoFar(d.out()) >= 110, d);
    const r = await d.stop();
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr).toContain('schemas resolved from the schema registry');

    const wh = await warehouse(topic);
    const expected = [...first, ...second].filter((s) => s.id !== 'unregistered').map((s) => s.id);
    expect([...wh.events.keys()].sort()).toEqual(expected.sort());
    expect(wh.events.get('avroB-3')).toMatchObject({ user_id: expect.stringMatching(/^u-/), event_type: '1002', platform: 'ios' });
    expect(JSON.parse(String(wh.events.get('avroA-4')?.parameters))).toEqual({ level_id: 11, moves_used: 4 });
    // Fields gamestream does not know are kept, from Avro and JSON alike; a field a version removed is absent.
    const props = (id: string): unknown => JSON.parse(String(wh.events.get(id)?.properties ?? 'null'));
    expect(props('avroA-4')).toBeNull();
    expect(props('avroB-3')).toEqual({ level: 7 });
    expect(props('json2-1')).toEqual({ sdk: { name: 'unity' } });
    expect(props('avroC-2')).toEqual({ sdk: 'unity-6' });
    expect(wh.events.get('avroC-2')).toMatchObject({ event_name: null, event_type: '1002' });
    expect(wh.events.get('avroB-3')).toMatchObject({ event_name: 'level_complete' });
    expect(wh.dlq).toHaveLength(1);
    expect(wh.dlq[0]).toMatchObject({ error_code: 'unknown_schema', stage: 'decode' });
    expect(String(wh.dlq[0].error)).toContain(`schema id ${UNREGISTERED_ID}`);
  });

  it('registry down for a while: no dead letters, records wait (the group keeps its member), and arrive once it is back', async () => {
    const topic = `outage-${Date.now()}`;
    await createTopic(topic);
    // A short session: a wait without heartbeats longer than this would cost the group membership.
    const d = startDaemon(topic, { GAMESTREAM_KAFKA_SESSION_TIMEOUT: '6s' });
    const before = events('json1', 20, json);
    await produce(topic, before);
    await until('the JSON records', () => writtenSoFar(d.out()) >= 20, d);
    const metricsUrl = /status page on (http:\/\/\S+)/.exec(d.out())?.[1];

    const schemaC = writerSchema(topic, 'LevelC', [{ name: 'device_model', type: 'string' }]);
    const idC = await registerSchema(registry.url, `${topic}-value`, schemaC);
    stopLocalSchemaRegistry(registry, { keepData: true });
    let restarted = false;
    try {
      const during = [...events('avroC', 20, avroWith(idC, schemaC), { device_model: 'Pixel 8' }), ...events('json2', 10, json)];
      await produce(topic, during);
      // Longer than the session timeout: the daemon holds the records, backs off, and stays in the group.
      await sleep(9000);
      expect(writtenSoFar(d.out())).toBe(20);
      expect(deadLettersSoFar(d.out())).toBe(0);
      if (metricsUrl) {
        const ready = await fetch(`${metricsUrl}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.text()).toContain('waiting for the schema registry');
      }
      await startLocalSchemaRegistry({ port: registry.port, dataDir: registry.dataDir });
      restarted = true;
      await until('the held records', () => writtenSoFar(d.out()) >= 50, d);
      const r = await d.stop();
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.stderr).toContain('schema registry cannot answer; holding records back and retrying');
      expect(r.stderr).toContain('the schema registry answers again');
      // One assignment at the start and none after: the waits kept sending heartbeats.
      expect(r.stderr.match(/kafka partitions assigned/g)).toHaveLength(1);

      const wh = await warehouse(topic);
      expect(wh.dlq).toEqual([]);
      expect([...wh.events.keys()].sort()).toEqual([...before, ...during].map((s) => s.id).sort());
    } finally {
      // The registry is shared by the whole run: it must be up again whatever happened here.
      if (!restarted) await startLocalSchemaRegistry({ port: registry.port, dataDir: registry.dataDir });
      await d.stop().catch(() => undefined);
    }
  });
});
