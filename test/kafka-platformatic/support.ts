// The Kafka source and its fetch loop as this folder's tests drive them: on the test broker, with silent logs.
import { Consumer } from '@platformatic/kafka';
import { pino } from 'pino';
import { baseOptions } from '../../src/kafka-platformatic/client.ts';
import { PartitionFetcher, type FetcherOptions } from '../../src/kafka-platformatic/fetcher.ts';
import { KafkaSource } from '../../src/kafka-platformatic/kafka-source.ts';
import type { KafkaConn } from '../support/kafka/client.ts';

const CLIENT_ID = 'gamestream-test';

/** A source reading `topic` as a group of its own, until it is caught up or for as long as the test reads. */
export function sourceOn(conn: KafkaConn, topic: string, stop: 'caught-up' | 'never'): KafkaSource {
  return new KafkaSource({
    brokers: conn.brokers, topic, groupId: `${topic}-group`, clientId: CLIENT_ID, stop,
    sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, ensure: [], log: pino({ level: 'silent' }),
  });
}

/** The fetch loop alone over `topic`, on a consumer that joins no group; `close` ends both. */
export function fetcherOn(conn: KafkaConn, topic: string, o: Pick<FetcherOptions, 'deliver' | 'outOfRange'>): { fetcher: PartitionFetcher; close(): Promise<void> } {
  const consumer = new Consumer({ ...baseOptions({ brokers: conn.brokers, clientId: CLIENT_ID }), groupId: `${topic}-group`, autocommit: false });
  const fetcher = new PartitionFetcher({
    consumer, topic, minBytes: 1, maxWaitMs: 100, maxBytesPerPartition: 1 << 20, maxBytes: 2 << 20, queueBytes: 8 << 20,
    queuedBytes: () => 0, log: pino({ level: 'silent' }), ...o,
  });
  return {
    fetcher,
    async close() {
      await fetcher.close();
      await consumer.close();
    },
  };
}
