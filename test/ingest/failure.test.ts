// When Kafka cannot acknowledge: 503 with Retry-After, quickly, and nothing kept for later; the server stays up
// and recovers by itself. The network is broken with a TCP proxy in front of a real broker of these tests' own,
// which advertises the proxy's address, so that every connection of the client goes through the proxy; and that
// broker is also stopped and started again under a server that is sending.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, haltLocalBroker, restartLocalBroker } from '../setup/kafka-broker.ts';
import { createTopic, post, readTopic, startProxiedBroker, startServer, topicCount, uniqueTopic, type ProxiedBroker } from './support.ts';

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
  let kafka: ProxiedBroker;
  beforeAll(async () => {
    kafka = await startProxiedBroker();
  }, 120_000);
  afterAll(async () => {
    await kafka?.stop();
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    kafka?.proxy.set('pass');
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
    await createTopic(topic, 4, kafka.brokers);
    const proxy = kafka.proxy;
    // A budget that holds one small request (42 bytes): the second one must be refused, not queued.
    const server = await startServer(topic, { brokers: kafka.brokers, ackTimeoutMs: 1000, maxInflightBytes: 60 });
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
    // The client is still retrying that send: a new request is not queued behind it to wait a second in vain.
    const t1 = performance.now();
    const stalled = await post(server, event(6));
    expect([stalled.status, stalled.json.error]).toEqual([503, 'kafka_timeout']);
    expect(performance.now() - t1).toBeLessThan(500);
    // The send the client still had in hand fails in the end and the session is reset: nothing is left waiting.
    await until('the stuck send to be given up', () => server.stats().heldBytes === 0 && !server.producerReady);
    const down = await post(server, event(4));
    expect(down.status).toBe(503);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(503);

    proxy.set('pass');
    expect(await server.whenProducerReady(20_000)).toBe(true);
    expect((await post(server, event(5))).status).toBe(202);
    // Only the two acknowledged events are in Kafka: the refused ones were not kept and sent later. (A pause,
    // not a condition: it gives a wrongly kept event the time to arrive.)
    await sleep(500);
    expect(await topicCount(topic, kafka.brokers)).toBe(2);
    expect(server.stats()).toMatchObject({ heldBytes: 0, waitingRequests: 0 });
  });

  it('answers 503 quickly when the broker goes away under a connected producer, then recovers', async () => {
    const topic = uniqueTopic('ingest-refuse');
    await createTopic(topic, 4, kafka.brokers);
    const proxy = kafka.proxy;
    const server = await startServer(topic, { brokers: kafka.brokers, ackTimeoutMs: 5000 });
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
    expect(await topicCount(topic, kafka.brokers)).toBe(1001);
  });

  it('sends again, under the same producer id and sequence, a batch whose answer was lost, and Kafka keeps it once', async () => {
    const topic = uniqueTopic('ingest-lost-answer');
    await createTopic(topic, 1, kafka.brokers);
    const proxy = kafka.proxy;
    const server = await startServer(topic, { brokers: kafka.brokers, ackTimeoutMs: 5000 });
    cleanup.push(() => server.close());
    expect((await post(server, event(1))).status).toBe(202);

    // The producer's connection delivers the next batch, and the broker writes it, but its answer never comes back.
    proxy.muteOpen();
    let answered = false;
    const answer = post(server, event(2)).finally(() => (answered = true));
    await until('the broker to have written the batch', async () => (await topicCount(topic, kafka.brokers)) === 2);
    expect(answered).toBe(false);
    // The connection drops; the client sends the batch again, which the broker recognises as written already.
    proxy.set('pass');
    const res = await answer;
    expect(res.status).toBe(202);
    expect(await topicCount(topic, kafka.brokers)).toBe(2);
    const got = await readTopic(topic, 2, 15_000, kafka.brokers);
    expect(got.map((m) => m.value.toString())).toEqual([event(1), event(2)]);
    expect(server.stats()).toMatchObject({ failedSends: 0, heldBytes: 0 });
  });

  it('answers 503 while the broker is stopped mid-send, loses nothing it acknowledged, answers 2xx for nothing else, recovers', async () => {
    const topic = uniqueTopic('ingest-stopped');
    await createTopic(topic, 4, kafka.brokers);
    const ackTimeoutMs = 3000;
    const server = await startServer(topic, { brokers: kafka.brokers, ackTimeoutMs });
    cleanup.push(() => server.close());

    // Three clients post batches of 20 events with unique ids, one request after the other, the whole time.
    type Phase = 'up' | 'stopping' | 'down' | 'restarting' | 'back';
    let phase: Phase = 'up';
    const answers: { ids: string[]; status: number; error?: string; retryAfter: string | null; ms: number; sentIn: Phase; answeredIn: Phase }[] = [];
    let next = 0;
    let running = true;
    const client = async (): Promise<void> => {
      while (running) {
        const ids = Array.from({ length: 20 }, () => `s${next++}`);
        const sentIn = phase;
        const t0 = performance.now();
        const res = await post(server, ids.map((id, i) => JSON.stringify({ id, user_id: `u-${i % 7}`, type: 1001 })).join('\n'));
        answers.push({ ids, status: res.status, error: res.json.error, retryAfter: res.headers.get('retry-after'), ms: performance.now() - t0, sentIn, answeredIn: phase });
        // Pacing after a refusal (a client would wait Retry-After): the server answers those at once.
        if (res.status !== 202) await sleep(25);
      }
    };
    const clients = [client(), client(), client()];
    const acked = (p?: Phase) => answers.filter((a) => a.status === 202 && (p === undefined || a.sentIn === p)).length;
    try {
      await until('requests acknowledged before the stop', () => acked('up') >= 10);
      phase = 'stopping';
      await haltLocalBroker(kafka.broker);
      phase = 'down';
      await until('the server to notice', () => !server.producerReady && answers.some((a) => a.sentIn === 'down'));
      phase = 'restarting';
      await restartLocalBroker(kafka.broker);
      phase = 'back';
      expect(await server.whenProducerReady(30_000)).toBe(true);
      await until('requests acknowledged after the restart', () => acked('back') >= 10, 30_000);
    } finally {
      running = false;
      await Promise.all(clients);
    }

    // Every answer is 202 or a 503 with Retry-After, and none took longer than the ack timeout (plus scheduling).
    for (const a of answers) {
      expect(a.status === 202 || (a.status === 503 && a.retryAfter !== null), JSON.stringify(a)).toBe(true);
      expect(a.ms).toBeLessThan(ackTimeoutMs + 2000);
    }
    // With no broker there, nothing is answered 2xx, and the refusals say why.
    const whileDown = answers.filter((a) => a.sentIn === 'down' && a.answeredIn === 'down');
    expect(whileDown.length).toBeGreaterThan(0);
    for (const a of whileDown) {
      expect(a.status).toBe(503);
      expect(['kafka_unavailable', 'kafka_send_failed', 'kafka_timeout']).toContain(a.error);
    }

    // Nothing acknowledged is lost across the stop and restart, and nothing is in Kafka twice (the client's
    // retries of a send the broker may have written are recognised by its producer id and sequence).
    const total = await topicCount(topic, kafka.brokers);
    const got = await readTopic(topic, total, 30_000, kafka.brokers);
    expect(got.length).toBe(total);
    const inKafka = got.map((m) => (JSON.parse(m.value.toString()) as { id: string }).id);
    expect(new Set(inKafka).size).toBe(inKafka.length);
    const present = new Set(inKafka);
    const acknowledged = answers.filter((a) => a.status === 202).flatMap((a) => a.ids);
    expect(acknowledged.filter((id) => !present.has(id))).toEqual([]);
    // What is in Kafka was sent by a client: an acknowledged batch, or one answered 503 that landed anyway.
    const sent = new Set(answers.flatMap((a) => a.ids));
    expect(inKafka.filter((id) => !sent.has(id))).toEqual([]);
  }, 180_000);
});
