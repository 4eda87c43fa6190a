/**
 * Shared pieces of the ingest tests: the real broker from the global setup (or a dedicated one behind a fault
 * proxy), topics with random names, a server on a free port, and reading a topic back with a real
 * @platformatic/kafka consumer.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ListOffsetTimestamps, type Admin, type BaseOptions } from '@platformatic/kafka';
import { inject } from 'vitest';
import { createAdmin } from '../../src/kafka-platformatic/client.ts';
import { ProducerSession } from '../../src/kafka-platformatic/producer.ts';
import { startIngestServer, type IngestServer, type IngestServerConfig, type IngestServerOptions } from '../../src/ingest/server.ts';
import { ensureTopics, partitionCounts } from '../../src/kafka-platformatic/topics.ts';
import { createLogger } from '../../src/log.ts';
import { consumeFromStart } from '../support/kafka/client.ts';
import { freePort, startLocalBroker, stopLocalBroker, type LocalBroker } from '../setup/kafka-broker.ts';
import { stopOnce } from '../setup/teardown.ts';
import { FaultProxy } from './fault-proxy.ts';

export const logger = createLogger(process.env.GAMESTREAM_TEST_LOG_LEVEL ?? 'silent');

export function brokers(): string[] {
  return inject('kafkaBrokers').split(',');
}

export function uniqueTopic(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export const API_KEY = 'test-key-0123456789abcdef';
export const OTHER_KEY = 'other-key-0123456789abcdef';

const CLIENT_ID = 'gamestream-ingest-test';

export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>, at: string[] = brokers()): Promise<T> {
  const admin = createAdmin({ brokers: at, clientId: CLIENT_ID });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

export async function createTopic(name: string, partitions: number, at: string[] = brokers(), config?: Record<string, string>): Promise<void> {
  await withAdmin((admin) => ensureTopics(admin, [{ name, partitions, retentionMs: 3_600_000, config }]), at);
}

export function serverConfig(topic: string, over: Partial<IngestServerConfig> = {}): IngestServerConfig {
  return {
    brokers: brokers(), host: '127.0.0.1', port: 0, topic, maxBodyBytes: 5 << 20, maxBatchEvents: 1000,
    maxEventBytes: 1_000_000, maxInflightBytes: 64 << 20, apiKeys: [{ app: 'game', key: API_KEY }, { app: 'other', key: OTHER_KEY }],
    ackTimeoutMs: 5000, maxConnections: 4096, idleTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, headersTimeoutMs: 10_000,
    requestTimeoutMs: 60_000, maxJsonDepth: 64, keyRate: 0, keyBurst: 2000, keyRateOverrides: [], authFailureRate: 0, authFailureBurst: 20,
    authTrackedAddresses: 100_000, corsOrigins: new Set<string>(), ...over,
  };
}

/** A server on a free port whose producer is connected (or not, when waitReady is false). */
export async function startServer(
  topic: string, over: Partial<IngestServerConfig> = {}, extra: Partial<IngestServerOptions> & { kafkaOverrides?: Partial<BaseOptions> } = {}, waitReady = true,
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
  headers: Map<string, string>;
}

/** Total messages in a topic (sum of high watermarks minus log starts): what Kafka has acknowledged. */
export async function topicCount(topic: string, at: string[] = brokers()): Promise<number> {
  return withAdmin(async (admin) => {
    const count = (await partitionCounts(admin, [topic])).get(topic) ?? 0;
    const sum = async (timestamp: bigint): Promise<number> => {
      const partitions = Array.from({ length: count }, (_, partitionIndex) => ({ partitionIndex, timestamp }));
      const [t] = await admin.listOffsets({ topics: [{ name: topic, partitions }] });
      return (t?.partitions ?? []).reduce((n, p) => n + Number(p.offset), 0);
    };
    return (await sum(ListOffsetTimestamps.LATEST)) - (await sum(ListOffsetTimestamps.EARLIEST));
  }, at);
}

/** Reads the whole topic with a fresh consumer group; expects exactly `count` messages (returns what came after timeoutMs). */
export async function readTopic(topic: string, count: number, timeoutMs = 15_000, at: string[] = brokers()): Promise<ReadMessage[]> {
  const out: ReadMessage[] = [];
  await consumeFromStart({ brokers: at }, topic, {
    timeoutMs,
    timedOut: () => null,
    maxWaitTime: 250,
    take: (m) => {
      const headers = new Map<string, string>();
      for (const [k, v] of m.headers ?? []) headers.set(k.toString(), v?.toString() ?? '');
      out.push({ partition: m.partition, offset: String(m.offset), key: m.key ?? null, value: m.value ?? Buffer.alloc(0), headers });
      return out.length >= count;
    },
  });
  return out;
}

export interface ProxiedBroker {
  broker: LocalBroker;
  proxy: FaultProxy;
  /** The bootstrap list for clients: the proxy, which is also the address the broker advertises. */
  brokers: string[];
  /** Stops the broker (by its pid) and the proxy; also done at process exit if the test never gets there. */
  stop(): Promise<void>;
}

/**
 * A dedicated broker of the test's own (scripts/kafka/start.sh, 127.0.0.1, free ports) that advertises a
 * FaultProxy's port, so that every connection of a client goes through the proxy. The test may stop and
 * restart it (haltLocalBroker, restartLocalBroker) without disturbing any other test.
 */
export async function startProxiedBroker(): Promise<ProxiedBroker> {
  const port = await freePort();
  const proxy = new FaultProxy(`127.0.0.1:${port}`);
  await proxy.start();
  let broker: LocalBroker;
  try {
    broker = await startLocalBroker({ port, advertisedPort: proxy.port });
  } catch (err) {
    await proxy.close();
    throw err;
  }
  const stopBroker = stopOnce(() => stopLocalBroker(broker));
  return {
    broker, proxy, brokers: [proxy.address],
    async stop() {
      stopBroker();
      await proxy.close();
    },
  };
}
