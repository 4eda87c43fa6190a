/**
 * Kafka as a source: one consumer-group member per daemon, on the supervisor thread (kafkajs runs on the
 * thread that calls it, and fetch + routing is cheap next to the workers' decode). The warehouse checkpoints
 * are the truth: on every assignment each partition is sought to its checkpoint, and the group's committed
 * offsets only follow what the warehouse already holds (they serve lag monitoring and other tools).
 */
import { Kafka, logLevel, type Consumer, type EachBatchPayload } from 'kafkajs';
import { GamestreamError } from '../errors.ts';
import { registerLz4Codec } from './client.ts';
import { ensureTopics, type TopicSpec } from './topics.ts';
import type { Logger } from '../log.ts';
import type { ConsumerGroupMember, PartitionedLog, RecordChunk, Source } from '../sources/source.ts';

export interface KafkaSourceOptions {
  brokers: string[];
  topic: string;
  groupId: string;
  clientId: string;
  /** 'caught-up': finish like the end of a file once every partition reached its end offset at start. */
  stop: 'never' | 'caught-up';
  sessionTimeoutMs: number;
  /**
   * How long a rebalance waits for members to rejoin (kafkajs would default to 60 s). A member that stalls right
   * after it rejoined stays in the group until this has passed, so a short one lets its partitions move sooner.
   */
  rebalanceTimeoutMs: number;
  /** Topics to create when missing and verify when present (the raw topic first), or none. */
  ensure: TopicSpec[];
  /** Counted in the metrics: fetched batches, group offset commits, rebalances. */
  hooks?: { fetched(records: number): void; committed(): void; rebalanced(): void };
  log: Logger;
}

interface PendingBatch {
  partition: number;
  values: (Buffer | null)[];
  offsets: number[];
  done: () => void;
}

const QUEUE_BATCHES = 4;

export class KafkaSource implements Source, PartitionedLog, ConsumerGroupMember {
  readonly name: string;
  readonly format = 'ndjson' as const;
  readonly avroWriterSchema = null;
  readonly partitionedLog: PartitionedLog = this;
  readonly group: ConsumerGroupMember = this;
  partitionCount = 0;
  private readonly o: KafkaSourceOptions;
  private readonly kafka: Kafka;
  private consumer: Consumer | null = null;
  private resumeAt = new Map<number, number>();
  private endAtStart = new Map<number, number>();
  private readonly position = new Map<number, number>();
  private queue: PendingBatch[] = [];
  private wakeReader: (() => void) | null = null;
  private readonly wakeWriters: (() => void)[] = [];
  private failed: unknown = null;
  private stopped = false;
  private interrupted = false;
  private bytesRead = 0;
  private commits: Promise<void> = Promise.resolve();
  /** Partitions of the current assignment, and those of them the supervisor has started. */
  private assigned = new Set<number>();
  private readonly started = new Set<number>();
  private joined = false;
  private assignmentListener: ((partitions: number[]) => void) | null = null;
  /** When the group last confirmed this member (join or heartbeat), and whether it went unconfirmed too long. */
  private confirmedAt = 0;
  private lapsed = false;
  /** This member's id in the group (from its latest join). */
  private member: string | null = null;

