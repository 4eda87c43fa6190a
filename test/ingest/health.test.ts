// /healthz of the tracking server reflects whether Kafka acknowledges, not only whether a producer is connected:
// a frozen broker (a blackhole proxy: connections stay open, nothing comes back) makes it 503 as soon as a
// request has timed out, and it turns 200 again once a send is acknowledged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, post, startProxiedBroker, startServer, uniqueTopic, type ProxiedBroker } from './support.ts';
import { until } from './fake.ts';

const event = (i: number) => JSON.stringify({ id: `h${i}`, user_id: `u-${i}`, type: 1001 });

async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('tracking server health', () => {
  let kafka: ProxiedBroker;
  beforeAll(async () => {
    kafka = await startProxiedBroker();
  }, 120_000);
  afterAll(async () => {
    await kafka?.stop();
  });

  it('is unhealthy while the broker does not acknowledge, and healthy again once it does', async () => {
    const topic = uniqueTopic('ingest-health');
    await createTopic(topic, 2, kafka.brokers);
    const server = await startServer(topic, { brokers: kafka.brokers, ackTimeoutMs: 1000 });
    try {
      expect((await post(server, event(1))).status).toBe(202);
      expect(await health(server.url)).toMatchObject({ status: 200, body: { status: 'ok' } });

      kafka.proxy.set('blackhole');
      const res = await post(server, event(2));
      expect([res.status, res.json.error]).toEqual([503, 'kafka_timeout']);
      // The producer may well still count as connected: the connection is open, only nothing comes back.
      const h = await health(server.url);
      expect(h.status).toBe(503);
      expect(h.body.status).not.toBe('ok');
      // Until Kafka acknowledges again, every probe says so.
      expect((await health(server.url)).status).toBe(503);

      kafka.proxy.set('pass');
      await until('a request to be accepted again', async () => (await post(server, event(3))).status === 202, 60_000);
      expect(await health(server.url)).toMatchObject({ status: 200, body: { status: 'ok', producer: 'connected' } });
    } finally {
      await server.close();
    }
  }, 120_000);
});
