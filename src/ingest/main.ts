/**
 * `gamestream ingest`: the tracking server as a process. Configured by the GAMESTREAM_* vars of
 * src/ingest/config.ts. SIGINT/SIGTERM stops accepting, lets in-flight requests get their answer, disconnects
 * the producer and returns 0; a second signal during that exits the process with 130 at once (nothing is lost: a client whose
 * request was cut off did not get a 2xx and sends again).
 *
 * Also runnable on its own: `node src/ingest/main.ts`.
 */
import { createAdmin } from '../kafka-platformatic/client.ts';
import { ensureTopics, SEED_TOPICS } from '../kafka-platformatic/topics.ts';
import { createLogger, type Logger } from '../log.ts';
import { describeIngestConfig, loadIngestConfig } from './config.ts';
import { ProducerSession } from '../kafka-platformatic/producer.ts';
import { startIngestServer } from './server.ts';
import { onInterrupts, SECOND_SIGNAL_EXIT } from '../cli/signals.ts';

/**
 * A fresh cluster (auto-creation off, as it should be) has no topic yet, and every produce would fail: create
 * it with the seed's layout, or verify it. When Kafka is not reachable the server starts anyway and answers 503
 * until it is.
 */
async function ensureRawTopic(brokers: string[], topic: string, partitions: number, log: Logger): Promise<void> {
  const admin = createAdmin({ brokers, clientId: 'gamestream-ingest' });
  try {
    const [r] = await ensureTopics(admin, [{ ...SEED_TOPICS.raw, name: topic, partitions }], { logger: log });
    log.info({ topic, action: r.action, partitions: r.partitions }, 'ingest topic ready');
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** At start: a topic that is not what the settings say stops the server; Kafka not answering does not. */
async function ensureRawTopicAtStart(brokers: string[], topic: string, partitions: number, log: Logger): Promise<boolean> {
  try {
    await ensureRawTopic(brokers, topic, partitions, log);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'topic_invalid') throw err;
    log.warn({ topic, err: (err as Error).message }, 'could not create or check the topic; requests get 503 until Kafka answers and the topic is there');
    return false;
  }
}

/**
 * Runs until SIGINT/SIGTERM. Throws a GamestreamError `config_invalid` for a bad configuration (exit code 2)
 * and `ingest_listen_failed` when the port cannot be bound (exit code 1).
 */
export async function runIngest(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cfg = loadIngestConfig(env);
  const log = createLogger(cfg.logLevel, cfg.logFormat);
  const topicReady = await ensureRawTopicAtStart(cfg.brokers, cfg.topic, cfg.topicPartitions, log);
  // Until the topic has been made or checked, each connection attempt tries again: sends to a missing topic fail.
  const ensureTopic = topicReady ? undefined : () => ensureRawTopic(cfg.brokers, cfg.topic, cfg.topicPartitions, log);
  const server = await startIngestServer({ config: cfg, logger: log, openProducer: (o) => new ProducerSession({ ...o, ensureTopic }) });
  log.info({ url: server.url, topic: cfg.topic, brokers: cfg.brokers }, 'ingest server listening');
  process.stdout.write(`[gamestream] ingest listening on ${server.url}/v1/events: ${describeIngestConfig(cfg)}\n`);

  return new Promise<number>((resolve) => {
    // As the daemon: a Ctrl-C that `npx` delivers twice is one (onInterrupts); a second one exits at once,
    // without waiting for the producer or open sockets.
    const onSignal = onInterrupts((signal) => {
      process.stdout.write(`[gamestream] ${signal}: finishing requests in flight, then stopping\n`);
      server.close().then(
        () => {
          const s = server.stats();
          process.stdout.write(`[gamestream] ingest stopped: ${s.requests} requests, ${s.acceptedEvents} events accepted\n`);
          cleanup();
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err: (err as Error)?.message }, 'ingest shutdown failed');
          cleanup();
          resolve(1);
        },
      );
    }, (signal) => {
      process.stdout.write(`[gamestream] ${signal} again: exiting without waiting\n`);
      process.exit(SECOND_SIGNAL_EXIT);
    });
    const cleanup = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

if (import.meta.main) {
  runIngest().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const code = (err as { code?: string })?.code ?? 'internal';
      process.stderr.write(`gamestream ingest: ${code}: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = code === 'config_invalid' ? 2 : 1;
    },
  );
}
