/**
 * Vitest global setup: one real Kafka broker for the whole `vitest run`, shared by every test file through
 * `inject('kafkaBrokers')`. With GAMESTREAM_KAFKA_BROKERS set, that broker is used and nothing is started.
 * Tests never mock Kafka; each test creates topics with a random suffix so files running in parallel do not meet.
 */
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalBroker, stopLocalBroker, type LocalBroker } from './kafka-broker.ts';
import { stopOnce } from './teardown.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap address (host:port[,host:port…]) of the test broker. */
    kafkaBrokers: string;
    /** The broker's group-coordinator log (scripts/kafka/start.sh writes it), or '' for a broker given from outside. */
    kafkaGroupLog: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const given = process.env.GAMESTREAM_KAFKA_BROKERS?.trim();
  if (given) {
    project.provide('kafkaBrokers', given);
    project.provide('kafkaGroupLog', '');
    return () => {};
  }
  const broker: LocalBroker = await startLocalBroker();
  process.stderr.write(`[kafka] test broker ${broker.bootstrap} (pid ${broker.pid}) ready in ${(broker.startMs / 1000).toFixed(1)} s\n`);
  project.provide('kafkaBrokers', broker.bootstrap);
  project.provide('kafkaGroupLog', join(broker.dataDir, 'groups.log'));
  return stopOnce(() => stopLocalBroker(broker));
}
