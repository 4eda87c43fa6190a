// The load generator against a real server and broker: every generated event arrives, at the asked rate, and
// a 503 is retried after its Retry-After instead of being lost.
import { describe, expect, it } from 'vitest';
import { runLoadgen } from '../../src/ingest/loadgen.ts';
import { API_KEY, createTopic, readTopic, startServer, topicCount, uniqueTopic } from './support.ts';

describe('loadgen', () => {
  it('posts N events at a modest rate and all of them arrive in Kafka', async () => {
    const topic = uniqueTopic('ingest-loadgen');
    await createTopic(topic, 8);
    const server = await startServer(topic);
    try {
      const r = await runLoadgen({ url: server.url, apiKey: API_KEY, rate: 2000, seconds: 2, batchSize: 100, seed: 7, badShare: 0.05, gzip: true });
      expect(r).toMatchObject({ sent: 4000, accepted: 4000, rejected: 0, retried: 0, requests: 40 });
      expect(r.elapsedSeconds).toBeGreaterThan(1.9);
      expect(r.rate).toBeGreaterThan(1500);
      expect(await topicCount(topic)).toBe(4000);
      // Broken records are among them, forwarded as they were made.
      const got = await readTopic(topic, 4000);
      const notJson = got.filter((m) => {
        try {
          JSON.parse(m.value.toString());
          return false;
        } catch {
          return true;
        }
      });
      expect(notJson.length).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });

  it('retries 503s after Retry-After, as a client SDK would', async () => {
    const topic = uniqueTopic('ingest-loadgen-retry');
    // The server starts before its topic exists: the producer cannot send to it, requests get 503, the loadgen retries.
    const server = await startServer(topic, { ackTimeoutMs: 1000 });
    try {
      const run = runLoadgen({ url: `${server.url}/v1/events`, apiKey: API_KEY, rate: 200, seconds: 1, batchSize: 50, seed: 3, drainSeconds: 20 });
      // The topic appears only once requests have been refused for want of it.
      for (const end = Date.now() + 15_000; !(server.stats().statuses[503] > 0);) {
        if (Date.now() > end) throw new Error('timed out waiting for a 503');
        await new Promise((r) => setTimeout(r, 25));
      }
      await createTopic(topic, 2);
      const r = await run;
      expect(r.retried).toBeGreaterThan(0);
      expect(r.statuses['503']).toBeGreaterThan(0);
      expect(r).toMatchObject({ sent: 200, accepted: 200, rejected: 0 });
      expect(await topicCount(topic)).toBe(200);
    } finally {
      await server.close();
    }
  });
});
