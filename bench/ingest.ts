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
import { readFileSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createAdmin } from '../src/kafka-platformatic/client.ts';
import { formatLoadgenReport, runLoadgen, type LoadgenOptions, type LoadgenReport } from '../src/ingest/loadgen.ts';
import { startIngestServer } from '../src/ingest/server.ts';
import { ProducerSession } from '../src/kafka-platformatic/producer.ts';
import { endOffsetsOf, ensureTopics } from '../src/kafka-platformatic/topics.ts';
import { createLogger } from '../src/log.ts';
import { startLocalBroker, stopLocalBroker, type LocalBroker } from '../test/setup/kafka-broker.ts';

const num = (name: string, def: number) => Number(process.env[name] ?? def);

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return NaN;
  }
}

function loadgenInWorker(opts: LoadgenOptions): Promise<LoadgenReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: opts });
    w.once('message', (r: LoadgenReport) => resolve(r));
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`loadgen worker exited ${code}`)));
  });
}

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
    const apiKey = 'bench-key-0123456789abcdef';
    const server = await startIngestServer({
      logger: log,
      openProducer: (o) => new ProducerSession(o),
      config: {
        brokers, host: '127.0.0.1', port: 0, topic, maxBodyBytes: 5 << 20, maxBatchEvents: 1000, maxEventBytes: 1_000_000,
        maxInflightBytes: 64 << 20, apiKeys: [{ app: 'bench', key: apiKey }], ackTimeoutMs: 5000,
        maxConnections: 4096, idleTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, maxJsonDepth: 64,
        keyRate: 0, keyBurst: 2000, keyRateOverrides: [], authFailureRate: 0, authFailureBurst: 20, authTrackedAddresses: 100_000,
      },
    });
    if (!(await server.whenProducerReady(15_000))) throw new Error('producer did not connect');
    // Warm-up: the client and the broker are several times slower for their first few thousand messages.
    await runLoadgen({ url: server.url, apiKey, rate: 20_000, seconds: 1, batchSize, concurrency: 4, seed: 1 });
    const warm = server.stats();

    const opts: LoadgenOptions = { url: server.url, apiKey, rate, seconds, batchSize, concurrency, gzip, seed: 42 };
    console.log(`[bench] ${seconds} s, batches of ${batchSize}, offered ${rate} events/s, ${concurrency} concurrent requests, gzip ${gzip ? 'on' : 'off'}, loadgen ${sameThread ? 'on the server thread' : 'in a worker thread'}`);
    const cpu0 = process.cpuUsage();
    const broker0 = broker ? cpuSeconds(broker.pid) : NaN;
    const r = sameThread ? await runLoadgen(opts) : await loadgenInWorker(opts);
    const cpu = process.cpuUsage(cpu0);
    const brokerCpu = broker ? cpuSeconds(broker.pid) - broker0 : NaN;
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

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error('[bench] failed:', err);
    process.exitCode = 1;
  });
} else {
  runLoadgen(workerData as LoadgenOptions).then((r) => parentPort!.postMessage(r));
}
