// A ground-truth dataset on a real Kafka topic, placed as the tracking server keyed by user_id would place it,
// and the offsets the tests compare with. Shared by the Kafka ground-truth tests of every warehouse.
import { ensureTopics } from '../../../src/kafka-platformatic/topics.ts';
import { partitionKeyBytes } from '../truth/key.ts';
import { createPartitioner } from '../truth/partition.ts';
import type { Dataset } from '../truth/generate.ts';
import { committedOffsets as committedOffsetsOf, endOffsets as endOffsetsOf, produce, withAdmin, type KafkaConn } from './client.ts';

export type { KafkaConn } from './client.ts';
export { kafkaConn } from './client.ts';

/** Creates topics (or verifies them) for tests: one day of retention, records up to 8 MiB. */
export async function createTopics(conn: KafkaConn, specs: { name: string; partitions: number }[]): Promise<void> {
  await withAdmin(conn, (admin) =>
    ensureTopics(admin, specs.map((t) => ({ ...t, retentionMs: 86_400_000, config: { 'max.message.bytes': String(8 << 20) } }))));
}

/** Produces the dataset's records `from` to `to` (all by default), each where the whole dataset would put it. */
export async function produceDataset(conn: KafkaConn, topic: string, ds: Dataset, partitions: number, range: { from?: number; to?: number } = {}): Promise<void> {
  // Records up to a few MiB, as the dataset's oversized ones are (they must reach the engine to be
  // dead-lettered). ensureTopics also waits until every partition has a leader that answers.
  await createTopics(conn, [{ name: topic, partitions }]);
  const partitioner = createPartitioner(partitions);
  // Place each record where the contract puts it; keyless ones by record number, as a file would.
  const records = ds.records.map((r, i) => {
    const key = partitionKeyBytes(r.line);
    return { key, value: r.line, partition: partitioner.of(key, i) };
  }).slice(range.from ?? 0, range.to ?? ds.records.length);
  // Idempotent, acks=all, in chunks of 2000 records.
  await produce(conn, topic, records, { chunk: 2000 });
}

export async function committedOffsets(conn: KafkaConn, group: string, topic: string): Promise<Map<number, number>> {
  return committedOffsetsOf(conn, group, topic);
}

export async function endOffsets(conn: KafkaConn, topic: string): Promise<Map<number, number>> {
  return endOffsetsOf(conn, topic);
}
