/**
 * The tracking server and its load generator as the benches run them: the server in the bench's own process with
 * fixed, generous limits and one API key, and the load generator in a worker thread (bench/loadgen-worker.ts), so
 * that making and posting traffic does not share the server's event loop.
 */
import { Worker } from 'node:worker_threads';
import type { LoadgenOptions, LoadgenReport } from '../src/ingest/loadgen.ts';
import { startIngestServer } from '../src/ingest/server.ts';
import { ProducerSession } from '../src/kafka-platformatic/producer.ts';
import type { Logger } from '../src/log.ts';

export const BENCH_API_KEY = 'bench-key-0123456789abcdef';

/** Starts the server on a free 127.0.0.1 port, producing to `topic`, and waits for its producer to connect. */
export async function startBenchServer(brokers: string[], topic: string, logger: Logger): Promise<Awaited<ReturnType<typeof startIngestServer>>> {
  const server = await startIngestServer({
    logger,
    openProducer: (o) => new ProducerSession(o),
    config: {
      brokers, host: '127.0.0.1', port: 0, topic, maxBodyBytes: 5 << 20, maxBatchEvents: 1000, maxEventBytes: 1_000_000,
      maxInflightBytes: 64 << 20, apiKeys: [{ app: 'bench', key: BENCH_API_KEY }], ackTimeoutMs: 5000,
      maxConnections: 4096, idleTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, maxJsonDepth: 64, corsOrigins: new Set<string>(),
      keyRate: 0, keyBurst: 2000, keyRateOverrides: [], authFailureRate: 0, authFailureBurst: 20, authTrackedAddresses: 100_000,
    },
  });
  if (!(await server.whenProducerReady(15_000))) {
    await server.close().catch(() => undefined);
    throw new Error('the tracking server\'s producer did not connect');
  }
  return server;
}

/** Runs the load generator in a worker thread; resolves with its report. */
export function loadgenInWorker(opts: LoadgenOptions): Promise<LoadgenReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./loadgen-worker.ts', import.meta.url), { workerData: opts });
    w.once('message', (r: LoadgenReport) => resolve(r));
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`loadgen worker exited ${code}`)));
  });
}
