/**
 * Ingestion rate of the tracking server: a local broker (scripts/kafka/start.sh, unless GAMESTREAM_KAFKA_BROKERS
 * names one), the server in this process, the load generator in a worker thread of this process (so that making
 * and posting traffic does not share the server's event loop), ~10 s of NDJSON batches of 500 events, then
 * everything is stopped.
 *
 *   node bench/ingest.ts
 *   BENCH_SECONDS=10 BENCH_BATCH=500 BENCH_RATE=200000 BENCH_CONCURRENCY=16 BENCH_GZIP=0 BENCH_SAME_THREAD=0 node bench/ingest.ts
 *
 * BENCH_RATE is the offered load; above what the server sustains, the achieved rate is the measurement.
 */
import { createAdmin } from '../src/kafka-platformatic/client.ts';
import { formatLoadgenReport, runLoadgen, type LoadgenOptions } from '../src/ingest/loadgen.ts';
import { endOffsetsOf, ensureTopics } from '../src/kafka-platformatic/topics.ts';
import { createLogger } from '../src/log.ts';
import { startLocalBroker, stopLocalBroker, type LocalBroker } from '../test/setup/kafka-broker.ts';
import { num, procStats } from './daemon-watch.ts';
import { BENCH_API_KEY, loadgenInWorker, startBenchServer } from './tracking-server.ts';

async function main(): Promise<void> {
  const seconds = num('BENCH_SECONDS', 10);
  const batchSize = num('BENCH_BATCH', 500);
  const rate = num('BENCH_RATE', 200_000);
  const concurrency = num('BENCH_CONCURRENCY', 16);
  const gzip = process.env.BENCH_GZIP === '1';
  const sameThread = process.env.BENCH_SAME_THREAD === '1';
  const log = createLogger(process.env.GAMESTREAM_LOG_LEVEL ?? 'warn');

  let broker: LocalBroker | null = null;
  let brokers = process.env.GAMESTREAM_KAFKA_BROKERS?.split(',');
  if (!brokers) {
    broker = await startLocalBroker();
    brokers = [broker.bootstrap];
    console.log(`[bench] broker ${broker.bootstrap} started in ${(broker.startMs / 1000).toFixed(1)} s`);
  }
  const stopBroker = () => broker && stopLocalBroker(broker);
  process.once('exit', stopBroker);
  const topic = `bench-ingest-${Date.now()}`;
  const admin = createAdmin({ brokers, clientId: 'gamestream-bench' });
  try {
    await ensureTopics(admin, [{ name: topic, partitions: 64, retentionMs: 3_600_000 }]);
    const apiKey = BENCH_API_KEY;
    const server = await startBenchServer(brokers, topic, log);
    // Warm-up: the client and the broker are several times slower for their first few thousand messages.
    await runLoadgen({ url: server.url, apiKey, rate: 20_000, seconds: 1, batchSize, concurrency: 4, seed: 1 });
    const warm = server.stats();

    const opts: LoadgenOptions = { url: server.url, apiKey, rate, seconds, batchSize, concurrency, gzip, seed: 42 };
    console.log(`[bench] ${seconds} s, batches of ${batchSize}, offered ${rate} events/s, ${concurrency} concurrent requests, gzip ${gzip ? 'on' : 'off'}, loadgen ${sameThread ? 'on the server thread' : 'in a worker thread'}`);
    const cpu0 = process.cpuUsage();
    const broker0 = broker ? procStats(broker.pid).cpuSeconds : NaN;
    const r = sameThread ? await runLoadgen(opts) : await loadgenInWorker(opts);
    const cpu = process.cpuUsage(cpu0);
    const brokerCpu = broker ? procStats(broker.pid).cpuSeconds - broker0 : NaN;
    const s = server.stats();
    const sends = s.sends - warm.sends;
    const offsets = await endOffsetsOf(admin, topic);
    const inKafka = [...offsets.values()].reduce((n, o) => n + o, 0) - warm.acceptedEvents;

    console.log(`[bench] ${formatLoadgenReport(r)}`);
    console.log(`[bench] ingest rate: ${Math.round(r.rate)} events/s (${(r.rate * 330 / 1e6).toFixed(1)} MB/s at ~330 B/event); in Kafka: ${inKafka} (accepted ${r.accepted})`);
    console.log(`[bench] producer: ${sends} sends, ${Math.round((s.sentMessages - warm.sentMessages) / Math.max(1, sends))} events per send`);
    console.log(`[bench] CPU over the run: this process ${((cpu.user + cpu.system) / 1e6 / r.elapsedSeconds * 100).toFixed(0)}% of a core` +
      (broker ? `, broker JVM ${(brokerCpu / r.elapsedSeconds * 100).toFixed(0)}%` : '') + ' (2 cores in all)');
    await server.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  } finally {
    await admin.close();
    stopBroker();
    process.off('exit', stopBroker);
  }
}

main().catch((err: unknown) => {
  console.error('[bench] failed:', err);
  process.exitCode = 1;
});
