// The tests' own Kafka client (@platformatic/kafka), independent of whichever client the daemon under test
// uses: producing records where a test wants them, reading a whole topic back, and the offsets of a topic and
// of a consumer group.
import { randomBytes } from 'node:crypto';
import { Consumer, Producer, ProduceAcks, type Admin, type Message } from '@platformatic/kafka';
import { baseOptions, createAdmin } from '../../../src/kafka-platformatic/client.ts';
import { endOffsetsOf, partitionCounts } from '../../../src/kafka-platformatic/topics.ts';
import { createPartitioner } from '../truth/partition.ts';

/** Where the test broker is: `inject('kafkaBrokers')` is a comma-separated list. */
export interface KafkaConn {
  brokers: string[];
}

export function kafkaConn(brokers: string): KafkaConn {
  return { brokers: brokers.split(',').map((b) => b.trim()).filter((b) => b !== '') };
}

const CLIENT_ID = 'gamestream-test';

export async function withAdmin<T>(conn: KafkaConn, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createAdmin({ brokers: conn.brokers, clientId: CLIENT_ID });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

export interface RecordToProduce {
  key?: string | Buffer | null;
  value: string | Buffer;
  /** Explicit partition; by default a keyed record goes where the Java client's default partitioner puts it. */
  partition?: number;
  headers?: Record<string, string>;
}

const bytes = (v: string | Buffer): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v);

/**
 * Produces the records in order, idempotent with acks=all, never creating the topic. A keyed record without an
 * explicit partition is placed by murmur2 as the Java client (and kafkajs) place it: @platformatic/kafka's own
 * default partitioner does not mask the sign bit, so it would put about half the keys elsewhere. Keyless
 * records without a partition go round-robin.
 */
export async function produce(conn: KafkaConn, topic: string, records: readonly RecordToProduce[], o: { chunk?: number } = {}): Promise<void> {
  // Idempotent makes the client keep one request in flight and use acks=all.
  const producer = new Producer({
    ...baseOptions({ brokers: conn.brokers, clientId: CLIENT_ID }), idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false,
  });
  try {
    let place: ((key: string | Buffer) => number) | undefined;
    if (records.some((r) => r.partition === undefined && r.key != null)) {
      const meta = await producer.metadata({ topics: [topic], forceUpdate: true });
      const count = meta.topics.get(topic)?.partitionsCount ?? 0;
      if (count < 1) throw new Error(`topic ${topic} has no partitions`);
      const partitioner = createPartitioner(count);
      place = (key) => partitioner.of(key, 0);
    }
    const messages = records.map((r) => ({
      topic,
      key: r.key == null ? undefined : bytes(r.key),
      value: bytes(r.value),
      partition: r.partition ?? (r.key != null ? place!(r.key) : undefined),
      headers: r.headers ? new Map(Object.entries(r.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])) : undefined,
    }));
    const chunk = o.chunk ?? 2000;
    for (let i = 0; i < messages.length; i += chunk) {
      await producer.send({ messages: messages.slice(i, i + chunk) });
    }
  } finally {
    await producer.close();
  }
}

/** The log-end offset of every partition. */
export async function endOffsets(conn: KafkaConn, topic: string): Promise<Map<number, number>> {
  return withAdmin(conn, (admin) => endOffsetsOf(admin, topic));
}

/** The group's committed offset of every partition of the topic, -1 where it committed none. */
export async function committedOffsets(conn: KafkaConn, group: string, topic: string): Promise<Map<number, number>> {
  return withAdmin(conn, async (admin) => {
    const count = (await partitionCounts(admin, [topic])).get(topic) ?? 0;
    const partitionIndexes = Array.from({ length: count }, (_, i) => i);
    const [g] = await admin.listConsumerGroupOffsets({ groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes }] }] });
    const got = new Map((g?.topics.find((t) => t.name === topic)?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.committedOffset)]));
    return new Map(partitionIndexes.map((p) => [p, got.get(p) ?? -1]));
  });
}

export interface ReadRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

/**
 * Reads a topic from its start with a consumer of a fresh group that commits nothing (records decompressed by
 * the client, LZ4 included): each record goes to `take` until it answers true, or until `timeoutMs`, when
 * `timedOut` gives the error to throw, or null to end there.
 */
export async function consumeFromStart(conn: KafkaConn, topic: string, o: {
  take: (m: Message<Buffer, Buffer, Buffer, Buffer>) => boolean;
  timeoutMs: number;
  timedOut: () => Error | null;
  maxWaitTime?: number;
}): Promise<void> {
  const consumer = new Consumer({
    ...baseOptions({ brokers: conn.brokers, clientId: CLIENT_ID }),
    groupId: `reader-${topic}-${randomBytes(4).toString('hex')}`,
    autocommit: false,
    // Short, so that a test waits on the records rather than on the group.
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 1000,
  });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: o.maxWaitTime ?? 500 });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          const err = o.timedOut();
          if (err) reject(err);
          else resolve();
        }, o.timeoutMs);
        const fail = (err: Error): void => {
          clearTimeout(timer);
          reject(err);
        };
        stream.on('error', fail);
        // A group the consumer cannot rejoin is reported on the consumer itself.
        consumer.on('error', fail);
        stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
          if (!o.take(m)) return;
          clearTimeout(timer);
          resolve();
        });
      });
    } finally {
      await stream.close();
    }
  } finally {
    await consumer.close();
  }
}

/**
 * Every record of the topic, partition by partition from offset 0 up to the end offsets as they are when
 * called. Waits until each partition's last record arrived, at most `timeoutMs`.
 */
export async function readTopic(conn: KafkaConn, topic: string, o: { timeoutMs?: number } = {}): Promise<ReadRecord[]> {
  const ends = await endOffsets(conn, topic);
  const remaining = new Map([...ends].filter(([, end]) => end > 0));
  const got: ReadRecord[] = [];
  if (remaining.size === 0) return got;
  const timeoutMs = o.timeoutMs ?? 60_000;
  await consumeFromStart(conn, topic, {
    timeoutMs,
    timedOut: () => {
      const left = [...remaining].map(([p, end]) => `p${p} < ${end}`).join(', ');
      return new Error(`reading ${topic} back: ${got.length} records after ${timeoutMs} ms, still waiting for ${left}`);
    },
    take: (m) => {
      const end = ends.get(m.partition) ?? 0;
      const offset = Number(m.offset);
      // Records produced after the end offsets were read are not part of "the whole topic" asked for.
      if (offset >= end) return false;
      const headers: Record<string, string> = {};
      for (const [k, v] of m.headers ?? []) headers[k.toString()] = v?.toString() ?? '';
      got.push({ partition: m.partition, offset, key: m.key == null ? null : m.key.toString(), value: m.value ?? Buffer.alloc(0), headers });
      if (offset + 1 >= end) remaining.delete(m.partition);
      return remaining.size === 0;
    },
  });
  return got;
}
