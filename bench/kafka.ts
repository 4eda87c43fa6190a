/**
 * Whole pipeline from a real local Kafka broker to DuckDB: a 64-partition topic pre-filled with N events
 * (keyed by user_id, uncompressed batches), then the daemon consumes it until caught up.
 *   node bench/kafka.ts [events=1000000]
 * Uses GAMESTREAM_KAFKA_BROKERS when set; otherwise starts scripts/kafka/start.sh and stops it after.
 */
import { createReadStream, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import { startLocalBroker, stopLocalBroker } from '../test/setup/kafka-broker.ts';
import { runDaemonChild } from './daemon-child.ts';
import { makeEventsFile } from './make-events.ts';


export async function kafkaBench(events: number): Promise<{ events: number; produceSeconds: number; consumeSeconds: number; eventsPerSec: number; summary: string }> {
  const given = process.env.GAMESTREAM_KAFKA_BROKERS?.trim();
  const broker = given ? null : await startLocalBroker();
  const brokers = given ?? broker!.bootstrap;
  try {
    const dataDir = join(tmpdir(), 'gamestream-bench');
    mkdirSync(dataDir, { recursive: true });
    const input = join(dataDir, `events-${events}.ndjson`);
    if (!existsSync(input)) await makeEventsFile(input, events, 42);
    const kafka = new Kafka({ clientId: 'gamestream-bench', brokers: [brokers], logLevel: logLevel.ERROR });
    const topic = `bench-${Date.now()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 64 }] });
    await admin.disconnect();
    // Idempotent, so retried requests cannot duplicate records and the topic holds exactly the file.
    const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const t0 = performance.now();
    let batch: { key: string | null; value: string }[] = [];
    const sends: Promise<unknown>[] = [];
    for await (const line of createInterface({ input: createReadStream(input) })) {
      const m = /"user_id":"([^"]*)"/.exec(line);
      batch.push({ key: m ? m[1] : null, value: line });
      if (batch.length === 5000) {
        sends.push(producer.send({ topic, acks: -1, messages: batch }));
        batch = [];
        if (sends.length >= 1) await sends.shift();
      }
    }
    if (batch.length > 0) sends.push(producer.send({ topic, acks: -1, messages: batch }));
    await Promise.all(sends);
    await producer.disconnect();
    const produceSeconds = (performance.now() - t0) / 1000;

    const run = await runDaemonChild({
      GAMESTREAM_SOURCE: 'kafka',
      GAMESTREAM_KAFKA_BROKERS: brokers,
      GAMESTREAM_KAFKA_TOPIC: topic,
      GAMESTREAM_KAFKA_GROUP: `bench-${topic}`,
      GAMESTREAM_KAFKA_STOP: 'caught-up',
      GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off',
      GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
    });
    const consumeSeconds = run.wallSeconds;
    return { events, produceSeconds, consumeSeconds, eventsPerSec: Math.round(events / consumeSeconds), summary: run.summary };
  } finally {
    if (broker) stopLocalBroker(broker);
  }
}

if (import.meta.main) {
  const r = await kafkaBench(Number(process.argv[2] ?? 1_000_000));
  console.log(JSON.stringify(r, null, 2));
}
