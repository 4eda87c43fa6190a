/**
 * The tracking server's Kafka producer: idempotent, acks=all, LZ4, keys placed as Java's default partitioner
 * places them, one send in flight, and always either connected or reconnecting in the background (requests
 * meanwhile get 503 at once; nothing waits for Kafka).
 *
 * What @platformatic/kafka does with the idempotence sequence, and why no acknowledged event is lost or
 * answered wrongly (read in its producer.js, 2.12.1):
 * - Before a send goes out, each partition's next sequence number is taken and advanced by the batch's record
 *   count. The retries of that send (after a request timeout, a dropped connection, "not the leader") reuse
 *   those numbers, so a batch the broker had written before the failure is recognised as a duplicate and
 *   answered with its first offset, not written twice.
 * - When a send that had taken its numbers fails for good (retries used up, or an error that is not retried),
 *   the library forgets the producer id and every sequence counter once all its partitions' requests ended; the
 *   next send first asks for a new id (InitProducerId without a transactional id always hands out a fresh one).
 *   A batch that was written despite the failure therefore belongs to an id nothing is ever sent under again,
 *   so no later batch can be taken for its duplicate and dropped while being acknowledged (the hazard of a
 *   client that rewinds the numbers and keeps the id). A send failing before it took numbers (an unknown topic,
 *   no metadata) leaves them as they were, which is harmless.
 * - On UNKNOWN_PRODUCER_ID or OUT_OF_ORDER_SEQUENCE_NUMBER (the broker wrote none of the batch) it takes a new id
 *   and sends the same records once more under it.
 * This session still ends after a failed send and connects a new producer (a new id, new connections) in the
 * background: requests arriving meanwhile get 503 at once instead of waiting behind a new InitProducerId
 * against a broker that just failed, and the safety above does not rest on that library internal alone.
 * Retries are limited: the library's idempotent default (retries unset or at most 1) is to retry forever, which
 * would hold a stuck send, and every request queued behind it, without end. `send` resolves only when the
 * broker answered every partition without error at acks=all, so a 2xx always means written.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TimeoutError, type BaseOptions, type Producer } from '@platformatic/kafka';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { OutMessage } from '../ingest/body.ts';
import { createProducer, describeKafkaError } from './client.ts';

export interface ProducerSessionOptions {
  brokers: string[];
  topic: string;
  /** The broker's wait for acks=all; the client waits a second longer for its answer. */
  ackTimeoutMs: number;
  logger: Logger;
  /** Extra client options (timeouts, retries) over the session's own. */
  kafkaOverrides?: Partial<BaseOptions>;
  /**
   * Creates or checks the topic; part of each connection attempt until it has succeeded once. A topic that could
   * not be made at start (Kafka away then) would otherwise never be, while the session counted as ready.
   */
  ensureTopic?: () => Promise<void>;
}

type State = 'connecting' | 'ready' | 'closed';

/** True when the error, or one it wraps, is the client giving up on an answer. */
export function isTimeout(err: unknown): boolean {
  const seen = new Set<unknown>();
  const walk = (e: unknown): boolean => {
    if (!(e instanceof Error) || seen.has(e)) return false;
    seen.add(e);
    if (e instanceof TimeoutError) return true;
    const nested = (e as { errors?: unknown }).errors;
    return (Array.isArray(nested) && nested.some(walk)) || walk(e.cause);
  };
  return walk(err);
}

export class ProducerSession {
  private readonly o: ProducerSessionOptions;
  private readonly log: Logger;
  private state: State = 'connecting';
  private producer: Producer | null = null;
  /** The producer being connected, so that close() can end its attempt at once. */
  private pending: Producer | null = null;
  private loop: Promise<void> | null = null;
  private connecting = false;
  private nextAttemptAt = 0;
  private readyWaiters: (() => void)[] = [];
  private stopSleep = new AbortController();
  private sessions = 0;
  private topicReady = false;
  lastError: string | null = null;

  constructor(opts: ProducerSessionOptions) {
    this.o = opts;
    this.log = opts.logger.child({ component: 'producer' });
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

  private newProducer(): Producer {
    return createProducer({ brokers: this.o.brokers, clientId: 'gamestream-ingest' }, {
      // `timeout` is what the broker waits for acks=all; `requestTimeout` how long the client waits for any answer.
      timeout: this.o.ackTimeoutMs,
      requestTimeout: Math.max(1000, this.o.ackTimeoutMs) + 1000,
      retries: 3,
      ...this.o.kafkaOverrides,
    });
  }

  private async connectLoop(): Promise<void> {
    let delay = 250;
    let failures = 0;
    while (this.state === 'connecting') {
      const producer = this.newProducer();
      this.pending = producer;
      try {
        if (!this.topicReady && this.o.ensureTopic) {
          try {
            await this.o.ensureTopic();
          } catch (err) {
            throw new Error(`topic ${this.o.topic} cannot be created or checked: ${describeKafkaError(err)}`, { cause: err });
          }
          this.topicReady = true;
        }
        // The producer id: a round trip to the broker, and what every send of this session is numbered under.
        await producer.initIdempotentProducer({});
        this.pending = null;
        if (this.state !== 'connecting') {
          await closeQuietly(producer);
          return;
        }
        this.producer = producer;
        this.state = 'ready';
        this.connecting = false; // now, not in a later tick: a reset may follow before that
        this.sessions++;
        this.lastError = null;
        this.log.info({ brokers: this.o.brokers, topic: this.o.topic, session: this.sessions, producerId: String(producer.producerId) }, 'producer connected');
        for (const wake of this.readyWaiters.splice(0)) wake();
        return;
      } catch (err) {
        this.pending = null;
        await closeQuietly(producer);
        if (this.state !== 'connecting') return;
        failures++;
        this.lastError = describeKafkaError(err);
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
    const topic = this.o.topic;
    try {
      await producer.send({ messages: messages.map((m) => ({ topic, key: m.key ?? undefined, value: m.value })) });
    } catch (err) {
      const why = describeKafkaError(err);
      this.lastError = why;
      this.reset(producer, why);
      if (isTimeout(err)) {
        throw new GamestreamError('kafka_timeout', `Kafka did not acknowledge the events in time: ${why}`, { retryable: true, cause: err });
      }
      throw new GamestreamError('kafka_send_failed', `Kafka did not acknowledge the events: ${why}`, { retryable: true, cause: err });
    }
  }

  /** Ends the session whose send failed and starts connecting a new one (a new producer id). */
  private reset(failed: Producer, why: string): void {
    if (this.producer !== failed || this.state !== 'ready') return;
    this.log.warn({ err: why, topic: this.o.topic }, 'send failed; starting a new producer session');
    this.producer = null;
    this.state = 'connecting';
    this.nextAttemptAt = Date.now() + 250;
    void closeQuietly(failed);
    this.start();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopSleep.abort();
    for (const wake of this.readyWaiters.splice(0)) wake();
    // A connection attempt in progress ends now (its pending retries fail when its client closes).
    if (this.pending) void closeQuietly(this.pending);
    await this.loop;
    const p = this.producer;
    this.producer = null;
    if (p) await closeQuietly(p, (err) => this.log.warn({ err: describeKafkaError(err) }, 'producer disconnect failed'));
    this.log.info('producer disconnected');
  }
}

/** Closes a client, at most 5 s: a socket to a broker that stopped answering must not hold a shutdown. */
async function closeQuietly(p: Producer, onError?: (err: unknown) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((r) => (timer = setTimeout(r, 5000)));
  await Promise.race([p.close().catch((err: unknown) => onError?.(err)), cap]);
  clearTimeout(timer);
}
