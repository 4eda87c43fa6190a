/**
 * The tracking server's Kafka producer: idempotent, acks=all, LZ4, one request in flight, and always either
 * connected or reconnecting in the background (requests meanwhile get 503 at once; nothing waits for Kafka).
 *
 * Why a failed send ends the producer session: kafkajs numbers each partition's batches (the idempotence
 * sequence) before sending and rewinds the number when a send fails. If the broker had in fact written the batch
 * (a timeout after the write), the next, different batch would reuse its sequence numbers and the broker would
 * take it for a retry of the first and drop it while answering success. A new producer id after every failed
 * send rules that out. For the same reason retries are limited (kafkajs's idempotent default is to retry
 * forever, which would hold a stuck send, and every request queued behind it, without end).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import type { KafkaConfig, Kafka as KafkaClient, Producer } from 'kafkajs';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { OutMessage } from '../ingest/body.ts';
import { createKafka } from './client.ts';

const { CompressionTypes, Partitioners } = kafkajs;

export interface ProducerSessionOptions {
  brokers: string[];
  topic: string;
  /** The broker's wait for acks=all, and kafkajs's request timeout. */
  ackTimeoutMs: number;
  logger: Logger;
  kafkaOverrides?: Partial<KafkaConfig>;
}

type State = 'connecting' | 'ready' | 'closed';

export class ProducerSession {
  private readonly o: ProducerSessionOptions;
  private readonly kafka: KafkaClient;
  private readonly log: Logger;
  private state: State = 'connecting';
  private producer: Producer | null = null;
  private loop: Promise<void> | null = null;
  private connecting = false;
  private nextAttemptAt = 0;
  private readyWaiters: (() => void)[] = [];
  private stopSleep = new AbortController();
  private sessions = 0;
  lastError: string | null = null;

  constructor(opts: ProducerSessionOptions) {
    this.o = opts;
    this.log = opts.logger.child({ component: 'producer' });
    this.kafka = createKafka({
      brokers: opts.brokers,
      logger: opts.logger,
      overrides: { requestTimeout: Math.max(1000, opts.ackTimeoutMs), ...opts.kafkaOverrides },
    });
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Seconds until the next connection attempt, for Retry-After (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.nextAttemptAt - Date.now()) / 1000));
  }

  start(): void {
    if (this.connecting || this.state !== 'connecting') return;
    this.connecting = true;
    const loop: Promise<void> = this.connectLoop().finally(() => {
      if (this.loop === loop) this.connecting = false;
    });
    this.loop = loop;
  }

  /** Resolves true once connected, false after timeoutMs or when closed. */
  async whenReady(timeoutMs: number): Promise<boolean> {
    if (this.state === 'ready') return true;
    if (this.state === 'closed') return false;
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.readyWaiters.push(wake);
    const timer = setTimeout(wake, timeoutMs);
    await woken;
    clearTimeout(timer);
    return this.ready;
  }

  private async connectLoop(): Promise<void> {
    let delay = 250;
    let failures = 0;
    while (this.state === 'connecting') {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
      });
      try {
        await producer.connect();
        if (this.state !== 'connecting') {
          await producer.disconnect().catch(() => {});
          return;
        }
        this.producer = producer;
        this.state = 'ready';
        this.connecting = false; // now, not in a later tick: a reset may follow before that
        this.sessions++;
        this.lastError = null;
        this.log.info({ brokers: this.o.brokers, topic: this.o.topic, session: this.sessions }, 'producer connected');
        for (const wake of this.readyWaiters.splice(0)) wake();
        return;
      } catch (err) {
        await producer.disconnect().catch(() => {});
        failures++;
        this.lastError = (err as Error).message;
        // The first failure of a streak is worth a warning; the retries that follow are not news.
        const level = failures === 1 ? 'warn' : 'debug';
        this.log[level]({ brokers: this.o.brokers, err: this.lastError, retryInMs: delay }, 'cannot connect to Kafka; retrying');
        this.nextAttemptAt = Date.now() + delay;
        await sleep(delay, undefined, { signal: this.stopSleep.signal }).catch(() => {});
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Produces one batch and resolves when the broker acknowledged all of it (acks=all). */
  async send(messages: OutMessage[]): Promise<void> {
    const producer = this.producer;
    if (this.state !== 'ready' || producer === null) {
      throw new GamestreamError('kafka_unavailable', 'not connected to Kafka', { retryable: true });
    }
    try {
      await producer.sendBatch({
        topicMessages: [{ topic: this.o.topic, messages }],
        acks: -1,
        timeout: this.o.ackTimeoutMs,
        compression: CompressionTypes.LZ4,
      });
    } catch (err) {
      this.lastError = (err as Error).message;
      this.reset(producer, err);
      throw new GamestreamError('kafka_send_failed', `Kafka did not acknowledge the events: ${(err as Error).message}`, { retryable: true, cause: err });
    }
  }

  /** Ends the session whose send failed and starts connecting a new one (a new producer id). */
  private reset(failed: Producer, err: unknown): void {
    if (this.producer !== failed || this.state !== 'ready') return;
    this.log.warn({ err: (err as Error).message, topic: this.o.topic }, 'send failed; starting a new producer session');
    this.producer = null;
    this.state = 'connecting';
    this.nextAttemptAt = Date.now() + 250;
    failed.disconnect().catch(() => {});
    this.start();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopSleep.abort();
    for (const wake of this.readyWaiters.splice(0)) wake();
    await this.loop;
    const p = this.producer;
    this.producer = null;
    if (p) await p.disconnect().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'producer disconnect failed'));
    this.log.info('producer disconnected');
  }
}
