// Keyed records land in the partition the Java client's default partitioner picks, toPositive(murmur2(key)) %
// partitions, whether produced by the tracking server or copied to the enriched topic: with 7 partitions (where
// a sign-bit mistake or an unmasked hash shows) and with 64 (the seed's layout). The reference is the tests' own
// port of the Java code (test/support/truth/partition.ts, checked against Kafka's UtilsTest vectors there).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaOutputs } from '../../src/kafka-platformatic/outputs.ts';
import { brokers, createTopic, logger, post, readTopic, startServer, uniqueTopic } from '../ingest/support.ts';
import { createPartitioner } from '../support/truth/partition.ts';

// Keys of every length mod 4, non-ASCII ones, and enough of them to reach every partition of 64.
const USERS = [
  ...Array.from({ length: 900 }, (_, i) => `user-${i}`),
  'a', 'ab', 'abc', 'abcd', 'ünïcødé', '玩家-42', '21', 'foobar', 'x'.repeat(101),
];

describe('Java-compatible key partitioning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gamestream-partitioner-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const partitions of [7, 64]) {
    const java = createPartitioner(partitions);
    it(`places the tracking server's records by key as Java does, with ${partitions} partitions`, async () => {
      const topic = uniqueTopic(`partitioner-ingest-${partitions}`);
      await createTopic(topic, partitions);
      const server = await startServer(topic);
      try {
        const body = USERS.map((u, i) => JSON.stringify({ id: `p${i}`, user_id: u, type: 1001 })).join('\n');
        const res = await post(server, body);
        expect(res.status).toBe(202);
        const got = await readTopic(topic, USERS.length);
        expect(got.length).toBe(USERS.length);
        const seen = new Set<number>();
        for (const m of got) {
          expect(m.key).not.toBeNull();
          expect(m.partition, m.key!.toString()).toBe(java.of(m.key!, 0));
          seen.add(m.partition);
        }
        expect(new Set(got.map((m) => m.key!.toString()))).toEqual(new Set(USERS));
        // Enough keys to reach every partition: a placement that ignored the key would not match above anyway.
        expect(seen.size).toBe(partitions);
      } finally {
        await server.close();
      }
    });

    it(`places the enriched copies by user_id as Java does, with ${partitions} partitions`, async () => {
      const topic = uniqueTopic(`partitioner-enriched-${partitions}`);
      await createTopic(topic, partitions);
      const file = join(dir, `events-${partitions}.ndjson`);
      writeFileSync(file, USERS.map((u, i) => `${JSON.stringify({ event_id: `e${i}`, user_id: u, event_type: 1001 })}\n`).join(''));
      const outputs = new KafkaOutputs({ brokers: brokers(), clientId: 'gamestream-test', enrichedTopic: topic, dlqTopic: null, source: 'test', log: logger });
      try {
        await outputs.publish([{ events: file, dlq: null, agg: null, aggUpdates: null }]);
      } finally {
        await outputs.close();
      }
      expect(outputs.published.enriched).toBe(USERS.length);
      const got = await readTopic(topic, USERS.length);
      expect(got.length).toBe(USERS.length);
      for (const m of got) {
        const row = JSON.parse(m.value.toString()) as { user_id: string };
        expect(m.key?.toString()).toBe(row.user_id);
        expect(m.partition, row.user_id).toBe(java.ofKey(row.user_id));
      }
    });
  }
});
