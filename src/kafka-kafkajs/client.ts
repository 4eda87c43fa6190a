/**
 * The kafkajs client of the tracking server: its logs go through pino, LZ4 is registered, and the timeouts are
 * short enough that an unreachable broker is noticed within about a second rather than kafkajs's default half
 * minute, because a client is waiting on the other end of every request.
 */
import kafkajs from 'kafkajs';
import type { KafkaConfig, LogEntry, Kafka as KafkaClient } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';
import type { Logger } from '../log.ts';

const { Kafka, logLevel, CompressionCodecs, CompressionTypes } = kafkajs;

/*
 * LZ4 for kafkajs, which ships only gzip. Kafka's LZ4 is the standard LZ4 frame format with independent blocks
 * (KafkaLZ4BlockOutputStream); lz4-napi's frame encoder (lz4_flex) writes exactly that by default, from a
 * prebuilt N-API binary, off the event loop. The broker decompresses every batch to validate it, so a bad
 * frame would fail the produce; the tests read records back through the same codec and check the wire size.
 */
const lz4Codec = {
  async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
    return compressFrame(encoder.buffer);
  },
  async decompress(buffer: Buffer): Promise<Buffer> {
    return decompressFrame(buffer);
  },
};

/**
 * Registers LZ4 in kafkajs's process-wide codec table, for producers and consumers alike. Idempotent. Anything
 * that consumes the tracking server's topic with kafkajs must call it (or createKafka) first.
 */
export function registerLz4Codec(): void {
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4Codec;
}

export interface KafkaClientOptions {
  brokers: string[];
  clientId?: string;
  logger: Logger;
  /** Extra kafkajs settings, e.g. a `socketFactory` (the tests use one to cut the network). */
  overrides?: Partial<KafkaConfig>;
}

// Known and deliberate: see producer.ts for why retries are limited and how a failed send stays safe.
const SUPPRESSED = new Set(['Limiting retries for the idempotent producer may invalidate EoS guarantees']);

function pinoLevel(level: number): 'error' | 'warn' | 'info' | 'debug' {
  if (level === logLevel.ERROR) return 'error';
  if (level === logLevel.WARN) return 'warn';
  if (level === logLevel.INFO) return 'info';
  return 'debug';
}

export function createKafka(opts: KafkaClientOptions): KafkaClient {
  registerLz4Codec();
  const log = opts.logger.child({ component: 'kafkajs' });
  const debug = log.isLevelEnabled('debug');
  return new Kafka({
    clientId: opts.clientId ?? 'gamestream-ingest',
    brokers: opts.brokers,
    connectionTimeout: 1000,
    requestTimeout: 10_000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: debug ? logLevel.DEBUG : logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      if (SUPPRESSED.has(message)) return;
      // kafkajs puts the stack of retried errors in every entry; keep lines short unless debugging.
      if (!debug) delete (extra as { stack?: unknown }).stack;
      log[pinoLevel(entry.level)]({ namespace: entry.namespace, ...extra }, message);
    },
    ...opts.overrides,
  });
}
