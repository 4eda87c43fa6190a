/**
 * Whole pipeline from a real local Kafka broker to DuckDB: a 64-partition topic pre-filled with N events
 * (keyed by user_id with Kafka's Java-compatible partitioner, uncompressed batches), then the daemon consumes
 * it until caught up.
 *   node bench/kafka.ts [events=1000000]          fill a new topic, then consume it
 *   node bench/kafka.ts fill [events=1000000]     only fill one; prints its name
 *   node bench/kafka.ts consume TOPIC              only consume an existing topic (a new group every run), so
 *                                                 two builds can be timed on the same records
 * BENCH_LZ4=1 fills the topic with LZ4 batches, as the tracking server writes them.
 * Uses GAMESTREAM_KAFKA_BROKERS when set; otherwise starts scripts/kafka/start.sh and stops it after.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { CompressionAlgorithms, Producer, ProduceAcks } from '@platformatic/kafka';
import { baseOptions, createAdmin, javaCompatiblePartitioner } from '../src/kafka-platformatic/client.ts';
import { ensureTopics } from '../src/kafka-platformatic/topics.ts';
import { startLocalBroker, stopLocalBroker } from '../test/setup/kafka-broker.ts';
import { formatCost, runDaemonChild, type DaemonRun } from './daemon-child.ts';
import { benchEventsFile } from './make-events.ts';

async function fill(brokers: string, events: number): Promise<{ topic: string; produceSeconds: number }> {
  const input = await benchEventsFile(events);
  const conn = { brokers: [brokers], clientId: 'gamestream-bench' };
  const topic = `bench-${Date.now()}`;
  const admin = createAdmin(conn);
  await ensureTopics(admin, [{ name: topic, partitions: 64, retentionMs: 7 * 86_400_000 }]);
  await admin.close();
  // Idempotent, so retried requests cannot duplicate records and the topic holds exactly the file.
  const producer = new Producer({
    ...baseOptions(conn), idempotent: true, acks: ProduceAcks.ALL, partitioner: javaCompatiblePartitioner(),
    ...(process.env.BENCH_LZ4 === '1' ? { compression: CompressionAlgorithms.LZ4 } : {}),
  });
  const t0 = performance.now();
  let batch: { topic: string; key: Buffer | undefined; value: Buffer }[] = [];
  for await (const line of createInterface({ input: createReadStream(input) })) {
    const m = /"user_id":"([^"]*)"/.exec(line);
    batch.push({ topic, key: m ? Buffer.from(m[1]) : undefined, value: Buffer.from(line) });
    if (batch.length === 5000) {
      await producer.send({ messages: batch });
      batch = [];
    }
  }
  if (batch.length > 0) await producer.send({ messages: batch });
  await producer.close();
  return { topic, produceSeconds: (performance.now() - t0) / 1000 };
}

interface ConsumeResult {
  consumeSeconds: number;
  cpuSeconds: number | null;
  peakRssMb: number | null;
  measuredBy: DaemonRun['measuredBy'];
  cost: string;
  summary: string;
}

async function consume(brokers: string, topic: string, events: number): Promise<ConsumeResult> {
  const run = await runDaemonChild({
    GAMESTREAM_SOURCE: 'kafka',
    GAMESTREAM_KAFKA_BROKERS: brokers,
    GAMESTREAM_KAFKA_TOPIC: topic,
    GAMESTREAM_KAFKA_GROUP: `bench-${topic}-${Date.now()}`,
    GAMESTREAM_KAFKA_STOP: 'caught-up',
    GAMESTREAM_KAFKA_ENRICHED_TOPIC: 'off',
    GAMESTREAM_KAFKA_DLQ_TOPIC: 'off',
  });
  return { consumeSeconds: run.wallSeconds, cpuSeconds: run.cpuSeconds, peakRssMb: run.peakRssMb, measuredBy: run.measuredBy, cost: formatCost(run, events), summary: run.summary };
}

export async function kafkaBench(events: number): Promise<{ events: number; produceSeconds: number; eventsPerSec: number } & ConsumeResult> {
  const given = process.env.GAMESTREAM_KAFKA_BROKERS?.trim();
  const broker = given ? null : await startLocalBroker();
  const brokers = given ?? broker!.bootstrap;
  try {
    const { topic, produceSeconds } = await fill(brokers, events);
    const c = await consume(brokers, topic, events);
    return { events, produceSeconds, eventsPerSec: Math.round(events / c.consumeSeconds), ...c };
  } finally {
    if (broker) stopLocalBroker(broker);
  }
}

if (import.meta.main) {
  const [mode, a, b] = process.argv.slice(2);
  const brokers = process.env.GAMESTREAM_KAFKA_BROKERS?.trim();
  if (mode === 'fill' || mode === 'consume') {
    if (!brokers) throw new Error(`bench/kafka.ts ${mode} needs GAMESTREAM_KAFKA_BROKERS (the broker both builds read)`);
    if (mode === 'fill') console.log(JSON.stringify(await fill(brokers, Number(a ?? 1_000_000))));
    else {
      // The events in the topic, for the per-event cost: the count the daemon routed.
      const r = await consume(brokers, a!, 1);
      const routed = Number(/([\d,]+) records in/.exec(r.summary)?.[1]?.replaceAll(',', '') ?? 0);
      console.log(JSON.stringify({ ...r, events: routed, eventsPerSec: Math.round(routed / r.consumeSeconds), cost: formatCost(r, Math.max(routed, 1)) }));
    }
  } else {
    console.log(JSON.stringify(await kafkaBench(Number(mode ?? 1_000_000)), null, 2));
  }
}
