// A ground-truth dataset on a real Kafka topic, placed as the tracking server keyed by user_id would place it,
// and the offsets the tests compare with. Shared by the Kafka ground-truth tests of every warehouse.
import type { Kafka } from 'kafkajs';
import { ensureTopics } from '../../../src/kafka-kafkajs/topics.ts';
import { partitionKeyBytes } from '../truth/key.ts';
import { createPartitioner } from '../truth/partition.ts';
import type { Dataset } from '../truth/generate.ts';

/** Creates topics (or verifies them) for tests: one day of retention, records up to 8 MiB. */
export async function createTopics(kafka: Kafka, specs: { name: string; partitions: number }[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, specs.map((t) => ({ ...t, retentionMs: 86_400_000, config: { 'max.message.bytes': String(8 << 20) } })));
  await admin.disconnect();
}

/** Produces the dataset's records `from` to `to` (all by default), each where the whole dataset would put it. */
export async function produceDataset(kafka: Kafka, topic: string, ds: Dataset, partitions: number, range: { from?: number; to?: number } = {}): Promise<void> {
  // Records up to a few MiB, as the dataset's oversized ones are (they must reach the engine to be
  // dead-lettered). ensureTopics also waits until every partition has a leader that answers.
  await createTopics(kafka, [{ name: topic, partitions }]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const partitioner = createPartitioner(partitions);
  // Place each record where the contract puts it; keyless ones by record number, as a file would.
  const messages = ds.records.map((r, i) => {
    const key = partitionKeyBytes(r.line);
    return { key, value: r.line, partition: partitioner.of(key, i) };
  }).slice(range.from ?? 0, range.to ?? ds.records.length);
  for (let i = 0; i < messages.length; i += 2000) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 2000) });
  }
  await producer.disconnect();
}

export async function committedOffsets(kafka: Kafka, group: string, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  await admin.disconnect();
  return new Map(t!.partitions.map((p) => [p.partition, Number(p.offset)]));
}

export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  const o = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return new Map(o.map((p) => [p.partition, Number(p.high)]));
}
