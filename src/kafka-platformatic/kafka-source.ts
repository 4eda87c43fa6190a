/**
 * Kafka as a source: one consumer-group member per daemon, on the supervisor thread (fetch and routing are
 * cheap next to the workers' decode). The group assigns partitions; gamestream's own fetch loop (fetcher.ts)
 * reads them. The warehouse checkpoints are the truth: on every assignment each partition is read from its
 * checkpoint, and the group's committed offsets only follow what the warehouse already holds (they serve lag
 * monitoring and other tools).
 */
import { Connection, type Admin, Consumer, findErrorBy, heartbeatV4, type GroupAssignment } from '@platformatic/kafka';
import { GamestreamError } from '../errors.ts';
import { chunkOf } from './chunk.ts';
import { baseOptions, createAdmin, describeKafkaError } from './client.ts';
import { PartitionFetcher, type FetchedBatch } from './fetcher.ts';
import { refetchRecords } from './refetch.ts';
import { endOffsetsOf, ensureTopics, logRangeOf, partitionCounts, type TopicSpec } from './topics.ts';
import type { Logger } from '../log.ts';
import { OffsetGaps } from '../sources/offset-gaps.ts';
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
   * How long a rebalance waits for members to rejoin. A member that stalls right after it rejoined stays in the
   * group until this has passed, so a short one lets its partitions move sooner.
   */
  rebalanceTimeoutMs: number;
  /** Topics to create when missing and verify when present (the raw topic first), or none. */
  ensure: TopicSpec[];
  /** Counted in the metrics: fetched batches, group offset commits, rebalances. */
  hooks?: { fetched(records: number): void; committed(): void; rebalanced(): void };
  log: Logger;
}

/** What the fetch loop may hold for the reader. */
const QUEUE_BYTES = 8 << 20;
/**
 * The most one fetch returns. The client reads an uncompressed response's records straight from the socket's
 * chunks and looks each read's chunk up from the first one, so parsing costs grow with the square of a
 * response's size: 2 MiB responses took about 0.2 CPU-s less on the fetch thread per million records than
 * 8 MiB ones (docs/PERFORMANCE.md).
 */
const FETCH_BYTES = 2 << 20;
const REJOIN_MAX_MS = 5000;

export class KafkaSource implements Source, PartitionedLog, ConsumerGroupMember {
  readonly name: string;
  readonly format = 'ndjson' as const;
  readonly avroWriterSchema = null;
  readonly partitionedLog: PartitionedLog = this;
  readonly group: ConsumerGroupMember = this;
  partitionCount = 0;
  readonly unreadable = new OffsetGaps();
  private readonly o: KafkaSourceOptions;
  private readonly admin: Admin;
  private consumer: Consumer | null = null;
  private fetcher: PartitionFetcher | null = null;
  private resumeAt = new Map<number, number>();
  private endAtStart = new Map<number, number>();
  private readonly position = new Map<number, number>();
  private queue: FetchedBatch[] = [];
  private queued = 0;
  private wakeReader: (() => void) | null = null;
  private failed: unknown = null;
  private stopped = false;
  private interrupted = false;
  private bytesRead = 0;
  private commits: Promise<void> = Promise.resolve();
  /** Partitions of the current assignment, and those of them the supervisor has started. */
  private assigned = new Set<number>();
  private readonly started = new Set<number>();
  private joined = false;
  private rejoining: Promise<void> | null = null;
  private assignmentListener: ((partitions: number[]) => void) | null = null;
  /**
   * When the group last confirmed this member (a heartbeat), and whether it went unconfirmed too long. A
   * heartbeat counts from when it was sent: its answer, read after a stall, says nothing about the stall. Times
   * are on the monotonic clock (`performance.now()`), which NTP steps of the wall clock do not move.
   */
  private confirmedAt = 0;
  private heartbeatSentAt = 0;
  private lapsed = false;
  /** This member's id in the group and the group's generation, from its latest join. */
  private member: string | null = null;
  private generationId = -1;

  constructor(opts: KafkaSourceOptions) {
    this.o = opts;
    this.name = `kafka:${opts.topic}`;
    this.admin = createAdmin({ brokers: opts.brokers, clientId: opts.clientId });
  }