  constructor(opts: KafkaSourceOptions) {
    this.o = opts;
    this.name = `kafka:${opts.topic}`;
    // The tracking server writes LZ4 batches; kafkajs only knows gzip by itself.
    registerLz4Codec();
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      logLevel: logLevel.WARN,
      logCreator: () => ({ log }) => {
        const { message, ...rest } = log as { message: string };
        // kafkajs reports retriable broker answers (a coordinator still loading) at ERROR; fatal ones arrive as
        // a CRASH event, handled below, so its log lines are warnings here.
        opts.log.warn({ kafka: rest }, `kafka: ${message}`);
      },
    });
  }

  async open(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      if (this.o.ensure.length > 0) {
        for (const r of await ensureTopics(admin, this.o.ensure, { logger: this.o.log })) {
          this.o.log.info({ topic: r.name, action: r.action, partitions: r.partitions }, 'kafka topic ready');
        }
      }
      const meta = await admin.fetchTopicMetadata({ topics: [this.o.topic] });
      this.partitionCount = meta.topics[0]?.partitions.length ?? 0;
      if (this.partitionCount === 0) throw new Error('the topic has no partitions');
      for (const o of await admin.fetchTopicOffsets(this.o.topic)) this.endAtStart.set(o.partition, Number(o.high));
    } catch (err) {
      if ((err as { code?: string }).code === 'topic_invalid') throw err;
      throw new GamestreamError('source_unavailable', `cannot read Kafka topic ${this.o.topic} at ${this.o.brokers.join(',')}: ${(err as Error).message}`, { cause: err, retryable: true });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  resumeFrom(nextOffsets: Map<number, number>): void {
    this.resumeAt = new Map(nextOffsets);
    for (const [p, o] of nextOffsets) this.position.set(p, o);
  }

  private async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.o.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.o.sessionTimeoutMs,
      rebalanceTimeout: this.o.rebalanceTimeoutMs,
      heartbeatInterval: Math.max(1000, Math.floor(this.o.sessionTimeoutMs / 10)),
      // The seed's fetch settings: wait for 64 KiB or 500 ms, at most 1 MiB per partition.
      minBytes: 65_536,
      maxWaitTimeInMs: 500,
      maxBytesPerPartition: 1_048_576,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.HEARTBEAT, () => {
      this.confirmedAt = Date.now();
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // Rejoining after the session ran out: the group may have given this member's partitions to another.
      if (this.confirmedAt > 0 && Date.now() > this.confirmedAt + this.o.sessionTimeoutMs) this.lapsed = true;
      this.confirmedAt = Date.now();
      this.member = e.payload.memberId;
      const assigned = e.payload.memberAssignment[this.o.topic] ?? [];
      this.o.hooks?.rebalanced();
      this.o.log.info({ partitions: assigned.length, member: e.payload.memberId, leader: e.payload.leaderId, joinMs: e.payload.duration }, 'kafka partitions assigned');
      const next = new Set(assigned);
      for (const p of this.assigned) if (!next.has(p)) this.started.delete(p);
      // Batches of partitions this member no longer has are not handed on: their new owner reads them.
      this.queue = this.queue.filter((b) => {
        if (next.has(b.partition)) return true;
        b.done();
        return false;
      });
      const fresh = assigned.filter((p) => !this.started.has(p));
      this.assigned = next;
      this.joined = true;
      if (this.assignmentListener) {
        // Nothing is fetched for a new partition until the supervisor knows where it resumes.
        if (fresh.length > 0) consumer.pause([{ topic: this.o.topic, partitions: fresh }]);
        this.assignmentListener(assigned);
      } else {
        // The warehouse decides where each partition resumes, whatever the group committed.
        for (const p of assigned) {
          consumer.seek({ topic: this.o.topic, partition: p, offset: String(this.resumeAt.get(p) ?? 0) });
          this.started.add(p);
        }
      }
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.o.log.info({ member: this.member }, 'kafka group rebalancing: rejoining');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.o.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (p) => this.onBatch(p),
    });
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0) return;
    this.o.hooks?.fetched(batch.messages.length);
    // Bounded hand-over: while the supervisor is behind, this handler waits and kafkajs fetches nothing more.
    while (this.queue.length >= QUEUE_BATCHES && !this.stopped) {
      await this.heartbeatWhile(new Promise<void>((r) => this.wakeWriters.push(r)), heartbeat);
    }
    if (!isRunning() || isStale() || this.stopped) return;
    const handedOver = new Promise<void>((done) => {
      this.queue.push({
        partition: batch.partition,
        values: batch.messages.map((m) => m.value),
        offsets: batch.messages.map((m) => Number(m.offset)),
        done,
      });
      this.wakeReader?.();
    });
    await this.heartbeatWhile(handedOver, heartbeat);
    resolveOffset(batch.lastOffset());
  }

  /**
   * kafkajs heartbeats only between batches or when asked: a wait longer than the session timeout (a slow
   * warehouse, a schema registry outage) would otherwise cost the group membership and force a rebalance.
   */
  private async heartbeatWhile(wait: Promise<void>, heartbeat: () => Promise<void>): Promise<void> {
    let settled = false;
    void wait.then(() => (settled = true));
    const everyMs = Math.max(1000, Math.floor(this.o.sessionTimeoutMs / 10));
    while (!settled) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([wait, new Promise<void>((r) => (timer = setTimeout(r, everyMs)))]);
      clearTimeout(timer);
      if (!settled && !this.stopped) await heartbeat();
      if (this.stopped) return;
    }
  }

  private fail(err: unknown): void {
    this.failed = err;
    this.wakeReader?.();
  }

  /**
   * Until when the group surely still counts this member: its last confirmation plus the session timeout. A
   * process that stalled (GC, a frozen VM) past it may have lost its partitions without knowing yet.
   */
  leaseExpiresAt(): number {
    return this.confirmedAt === 0 || this.lapsed ? 0 : this.confirmedAt + this.o.sessionTimeoutMs;
  }

  memberId(): string | null {
    return this.member;
  }

  /** The ids of the group's members now: a previous owner among them is alive and will release what it had. */
  async liveMembers(): Promise<Set<string>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups([this.o.groupId]);
      return new Set((groups[0]?.members ?? []).map((m) => m.memberId));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** The warehouse showed that no other daemon took this member's partitions while its session had lapsed. */
  settleLapse(): void {
    this.lapsed = false;
  }

  onAssignment(listener: (partitions: number[]) => void): void {
    this.assignmentListener = listener;
  }

  startPartitions(nextOffsets: Map<number, number>): void {
    const c = this.consumer;
    if (!c) return;
    const go: number[] = [];
    for (const [p, offset] of nextOffsets) {
      // Assigned away again while the supervisor was getting it ready.
      if (!this.assigned.has(p)) continue;
      c.seek({ topic: this.o.topic, partition: p, offset: String(offset) });
      this.position.set(p, offset);
      this.started.add(p);
      go.push(p);
    }
    if (go.length > 0) c.resume([{ topic: this.o.topic, partitions: go }]);
  }

  /**
   * Every partition of the topic is at the end offset it had at start: this member's own partitions by what it
   * read, the others by the warehouse checkpoints it started from. A partition that a killed member still holds
   * (until its session times out) is not caught up, so this member waits to be given it instead of finishing
   * without it. With several live daemons, each finishes only once it holds what the others have not finished.
   */
  private caughtUp(): boolean {
    if (!this.joined) return false;
    for (const [p, end] of this.endAtStart) {
      if (this.assigned.has(p) && !this.started.has(p)) return false;
      if ((this.position.get(p) ?? 0) < end) return false;
    }
    return true;
  }

  interrupt(): void {
    this.interrupted = true;
    this.wakeReader?.();
  }

  async next(): Promise<RecordChunk | null> {
    if (!this.consumer) await this.start();
    for (;;) {
      if (this.interrupted) return null;
      if (this.failed) throw new GamestreamError('source_unavailable', `Kafka consumer failed: ${(this.failed as Error).message}`, { cause: this.failed });
      if (this.o.stop === 'caught-up' && this.caughtUp()) return null;
      const b = this.queue.shift();
      if (b) {
        this.wakeWriters.shift()?.();
        if (!this.assigned.has(b.partition)) {
          b.done();
          continue;
        }
        return this.toChunk(b);
      }
      await new Promise<void>((r) => {
        this.wakeReader = r;
        // Re-check now and then: the caught-up test needs no message to arrive.
        setTimeout(r, 200);
      });
      this.wakeReader = null;
    }
  }

  private toChunk(b: PendingBatch): RecordChunk {
    const n = b.values.length;
    const data = Buffer.concat(b.values.map((v) => v ?? Buffer.alloc(0)));
    const starts = new Uint32Array(n);
    const ends = new Uint32Array(n);
    const partitions = new Int32Array(n).fill(b.partition);
    const offsets = Float64Array.from(b.offsets);
    let pos = 0;
    for (let i = 0; i < n; i++) {
      starts[i] = pos;
      pos += b.values[i]?.length ?? 0;
      ends[i] = pos;
    }
    this.bytesRead += data.length;
    this.position.set(b.partition, b.offsets[n - 1] + 1);
    b.done();
    return { data, starts, ends, count: n, firstIndex: 0, keys: null, partitions, offsets };
  }

  async endOffsets(): Promise<Map<number, number>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return new Map((await admin.fetchTopicOffsets(this.o.topic)).map((o) => [o.partition, Number(o.high)]));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  pause(partitions: number[]): void {
    this.consumer?.pause([{ topic: this.o.topic, partitions }]);
    this.o.log.debug({ partitions: partitions.length }, 'kafka partitions paused: their worker is behind');
  }

  resume(partitions: number[]): void {
    // Backpressure never resumes a partition that is still waiting for its hand-off.
    const ready = partitions.filter((p) => this.started.has(p));
    if (ready.length > 0) this.consumer?.resume([{ topic: this.o.topic, partitions: ready }]);
  }

  durable(nextOffsets: Map<number, number>): void {
    const c = this.consumer;
    if (!c) return;
    // Only partitions this member still has: the group refuses commits for the others.
    const offsets = [...nextOffsets].filter(([p]) => this.assigned.has(p)).map(([partition, offset]) => ({ topic: this.o.topic, partition, offset: String(offset) }));
    if (offsets.length === 0) return;
    // Chained, so commits reach the group in order and close() can wait for the last one.
    this.commits = this.commits
      .then(() => c.commitOffsets(offsets))
      .then(() => this.o.hooks?.committed())
      .catch((err: Error) => this.o.log.warn({ err: err.message }, 'kafka offset commit failed; the warehouse checkpoints still hold the position'));
  }

  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: this.bytesRead, totalBytes: null };
  }

  async close(): Promise<void> {
    this.stopped = true;
    for (const w of this.wakeWriters.splice(0)) w();
    for (const b of this.queue.splice(0)) b.done();
    await this.commits;
    // Leaves the group, so the partitions move to the other members at once.
    await this.consumer?.disconnect().catch(() => undefined);
  }
}
