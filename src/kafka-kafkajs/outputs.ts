/**
 * Copies of what the warehouse received, back to Kafka: enriched events to `game-events-enriched` (key
 * user_id) and dead letters to `game-events-dlq` (the raw record as the value, the reason in headers, so a
 * consumer can fix and replay it). Published after each warehouse commit, before the row files are removed:
 * at-least-once, since a crash between the commit and the publish sends that commit's rows again on restart.
 */
import { readFile } from 'node:fs/promises';
import kafkajs, { Kafka, logLevel, type Message, type Producer } from 'kafkajs';

// kafkajs is CommonJS and Node cannot see this one as a named export.
const { ConfigResourceTypes, CompressionTypes } = kafkajs;
import { GamestreamError } from '../errors.ts';
import { registerLz4Codec } from './client.ts';
import type { FlushFiles } from '../contract/checkpoint.ts';
import type { Logger } from '../log.ts';
import { GAMESTREAM_VERSION } from '../version.ts';
import { FAILURE_SCHEMA } from '../sinks/tables.ts';

export interface KafkaOutputsOptions {
  brokers: string[];
  clientId: string;
  enrichedTopic: string | null;
  dlqTopic: string | null;
  source: string;
  log: Logger;
  /** A record skipped because the topic would refuse it (metrics). */
  onSkipped?: (kind: 'enriched' | 'dlq') => void;
}

function sizeOf(m: Message): number {
  let n = 64 + (m.key ? Buffer.byteLength(m.key as string | Buffer) : 0) + (m.value ? Buffer.byteLength(m.value as string | Buffer) : 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + (v ? Buffer.byteLength(v as string | Buffer) : 0) + 8;
  return n;
}

function lines(buf: Buffer): string[] {
  return buf.toString('utf8').split('\n').filter((l) => l.length > 0);
}

export class KafkaOutputs {
  private readonly o: KafkaOutputsOptions;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly limits = new Map<string, number>();
  private connected = false;
  published = { enriched: 0, dlq: 0 };
  skipped = 0;

  constructor(opts: KafkaOutputsOptions) {
    this.o = opts;
    registerLz4Codec();
    const kafka = new Kafka({ clientId: opts.clientId, brokers: opts.brokers, logLevel: logLevel.ERROR });
    this.kafka = kafka;
    // Not idempotent: kafkajs's idempotent producer loses its sequence numbers after a rejected record
    // (MESSAGE_TOO_LARGE) and then fails every send; copies are at-least-once anyway. One request in
    // flight keeps the order.
    this.producer = kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  get enabled(): boolean {
    return this.o.enrichedTopic !== null || this.o.dlqTopic !== null;
  }

  async publish(files: FlushFiles[]): Promise<void> {
    if (!this.enabled) return;
    if (!this.connected) {
      await this.producer.connect();
      this.connected = true;
    }
    try {
      if (this.o.enrichedTopic) {
        for (const f of files) if (f.events) await this.send(this.o.enrichedTopic, (await this.enriched(f.events)), 'enriched');
      }
      if (this.o.dlqTopic) {
        for (const f of files) if (f.dlq) await this.send(this.o.dlqTopic, await this.deadLetters(f.dlq), 'dlq');
      }
    } catch (err) {
      throw new GamestreamError('output_failed', `publishing to Kafka failed: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }

  private async enriched(path: string): Promise<Message[]> {
    return lines(await readFile(path)).map((line) => {
      const row = JSON.parse(line) as { user_id: string };
      return { key: row.user_id, value: line };
    });
  }

  private async deadLetters(path: string): Promise<Message[]> {
    return lines(await readFile(path)).map((line) => {
      const d = JSON.parse(line) as {
        error_code: string; error: string; stage: string; raw_message: string; raw_encoding: 'utf8' | 'base64';
        source_partition: number; source_offset: number; received_at_ms: number;
      };
      return {
        value: Buffer.from(d.raw_message, d.raw_encoding === 'base64' ? 'base64' : 'utf8'),
        headers: {
          error_code: d.error_code,
          error: d.error,
          stage: d.stage,
          source: this.o.source,
          source_partition: String(d.source_partition),
          source_offset: String(d.source_offset),
          received_at: new Date(d.received_at_ms).toISOString(),
          gamestream_version: GAMESTREAM_VERSION,
          failure_schema: FAILURE_SCHEMA,
        },
      };
    });
  }

  /** The topic's max.message.bytes: the broker rejects a whole record batch above it. */
  private async limitOf(topic: string): Promise<number> {
    let limit = this.limits.get(topic);
    if (limit === undefined) {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
        limit = Number(r.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue ?? 1_048_588);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      this.limits.set(topic, limit);
    }
    return limit;
  }

  private async send(topic: string, messages: Message[], kind: 'enriched' | 'dlq'): Promise<void> {
    const limit = await this.limitOf(topic);
    // Requests well under the limit, so no partition's record batch can exceed it.
    const budget = Math.min(512 * 1024, Math.floor(limit / 2));
    let chunk: Message[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      await this.producer.send({ topic, acks: -1, compression: CompressionTypes.LZ4, messages: chunk });
      this.published[kind] += chunk.length;
      chunk = [];
      bytes = 0;
    };
    for (const m of messages) {
      const size = sizeOf(m);
      if (size > limit - 1024) {
        // One record over the topic's max.message.bytes must not stop the stream: the warehouse has it.
        this.skipped++;
        this.o.onSkipped?.(kind);
        this.o.log.warn({ topic, bytes: size, limit }, 'record larger than the topic allows; not copied to Kafka (it is in the warehouse)');
        continue;
      }
      if (bytes + size > budget) await flush();
      chunk.push(m);
      bytes += size;
    }
    await flush();
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect().catch(() => undefined);
  }
}
