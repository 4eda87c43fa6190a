/**
 * Shared pieces of the ingest tests: the real broker from the global setup, topics with random names, a server
 * on a free port, and reading a topic back with a real kafkajs consumer.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Admin, Kafka } from 'kafkajs';
import { inject } from 'vitest';
import { createKafka } from '../../src/kafka-kafkajs/client.ts';
import { ProducerSession, type ProducerSessionOptions } from '../../src/kafka-kafkajs/producer.ts';
import { startIngestServer, type IngestServer, type IngestServerConfig, type IngestServerOptions } from '../../src/ingest/server.ts';
import { ensureTopics } from '../../src/kafka-kafkajs/topics.ts';
import { createLogger } from '../../src/log.ts';

export const logger = createLogger(process.env.GAMESTREAM_TEST_LOG_LEVEL ?? 'silent');

export function brokers(): string[] {
  return inject('kafkaBrokers').split(',');
}

export function uniqueTopic(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export const API_KEY = 'test-key-0123456789abcdef';
export const OTHER_KEY = 'other-key-0123456789abcdef';

export function kafkaClient(): Kafka {
  return createKafka({ brokers: brokers(), logger, clientId: 'gamestream-ingest-test' });
}

export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

export async function createTopic(name: string, partitions: number): Promise<void> {
  await withAdmin((admin) => ensureTopics(admin, [{ name, partitions, retentionMs: 3_600_000 }]));
}

export function serverConfig(topic: string, over: Partial<IngestServerConfig> = {}): IngestServerConfig {
  return {
    brokers: brokers(), host: '127.0.0.1', port: 0, topic, maxBodyBytes: 5 << 20, maxBatchEvents: 1000,
    maxEventBytes: 1_000_000, maxInflightBytes: 64 << 20, apiKeys: [{ app: 'game', key: API_KEY }, { app: 'other', key: OTHER_KEY }],
    ackTimeoutMs: 5000, ...over,
  };
}

/** A server on a free port whose producer is connected (or not, when waitReady is false). */
export async function startServer(
  topic: string, over: Partial<IngestServerConfig> = {}, extra: Partial<IngestServerOptions> & { kafkaOverrides?: ProducerSessionOptions['kafkaOverrides'] } = {}, waitReady = true,
): Promise<IngestServer> {
  const { kafkaOverrides, ...rest } = extra;
  const server = await startIngestServer({
    config: serverConfig(topic, over), logger, openProducer: (o) => new ProducerSession({ ...o, kafkaOverrides }), ...rest,
  });
  if (waitReady && !(await server.whenProducerReady(15_000))) {
    await server.close();
    throw new Error('the ingest producer did not connect to the test broker within 15 s');
  }
  return server;
}

export interface PostOptions {
  key?: string | null;
  contentType?: string;
  gzip?: boolean;
  headers?: Record<string, string>;
}

export async function post(server: IngestServer, body: string | Buffer, o: PostOptions = {}): Promise<{ status: number; json: { accepted?: number; error?: string; message?: string }; headers: Headers }> {
  const headers: Record<string, string> = { ...o.headers };
  const key = o.key === undefined ? API_KEY : o.key;
  if (key !== null) headers['x-api-key'] = key;
  if (o.contentType) headers['content-type'] = o.contentType;
  let data = typeof body === 'string' ? Buffer.from(body) : body;
  if (o.gzip) {
    data = gzipSync(data);
    headers['content-encoding'] = 'gzip';
  }
  const res = await fetch(`${server.url}/v1/events`, { method: 'POST', headers, body: data });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {}, headers: res.headers };
}

export interface ReadMessage {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer;
}

/** Total messages in a topic (sum of high watermarks): what Kafka has acknowledged. */
export async function topicCount(topic: string): Promise<number> {
  const offsets = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
}

/** Reads the whole topic with a fresh consumer group; expects exactly `count` messages. */
export async function readTopic(topic: string, count: number, timeoutMs = 15_000): Promise<ReadMessage[]> {
  const consumer = kafkaClient().consumer({ groupId: uniqueTopic('ingest-test'), allowAutoTopicCreation: false });
  const out: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({ partition, offset: message.offset, key: message.key, value: message.value ?? Buffer.alloc(0) });
        if (out.length >= count) done();
      },
    });
    const timer = setTimeout(done, timeoutMs);
    await finished;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return out;
}
