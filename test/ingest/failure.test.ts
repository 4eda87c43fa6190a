// When Kafka cannot acknowledge: 503 with Retry-After, quickly, and nothing kept for later; the server stays up
// and recovers by itself. The network is broken with a TCP proxy in front of the real broker.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { IngestServer } from '../../src/ingest/server.ts';
import { freePort } from '../setup/kafka-broker.ts';
import { FaultProxy } from './fault-proxy.ts';
import { brokers, createTopic, post, startServer, topicCount, uniqueTopic } from './support.ts';

const event = (i: number) => JSON.stringify({ id: `f${i}`, user_id: `u-${i}`, type: 1001 });

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('Kafka unavailable', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('answers 503 with Retry-After at once when no broker is there, and keeps serving', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const server = await startServer(uniqueTopic('ingest-nobroker'), { brokers: [dead], ackTimeoutMs: 500 }, {}, false);
    cleanup.push(() => server.close());
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const res = await post(server, [event(1), event(2)].join('\n'));
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(res.status).toBe(503);
      expect(res.json.error).toBe('kafka_unavailable');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'kafka_unavailable', producer: 'disconnected' });
    expect(server.stats()).toMatchObject({ heldBytes: 0, queuedMessages: 0, waitingRequests: 0 });
  });

  it('times out to 503 when the broker stops answering, refuses what does not fit, keeps nothing, recovers', async () => {
    const topic = uniqueTopic('ingest-blackhole');
    await createTopic(topic, 4);
    const proxy = new FaultProxy(brokers()[0]);
    await proxy.start();
    cleanup.push(() => proxy.close());
    // A budget that holds one small request (42 bytes): the second one must be refused, not queued.
    const server = await startServer(topic, { ackTimeoutMs: 1000, maxInflightBytes: 60 }, { kafkaOverrides: { socketFactory: proxy.socketFactory } });
    cleanup.push(() => server.close());
    expect((await post(server, event(1))).status).toBe(202);

    proxy.set('blackhole');
    const t0 = performance.now();
    const stuck = post(server, event(2));
    await until('the request to be queued', () => server.stats().heldBytes > 0, 2000);
    const overflow = await post(server, event(3));
    expect(overflow.status).toBe(503);
    expect(overflow.json.error).toBe('ingest_overloaded');
    expect(overflow.headers.get('retry-after')).toBe('1');
    const timedOut = await stuck;
    const waited = performance.now() - t0;
    expect(timedOut.status).toBe(503);
    expect(timedOut.json.error).toBe('kafka_timeout');
    expect(Number(timedOut.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(3000);
    // kafkajs is still retrying that send: a new request is not queued behind it to wait a second in vain.
    const t1 = performance.now();
    const stalled = await post(server, event(6));
    expect([stalled.status, stalled.json.error]).toEqual([503, 'kafka_timeout']);
    expect(performance.now() - t1).toBeLessThan(500);
    // The send kafkajs still had in hand fails in the end and the session is reset: nothing is left waiting.
    await until('the stuck send to be given up', () => server.stats().heldBytes === 0 && !server.producerReady);
    const down = await post(server, event(4));
    expect(down.status).toBe(503);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(503);

    proxy.set('pass');
    expect(await server.whenProducerReady(20_000)).toBe(true);
    expect((await post(server, event(5))).status).toBe(202);
    // Only the two acknowledged events are in Kafka: the refused ones were not kept and sent later.
    await sleep(500);
    expect(await topicCount(topic)).toBe(2);
    expect(server.stats()).toMatchObject({ heldBytes: 0, waitingRequests: 0 });
  });

  it('answers 503 quickly when the broker goes away under a connected producer, then recovers', async () => {
    const topic = uniqueTopic('ingest-refuse');
    await createTopic(topic, 4);
    const proxy = new FaultProxy(brokers()[0]);
    await proxy.start();
    cleanup.push(() => proxy.close());
    const server = await startServer(topic, { ackTimeoutMs: 5000 }, { kafkaOverrides: { socketFactory: proxy.socketFactory } });
    cleanup.push(() => server.close());

    // Compression: 1000 similar events cross the wire LZ4-compressed, well under their raw size.
    const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ id: `c${i}`, user_id: `u-${i % 50}`, timestamp: '2026-11-20T10:00:00.000Z', type: 1001, name: 'level_start', parameters: { level_id: i % 30, attempt: 1 } }));
    const raw = lines.reduce((n, l) => n + l.length, 0);
    const before = proxy.bytesToBroker;
    expect((await post(server, lines.join('\n'))).status).toBe(202);
    expect(proxy.bytesToBroker - before).toBeLessThan(raw / 2);

    proxy.set('refuse');
    const t0 = performance.now();
    const res = await post(server, event(1));
    expect(res.status).toBe(503);
    expect(['kafka_send_failed', 'kafka_unavailable']).toContain(res.json.error);
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(performance.now() - t0).toBeLessThan(5000);
    await until('nothing held', () => server.stats().heldBytes === 0);

    proxy.set('pass');
    expect(await server.whenProducerReady(20_000)).toBe(true);
    expect((await post(server, event(2))).status).toBe(202);
    expect(await topicCount(topic)).toBe(1001);
  });
});