  async open(): Promise<void> {
    try {
      if (this.o.ensure.length > 0) {
        for (const r of await ensureTopics(this.admin, this.o.ensure, { logger: this.o.log })) {
          this.o.log.info({ topic: r.name, action: r.action, partitions: r.partitions }, 'kafka topic ready');
        }
      }
      this.partitionCount = (await partitionCounts(this.admin, [this.o.topic])).get(this.o.topic) ?? 0;
      if (this.partitionCount === 0) throw new Error('the topic has no partitions');
      this.endAtStart = await endOffsetsOf(this.admin, this.o.topic);
    } catch (err) {
      if ((err as { code?: string }).code === 'topic_invalid') throw err;
      throw new GamestreamError('source_unavailable', `cannot read Kafka topic ${this.o.topic} at ${this.o.brokers.join(',')}: ${describeKafkaError(err)}`, { cause: err, retryable: true });
    }
  }

  resumeFrom(nextOffsets: Map<number, number>): void {
    this.resumeAt = new Map(nextOffsets);
    for (const [p, o] of nextOffsets) this.position.set(p, o);
  }

  private groupOptions() {
    return {
      sessionTimeout: this.o.sessionTimeoutMs,
      rebalanceTimeout: Math.max(this.o.rebalanceTimeoutMs, this.o.sessionTimeoutMs),
      heartbeatInterval: Math.max(1000, Math.floor(this.o.sessionTimeoutMs / 10)),
    };
  }

