/**
 * Copies of what the warehouse received, back to Kafka: enriched events to `game-events-enriched` (key
 * user_id, placed as Java's default partitioner places it) and dead letters to `game-events-dlq` (the raw record
 * as the value, the reason in headers, so a consumer can fix and replay it). Published after each warehouse
 * commit, before the row files are removed, and retried until it lands: at least once while the daemon runs.
 * Not across a crash: nothing publishes again on restart the copies of a commit whose publish had not landed.
 *
 * Idempotent (acks=all, one request in flight per connection): a send retried after a timeout is not written
 * twice. A failed send (a record the broker refuses, say) makes @platformatic/kafka take a new producer id for
 * the next one, so nothing stays broken after it. Sends are awaited one
 * after the other, so the copies keep the warehouse's order.
 */
import { readFile } from 'node:fs/promises';
import type { MessageToProduce, Producer } from '@platformatic/kafka';
import { GamestreamError } from '../errors.ts';
import { scanUserIdKey } from '../sources/key-scan.ts';
import { createAdmin, createProducer, describeKafkaError } from './client.ts';
import { topicConfig } from './topics.ts';
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
  /**
   * A publish that went through (metrics): how long it took, the records sent and those skipped because the
   * topic would refuse them, per topic. Reported once, by the attempt that succeeded: a retried publish sends
   * its records again, and they are counted once.
   */
  onPublished?: (p: PublishReport) => void;
}

export interface PublishReport {
  durationMs: number;
  sent: Record<OutputKind, number>;
  skipped: Record<OutputKind, number>;
}

type OutputKind = 'enriched' | 'dlq';

type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

/** Kafka's default max.message.bytes, when the broker does not say. */
const DEFAULT_LIMIT = 1_048_588;

function sizeOf(m: Message): number {
  let n = 64 + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const [k, v] of (m.headers as Map<Buffer, Buffer> | undefined) ?? []) n += k.length + (v?.length ?? 0) + 8;
  return n;
}

function lines(buf: Buffer): string[] {
  return buf.toString('utf8').split('\n').filter((l) => l.length > 0);
}

/** A row's user_id as its key: the scan's bytes, or, where the scan finds none, what a parse finds. */
function rowKey(buf: Buffer, s: number, e: number): Buffer | undefined {
  const k = scanUserIdKey(buf, s, e);
  if (k) return k.decoded ? Buffer.from(k.decoded) : buf.subarray(k.start, k.end);
  const row = JSON.parse(buf.toString('utf8', s, e)) as { user_id?: unknown };
  return typeof row.user_id === 'string' ? Buffer.from(row.user_id) : undefined;
}

function headers(h: Record<string, string>): Map<Buffer, Buffer> {
  return new Map(Object.entries(h).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
}

export class KafkaOutputs {
  private readonly o: KafkaOutputsOptions;
  private producer: Producer | null = null;
  private readonly limits = new Map<string, number>();
  published = { enriched: 0, dlq: 0 };
  skipped = 0;

  constructor(opts: KafkaOutputsOptions) {
    this.o = opts;
  }

  get enabled(): boolean {
    return this.o.enrichedTopic !== null || this.o.dlqTopic !== null;
  }

  async publish(files: FlushFiles[]): Promise<void> {
    if (!this.enabled) return;
    const started = Date.now();
    // Connections are made on the first send; a new producer id comes with it.
    this.producer ??= createProducer({ brokers: this.o.brokers, clientId: this.o.clientId });
    const r: PublishReport = { durationMs: 0, sent: { enriched: 0, dlq: 0 }, skipped: { enriched: 0, dlq: 0 } };
    try {
      if (this.o.enrichedTopic) {
        for (const f of files) if (f.events) await this.send(this.o.enrichedTopic, await this.enriched(this.o.enrichedTopic, f.events), 'enriched', r);
      }
      if (this.o.dlqTopic) {
        for (const f of files) if (f.dlq) await this.send(this.o.dlqTopic, await this.deadLetters(this.o.dlqTopic, f.dlq), 'dlq', r);
      }
    } catch (err) {
      throw new GamestreamError('output_failed', `publishing to Kafka failed: ${describeKafkaError(err)}`, { cause: err, retryable: true });
    }
    for (const k of ['enriched', 'dlq'] as const) {
      this.published[k] += r.sent[k];
      this.skipped += r.skipped[k];
    }
    r.durationMs = Date.now() - started;
    this.o.onPublished?.(r);
  }

  /**
   * The file's rows as they are (each value a view of the file's bytes, no copy), keyed by a scan for user_id
   * rather than a parse: this runs on the supervisor thread for every event, and the parse, the string and the
   * copy were 40% of publishing's CPU.
   */
  private async enriched(topic: string, path: string): Promise<Message[]> {
    const buf = await readFile(path);
    const out: Message[] = [];
    for (let s = 0; s < buf.length; ) {
      let e = buf.indexOf(10, s);
      if (e === -1) e = buf.length;
      if (e > s) out.push({ topic, key: rowKey(buf, s, e), value: buf.subarray(s, e) });
      s = e + 1;
    }
    return out;
  }

  private async deadLetters(topic: string, path: string): Promise<Message[]> {
    return lines(await readFile(path)).map((line) => {
      const d = JSON.parse(line) as {
        error_code: string; error: string; stage: string; raw_message: string; raw_encoding: 'utf8' | 'base64';
        source_partition: number; source_offset: number; received_at_ms: number;
      };
      return {
        topic,
        value: Buffer.from(d.raw_message, d.raw_encoding === 'base64' ? 'base64' : 'utf8'),
        headers: headers({
          error_code: d.error_code,
          error: d.error,
          stage: d.stage,
          source: this.o.source,
          source_partition: String(d.source_partition),
          source_offset: String(d.source_offset),
          received_at: new Date(d.received_at_ms).toISOString(),
          gamestream_version: GAMESTREAM_VERSION,
          failure_schema: FAILURE_SCHEMA,
        }),
      };
    });
  }

  /** The topic's max.message.bytes: the broker rejects a whole record batch above it. */
  private async limitOf(topic: string): Promise<number> {
    let limit = this.limits.get(topic);
    if (limit === undefined) {
      const admin = createAdmin({ brokers: this.o.brokers, clientId: this.o.clientId });
      try {
        const v = (await topicConfig(admin, [topic], 'max.message.bytes')).get(topic);
        limit = v == null ? DEFAULT_LIMIT : Number(v);
      } finally {
        await admin.close().catch(() => undefined);
      }
      this.limits.set(topic, limit);
    }
    return limit;
  }

  private async send(topic: string, messages: Message[], kind: OutputKind, r: PublishReport): Promise<void> {
    const producer = this.producer!;
    const limit = await this.limitOf(topic);
    // Requests well under the limit, so no partition's record batch can exceed it.
    const budget = Math.min(512 * 1024, Math.floor(limit / 2));
    let chunk: Message[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      await producer.send({ messages: chunk });
      r.sent[kind] += chunk.length;
      chunk = [];
      bytes = 0;
    };
    for (const m of messages) {
      const size = sizeOf(m);
      if (size > limit - 1024) {
        // One record over the topic's max.message.bytes must not stop the stream: the warehouse has it.
        r.skipped[kind]++;
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
    const p = this.producer;
    this.producer = null;
    if (p) await p.close().catch(() => undefined);
  }
}
