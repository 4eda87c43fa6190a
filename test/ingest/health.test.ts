// /healthz of the tracking server reflects whether Kafka acknowledges, not only whether a producer is connected:
// a frozen broker (a blackhole proxy: connections stay open, nothing comes back) makes it 503 as soon as a
// request has timed out, and it turns 200 again once a send is acknowledged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, post, startProxiedBroker, startServer, uniqueTopic, type ProxiedBroker } from './support.ts';
import { until } from './fake.ts';
import { ProducerSession } from '../../src/kafka-platformatic/producer.ts';

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

  it('is unhealthy, naming the topic, until the topic can be made, and then takes events', async () => {
    const topic = uniqueTopic('ingest-topic-later');
    let attempts = 0;
    // As when Kafka was away while the server started: the topic is made by a later connection attempt.
    const ensureTopic = async (): Promise<void> => {
      if (++attempts < 3) throw new Error('the broker is away');
      await createTopic(topic, 2, kafka.brokers);
    };
    const server = await startServer(topic, { brokers: kafka.brokers }, { openProducer: (o) => new ProducerSession({ ...o, ensureTopic }) }, false);
    try {
      await until('health to name the topic', async () => String((await health(server.url)).body.lastError ?? '').includes(`topic ${topic} cannot be created or checked`), 10_000);
      expect((await health(server.url)).status).toBe(503);
      expect(await server.whenProducerReady(15_000)).toBe(true);
      expect((await post(server, event(9))).status).toBe(202);
      expect(attempts).toBe(3);
    } finally {
      await server.close();
    }
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