  private async start(): Promise<void> {
    const group = this.groupOptions();
    const consumer = new Consumer({
      ...baseOptions({ brokers: this.o.brokers, clientId: this.o.clientId }),
      // A JoinGroup answer may take the whole rebalance timeout.
      requestTimeout: Math.max(30_000, group.rebalanceTimeout + 5000),
      groupId: this.o.groupId,
      autocommit: false,
      ...group,
    });
    this.consumer = consumer;
    this.fetcher = new PartitionFetcher({
      consumer,
      topic: this.o.topic,
      minBytes: 65_536,
      maxWaitMs: 500,
      maxBytesPerPartition: 1_048_576,
      maxBytes: FETCH_BYTES,
      queueBytes: QUEUE_BYTES,
      deliver: (b) => this.onFetched(b),
      queuedBytes: () => this.queued,
      outOfRange: (p, wanted, logStart, logEnd) => this.outOfRange(p, wanted, logStart, logEnd),
      log: this.o.log,
    });
    consumer.on('consumer:heartbeat:start', () => {
      this.heartbeatSentAt = performance.now();
    });
    consumer.on('consumer:heartbeat:end', () => {
      this.confirmedAt = Math.max(this.confirmedAt, this.heartbeatSentAt);
    });
    consumer.on('consumer:group:join', (e) => this.onJoin(e.memberId, e.generationId ?? -1, e.assignments ?? []));
    consumer.on('consumer:heartbeat:error', (e) => {
      this.o.log.info({ member: this.member, err: describeKafkaError(e.error) }, 'kafka group heartbeat failed; rejoining when the group asks');
    });
    // The client rejoins by itself when a heartbeat says so; when that rejoin fails (the broker away longer than
    // its retries), this member would stay out of the group, so it keeps trying.
    consumer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.o.log.warn({ member: this.member, err: describeKafkaError(err) }, 'kafka group rejoin failed; trying again');
      this.rejoin();
    });
    consumer.topics.trackAll(this.o.topic);
    try {
      await consumer.joinGroup(group);
    } catch (err) {
      throw new GamestreamError('source_unavailable', `cannot join Kafka consumer group ${this.o.groupId} at ${this.o.brokers.join(',')}: ${describeKafkaError(err)}`, { cause: err, retryable: true });
    }
  }

  private rejoin(): void {
    if (this.rejoining || this.stopped || !this.consumer) return;
    const c = this.consumer;
    this.rejoining = (async () => {
      for (let attempt = 1; !this.stopped; attempt++) {
        try {
          await c.joinGroup(this.groupOptions());
          return;
        } catch (err) {
          const delay = Math.min(REJOIN_MAX_MS, 250 * 2 ** (attempt - 1));
          this.o.log.debug({ attempt, retryInMs: delay, err: describeKafkaError(err) }, 'kafka group rejoin failed');
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })().finally(() => (this.rejoining = null));
  }

  private onJoin(memberId: string, generationId: number, assignments: GroupAssignment[]): void {
    // Rejoining after the session ran out: the group may have given this member's partitions to another. The
    // join itself does not renew the lease: its answer may have been read after a stall; the next heartbeat does.
    if (this.confirmedAt > 0 && performance.now() > this.confirmedAt + this.o.sessionTimeoutMs) this.lapsed = true;
    this.member = memberId;
    this.generationId = generationId;
    const assigned = assignments.filter((a) => a.topic === this.o.topic).flatMap((a) => a.partitions).sort((a, b) => a - b);
    this.o.hooks?.rebalanced();
    this.o.log.info({ partitions: assigned.length, member: memberId, generation: generationId }, 'kafka partitions assigned');
    const next = new Set(assigned);
    const fetcher = this.fetcher!;
    for (const p of this.assigned) {
      if (next.has(p)) continue;
      this.started.delete(p);
      fetcher.remove(p);
    }
    // Batches of partitions this member no longer has are not handed on: their new owner reads them.
    this.queue = this.queue.filter((b) => next.has(b.partition));
    this.queued = this.queue.reduce((n, b) => n + b.bytes, 0);
    const fresh = assigned.filter((p) => !this.started.has(p));
    this.assigned = next;
    this.joined = true;
    if (this.assignmentListener) {
      // Nothing is fetched for a new partition until the supervisor knows where it resumes.
      this.assignmentListener(assigned);
    } else {
      // The warehouse decides where each partition resumes, whatever the group committed.
      for (const p of fresh) {
        fetcher.seek(p, this.resumeAt.get(p) ?? 0);
        this.started.add(p);
      }
    }
    this.wakeReader?.();
  }

  private onFetched(b: FetchedBatch): void {
    if (!this.assigned.has(b.partition) || this.stopped) return;
    for (let i = 0; b.gaps && i < b.gaps.length; i += 2) this.unreadable.add(b.partition, b.gaps[i]!, b.gaps[i + 1]!);
    this.o.hooks?.fetched(b.values.length);
    this.queue.push(b);
    this.queued += b.bytes;
    this.wakeReader?.();
  }

  /**
   * The log has no records at the offset a partition resumes from. Below its start they were deleted by
   * retention before the warehouse took them: say how many and go on from the start. Past its end the topic is
   * not the one the warehouse read (recreated, or another cluster): stop rather than skip or re-read anything.
   */
  private async outOfRange(partition: number, wanted: number, logStart: number, logEnd: number): Promise<number | null> {
    // An error answer to a fetch says neither where the log starts nor where it ends (-1): ask.
    if (logStart < 0 || logEnd < 0) ({ start: logStart, end: logEnd } = await logRangeOf(this.admin, this.o.topic, partition));
    if (wanted < logStart) {
      this.unreadable.add(partition, wanted, logStart);
      // In order after the partition's batches already queued: the reader's position passes the deleted offsets.
      this.onFetched({ partition, values: [], offsets: [], bytes: 0, next: logStart, gaps: null });
      this.o.log.warn({ topic: this.o.topic, partition, from: wanted, to: logStart, lost: logStart - wanted },
        'kafka records were deleted by the topic\'s retention before gamestream read them; going on from the oldest record kept');
      return logStart;
    }
    this.fail(new GamestreamError('source_unavailable',
      `Kafka topic ${this.o.topic} partition ${partition} ends at offset ${logEnd}, but the warehouse already holds it up to ${wanted}: the topic was recreated or is another cluster's; point GAMESTREAM_KAFKA_TOPIC at the topic the warehouse was filled from, or start a new warehouse`));
    return null;
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

  /** The group generation of this member's latest join (-1 before it joined). */
  generation(): number {
    return this.generationId;
  }

  /** The ids of the group's members now: a previous owner among them is alive and will release what it had. */
  async liveMembers(): Promise<Set<string>> {
    const groups = await this.admin.describeGroups({ groups: [this.o.groupId] });
    return new Set(groups.get(this.o.groupId)?.members.keys() ?? []);
  }

  /**
   * A heartbeat with this member's id and generation, on a connection of its own to the group coordinator (the
   * consumer's own heartbeats would rejoin on the answer). "Unknown member" means the group dropped it; a
   * rebalance under way or a newer generation mean it is still a member, so any new owner of its partitions
   * waits for its release.
   */
  async stillMember(): Promise<boolean | null> {
    const c = this.consumer;
    if (!c || this.member === null) return null;
    let conn: Connection | null = null;
    try {
      const node = await c.findGroupCoordinator();
      const broker = (await c.metadata({ topics: [this.o.topic] })).brokers.get(node);
      if (!broker) return null;
      conn = new Connection(this.o.clientId, { connectTimeout: 2000, requestTimeout: 5000 });
      await conn.connect(broker.host, broker.port);
      await heartbeatV4.api.async(conn, this.o.groupId, this.generationId, this.member, null);
      return true;
    } catch (err) {
      const e = err as Error;
      if (findErrorBy(e, 'apiId', 'UNKNOWN_MEMBER_ID') || findErrorBy(e, 'apiId', 'FENCED_INSTANCE_ID')) return false;
      if (findErrorBy(e, 'apiId', 'REBALANCE_IN_PROGRESS') || findErrorBy(e, 'apiId', 'ILLEGAL_GENERATION')) return true;
      this.o.log.warn({ err: describeKafkaError(err) }, 'could not ask the Kafka group coordinator whether this daemon is still a member');
      return null;
    } finally {
      await conn?.close().catch(() => undefined);
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
    const f = this.fetcher;
    if (!f) return;
    for (const [p, offset] of nextOffsets) {
      // Assigned away again while the supervisor was getting it ready.
      if (!this.assigned.has(p)) continue;
      this.position.set(p, offset);
      this.started.add(p);
      f.seek(p, offset);
    }
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
      if (this.failed) {
        if (this.failed instanceof GamestreamError) throw this.failed;
        throw new GamestreamError('source_unavailable', `Kafka consumer failed: ${describeKafkaError(this.failed)}`, { cause: this.failed });
      }
      if (this.o.stop === 'caught-up' && this.caughtUp()) return null;
      const b = this.queue.shift();
      if (b) {
        this.queued -= b.bytes;
        this.fetcher?.kick();
        if (!this.assigned.has(b.partition)) continue;
        // Past the last record too: offsets without one (markers) may follow it, or be all the batch has.
        this.position.set(b.partition, b.next);
        if (b.values.length === 0) continue;
        const chunk = chunkOf(b);
        this.bytesRead += chunk.data.length;
        return chunk;
      }
      await new Promise<void>((r) => {
        this.wakeReader = r;
        // Re-check now and then: the caught-up test needs no message to arrive.
        setTimeout(r, 200);
      });
      this.wakeReader = null;
    }
  }

  /** Source.refetch: a replay to a restarted worker fetches its batches' records again (refetch.ts). */
  async refetch(index: Int32Array, offsets: Float64Array, into: Uint8Array): Promise<void> {
    if (!this.fetcher) throw new GamestreamError('internal', 'a Kafka batch to fetch again before the source started');
    await refetchRecords(this.o.topic, this.fetcher, index, offsets, into);
  }

  async endOffsets(): Promise<Map<number, number>> {
    return endOffsetsOf(this.admin, this.o.topic);
  }

  /** Received = the record's Kafka timestamp (see PartitionFetcher.receivedTimes). */
  receivedTimes(reached: readonly { partition: number; nextOffset: number }[], add: (receivedAtMs: number, records: number) => void): void {
    this.fetcher?.receivedTimes(reached, add);
  }

  pause(partitions: number[]): void {
    this.fetcher?.pause(partitions);
    this.o.log.debug({ partitions: partitions.length }, 'kafka partitions paused: their worker is behind');
  }

  resume(partitions: number[]): void {
    this.fetcher?.resume(partitions);
  }

  durable(nextOffsets: Map<number, number>): void {
    const c = this.consumer;
    if (!c) return;
    // Only partitions this member still has: the group refuses commits for the others.
    const offsets = [...nextOffsets].filter(([p]) => this.assigned.has(p)).map(([partition, offset]) => ({ topic: this.o.topic, partition, offset: BigInt(offset), leaderEpoch: -1 }));
    if (offsets.length === 0) return;
    // Chained, so commits reach the group in order and close() can wait for the last one.
    this.commits = this.commits
      .then(() => c.commit({ offsets }))
      .then(() => this.o.hooks?.committed())
      .catch((err: unknown) => this.o.log.warn({ err: describeKafkaError(err) }, 'kafka offset commit failed; the warehouse checkpoints still hold the position'));
  }

  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: this.bytesRead, totalBytes: null };
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.queue = [];
    this.queued = 0;
    await this.commits;
    await this.fetcher?.close();
    const c = this.consumer;
    // Closing leaves the group, so the partitions move to the other members at once.
    await c?.close().catch((err: unknown) => this.o.log.debug({ err: describeKafkaError(err) }, 'kafka consumer close failed'));
    await this.admin.close().catch(() => undefined);
  }
}
