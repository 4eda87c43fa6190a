/**
 * What every @platformatic/kafka client of gamestream shares: the broker list, short timeouts (a client is
 * waiting on the other end of most requests, so an unreachable broker should be noticed within seconds, not
 * after the library's default retries of a second each), and readable error messages.
 */
import {
  Admin, CompressionAlgorithms, MultipleErrors, ProduceAcks, Producer, compatibilityPartitioner, type BaseOptions, type MessageToProduce,
} from '@platformatic/kafka';

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
}

/** Options for any client (admin, producer, consumer): bounded retries with a short, growing delay. */
export function baseOptions(c: KafkaConnection, overrides: Partial<BaseOptions> = {}): BaseOptions {
  return {
    clientId: c.clientId,
    bootstrapBrokers: c.brokers,
    connectTimeout: 2000,
    timeout: 10_000,
    retries: 3,
    retryDelay: (_client: unknown, _op: string, attempt: number) => Math.min(1000, 100 * 2 ** (attempt - 1)),
    ...overrides,
  } as BaseOptions;
}

export function createAdmin(c: KafkaConnection): Admin {
  return new Admin(baseOptions(c));
}

/**
 * A producer as gamestream's producers (the tracking server's, the copies to Kafka) are made: idempotent, so a
 * retried request is not written twice; acks=all; LZ4; keys placed as Java places them; a send never creates
 * a topic. Connections are made on the first send.
 */
export function createProducer(c: KafkaConnection, overrides: Partial<BaseOptions> = {}): Producer {
  return new Producer({
    ...baseOptions(c, overrides),
    idempotent: true,
    acks: ProduceAcks.ALL,
    compression: CompressionAlgorithms.LZ4,
    partitioner: javaCompatiblePartitioner(),
    autocreateTopics: false,
  });
}

/**
 * One line for an error of the client: its own messages nest the causes ("joinGroup failed 3 times.", then
 * each attempt's error), and the innermost ones name what really went wrong (connection refused, not leader).
 */
export function describeKafkaError(err: unknown): string {
  const seen = new Set<string>();
  const walk = (e: unknown): void => {
    if (!(e instanceof Error)) {
      seen.add(String(e));
      return;
    }
    const nested = e instanceof AggregateError || MultipleErrors.isMultipleErrors(e) ? (e as AggregateError).errors : [];
    if (nested.length === 0) {
      seen.add(e.message);
      if (e.cause) walk(e.cause);
      return;
    }
    seen.add(e.message);
    for (const n of nested) walk(n);
  };
  walk(err);
  return [...seen].join(' ');
}

/**
 * Java's default partitioner, for producers: toPositive(murmur2(key)) % partitions for a keyed record (the
 * library takes the modulo of what this returns). A record without a key goes round-robin, as the Java
 * client's sticky partitioner spreads them over time; the library's own partitioners would put every such
 * record in partition 0. Keys must be Buffers (a string key would not be hashed).
 */
export function javaCompatiblePartitioner(): (message: MessageToProduce, key: Buffer | undefined) => number {
  let next = 0;
  return (message, key) => {
    if (Buffer.isBuffer(key)) return compatibilityPartitioner(message, key);
    next = (next + 1) & 0x7fffffff;
    return next;
  };
}
