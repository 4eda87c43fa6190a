// What reaches Kafka: every event of an accepted batch (broken ones too) with its exact bytes, keyed by user_id
// and placed where the Java client's default partitioner puts the key, and already there when the 202 arrives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestServer } from '../../src/ingest/server.ts';
import { partitionForKey } from '../../src/sources/partitioner.ts';
import { javaPartition } from '../support/truth/partition.ts';
import { createTopic, post, readTopic, startServer, topicCount, uniqueTopic } from './support.ts';

const PARTITIONS = 16;

describe('delivery to Kafka', () => {
  let server: IngestServer;
  const topic = uniqueTopic('ingest-delivery');

  beforeAll(async () => {
    await createTopic(topic, PARTITIONS);
    server = await startServer(topic);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('forwards every event of an accepted batch, broken ones included, byte for byte and keyed by user_id', async () => {
    const lines = [
      '{"id":"e1","user_id":"u-1","timestamp":"2026-11-20T10:00:00Z","type":1001}',
      '{"id":"e2","user_id":"u-2","type":"1001"}', // wrong type: the processor dead-letters it
      '{"id":"e3","timestamp":"2026-11-20T10:00:00Z","type":1001}', // no user_id: no key
      '{"id":"e4","user_id":"u-1","timestamp":"2026-11-20T10:00:00Z","type":10', // cut short, still keyed
      'not json at all \u00e9',
      '{"id":"e6","user_id":"","type":1}', // empty user_id: no key
      '{"id":"e7","user_id":"u\\u002d7","type":1}', // escaped key: the decoded string
      '{"id":"e8","user_id":42,"type":1}', // not a string: no key
    ];
    // CRLF line ends and blank lines are not events.
    const res = await post(server, `${lines.join('\r\n')}\r\n\n`);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ accepted: lines.length });
    const got = await readTopic(topic, lines.length);
    expect(got.map((m) => m.value.toString()).sort()).toEqual([...lines].sort());
    const keyOf = new Map(got.map((m) => [m.value.toString(), m.key?.toString() ?? null]));
    expect(lines.map((l) => keyOf.get(l))).toEqual(['u-1', 'u-2', null, 'u-1', null, null, 'u-7', null]);

    // Placement: exactly the Java client's default partitioner (murmur2 of the key bytes), computed by the
    // tests' own port of it, and the engine's partitioner agrees.
    for (const m of got) {
      if (m.key === null) continue;
      expect(m.partition).toBe(javaPartition(m.key, PARTITIONS));
      expect(m.partition).toBe(partitionForKey(m.key, 0, m.key.length, PARTITIONS));
    }
  });

  it('produces JSON array elements re-serialised, and has them in Kafka by the time it answers 202', async () => {
    const topic2 = uniqueTopic('ingest-array');
    await createTopic(topic2, 4);
    const s2 = await startServer(topic2);
    try {
      const events = [
        { id: 'a1', user_id: 'player-1', timestamp: '2026-11-20T10:00:00.123Z', type: 1002, parameters: { level_id: 42, boosters_used: [] } },
        { id: 'a2', user_id: 'player-2', type: 'wrong' },
        'a string is not an event, but it is forwarded',
        null,
      ];
      const res = await post(s2, JSON.stringify(events, null, 2), { contentType: 'application/json; charset=utf-8' });
      expect(res.status).toBe(202);
      expect(res.json.accepted).toBe(4);
      // Acknowledged means written: the high watermarks already count them, with no wait.
      expect(await topicCount(topic2)).toBe(4);
      const got = await readTopic(topic2, 4);
      expect(got.map((m) => m.value.toString()).sort()).toEqual(events.map((e) => JSON.stringify(e)).sort());
      expect(got.filter((m) => m.key !== null).map((m) => m.key!.toString()).sort()).toEqual(['player-1', 'player-2']);
    } finally {
      await s2.close();
    }
  });

  it('accepts gzip bodies and many requests at once, each answered only for its own events', async () => {
    const before = await topicCount(topic);
    const batches = Array.from({ length: 20 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `g${b}-${i}`, user_id: `u-${(b * 50 + i) % 97}`, type: 1001 })).join('\n'));
    const answers = await Promise.all(batches.map((body, b) => post(server, body, { gzip: b % 2 === 0 })));
    expect(answers.map((a) => a.status)).toEqual(batches.map(() => 202));
    expect(answers.reduce((n, a) => n + (a.json.accepted ?? 0), 0)).toBe(1000);
    expect(await topicCount(topic)).toBe(before + 1000);
    const s = server.stats();
    expect(s.heldBytes).toBe(0);
    expect(s.waitingRequests).toBe(0);
  });
});
