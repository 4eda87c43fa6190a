/**
 * The fetch loop of the Kafka source: gamestream's own, on top of the client's `fetch()`, because the client's
 * message stream can neither pause one partition nor seek one. Each partition has the offset it reads next;
 * partitions are grouped by their leader and each leader gets one fetch at a time (concurrent fetches to one
 * broker share its fetch session, and the broker refuses the second). Pausing a partition only leaves it out of
 * the next requests: what was already fetched is kept and handed on, never fetched twice.
 *
 * Records come back as whole record batches, so the first batch of a fetch may start before the offset asked for;
 * those records are skipped. A response is used only for the offsets it was asked for: a partition sought,
 * removed or re-added while its fetch was out has its answer dropped.
 */
import { protocolErrors, type Consumer } from '@platformatic/kafka';

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;
import { describeKafkaError } from './client.ts';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { skippedBatches } from './aborted.ts';

export interface FetchedBatch {
  partition: number;
  values: (Buffer | null)[];
  offsets: number[];
  bytes: number;
  /** Where the partition's reading goes on: past the last record when offsets without one follow it. */
  next: number;
  /** Offsets of the answer that hold no record to read (transaction markers, aborted transactions, compacted away), as [from, to) pairs. */
  gaps: number[] | null;
}

/** What one fetch outside the loop found (PartitionFetcher.fetchOnce). */
export interface FetchedOnce {
  offsets: number[];
  values: (Buffer | null)[];
  /** The offset after the last record batch returned (the asked one when none was). */
  next: number;
  /** The log does not have the offset asked for (deleted by retention, or past its end). */
  outOfRange: boolean;
}

export interface FetcherOptions {
  consumer: Consumer;
  topic: string;
  /** The seed's fetch settings: wait for 64 KiB or 500 ms, at most 1 MiB per partition. */
  minBytes: number;
  maxWaitMs: number;
  maxBytesPerPartition: number;
  /** Most bytes of one response. */
  maxBytes: number;
  /** Most bytes waiting to be taken by the reader: a new fetch starts only below it. */
  queueBytes: number;
  /** Records of one partition, in offset order. */
  deliver(batch: FetchedBatch): void;
  /** Bytes handed over and not yet taken by the reader. */
  queuedBytes(): number;
  /** A partition whose next offset the log no longer has, or does not have yet (-1: the answer did not say). */
  outOfRange(partition: number, wanted: number, logStart: number, logEnd: number): Promise<number | null>;
  log: Logger;
}

interface Wanted {
  next: number;
  /** Bumped on every seek, so an answer to an older request is recognised and dropped. */
  version: number;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;
/** Record batch attribute bit 3: the broker stamped the batch when it appended it (LogAppendTime). */
const LOG_APPEND_TIME = 0b1000;

/**
 * One partition's fetched records not yet reported as committed, with their timestamps, one entry per Kafka
 * record batch: [first offset, end offset (exclusive), timestamp ms] in a flat array, no object per entry.
 */
export class ReceiveLog {
  private buf = new Float64Array(3 * 64);
  private head = 0;
  private tail = 0;

  add(first: number, end: number, timestampMs: number): void {
    const t = 3 * this.tail;
    // The same send's records in one entry.
    if (this.tail > this.head && this.buf[t - 2] === first && this.buf[t - 1] === timestampMs) {
      this.buf[t - 2] = end;
      return;
    }
    if (t === this.buf.length) this.makeRoom();
    const i = 3 * this.tail++;
    this.buf[i] = first;
    this.buf[i + 1] = end;
    this.buf[i + 2] = timestampMs;
  }

  private makeRoom(): void {
    const used = this.tail - this.head;
    const buf = used * 2 > this.buf.length / 3 ? new Float64Array(this.buf.length * 2) : this.buf;
    buf.set(this.buf.subarray(3 * this.head, 3 * this.tail));
    this.buf = buf;
    this.head = 0;
    this.tail = used;
  }

  /** Reports the records below `next` as `add(timestampMs, records)` and forgets them. */
  take(next: number, add: (timestampMs: number, records: number) => void): void {
    while (this.head < this.tail) {
      const i = 3 * this.head;
      const first = this.buf[i];
      if (first >= next) break;
      const end = this.buf[i + 1];
      const upTo = Math.min(end, next);
      add(this.buf[i + 2], upTo - first);
      if (upTo < end) {
        this.buf[i] = upTo;
        break;
      }
      this.head++;
    }
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  get entries(): number {
    return this.tail - this.head;
  }
}

export class PartitionFetcher {
  private readonly o: FetcherOptions;
  private readonly wanted = new Map<number, Wanted>();
  private readonly paused = new Set<number>();
  private readonly inflight = new Set<number>();
  private readonly failures = new Map<number, number>();
  /** Per partition, the timestamps of records fetched and not yet committed (see receivedTimes). */
  private readonly received = new Map<number, ReceiveLog>();
  private scheduled = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private idle: (() => void)[] = [];
  /** fetchOnce calls waiting for their leader's fetch in flight to end. */
  private freed: (() => void)[] = [];

  constructor(o: FetcherOptions) {
    this.o = o;
  }

  /** Reads the partition from `offset` on (it was not read, or read elsewhere). */
  seek(partition: number, offset: number): void {
    const w = this.wanted.get(partition);
    this.wanted.set(partition, { next: offset, version: (w?.version ?? 0) + 1 });
    this.received.set(partition, new ReceiveLog());
    this.kick();
  }

  /**
   * Stops reading the partition (a rebalance gave it to another daemon). Its receive log stays: the records of it
   * this daemon read are still committed here, and reported then; seek() starts a new log if it comes back.
   */
  remove(partition: number): void {
    this.wanted.delete(partition);
    this.paused.delete(partition);
  }

  /**
   * The warehouse has the records below these offsets: reports each fetched one not reported before, as
   * `add(timestampMs, records)` per record batch (its first timestamp, which the producer set when it sent the
   * batch, or the broker's when the topic stamps LogAppendTime).
   */
  receivedTimes(reached: readonly { partition: number; nextOffset: number }[], add: (timestampMs: number, records: number) => void): void {
    for (const r of reached) this.received.get(r.partition)?.take(r.nextOffset, add);
  }

  pause(partitions: number[]): void {
    for (const p of partitions) this.paused.add(p);
  }

  resume(partitions: number[]): void {
    for (const p of partitions) this.paused.delete(p);
    this.kick();
  }

  /** Starts fetches for the leaders that have none out, on the next turn of the event loop. */
  kick(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.round();
    });
  }

  private async round(): Promise<void> {
    if (this.closed || this.o.queuedBytes() >= this.o.queueBytes) return;
    const active = [...this.wanted.keys()].filter((p) => !this.paused.has(p));
    if (active.length === 0) return;
    let metadata;
    try {
      metadata = await this.o.consumer.metadata({ topics: [this.o.topic] });
    } catch (err) {
      this.failed(-1, err);
      return;
    }
    const t = metadata.topics.get(this.o.topic);
    if (!t || this.closed) return;
    const byNode = new Map<number, number[]>();
    let leaderless = 0;
    for (const p of active) {
      const leader = t.partitions[p]?.leader ?? -1;
      if (leader < 0) leaderless++;
      if (leader < 0 || this.inflight.has(leader)) continue;
      let list = byNode.get(leader);
      if (!list) byNode.set(leader, (list = []));
      list.push(p);
    }
    // A leader being elected: ask again for fresh metadata shortly.
    if (leaderless > 0) this.failed(-1, new Error(`${leaderless} partitions of ${this.o.topic} have no leader`));
    for (const [node, partitions] of byNode) void this.fetchFrom(node, t.id, partitions, t.partitions.map((x) => x.leaderEpoch));
  }

  private async fetchFrom(node: number, topicId: string, partitions: number[], epochs: number[]): Promise<void> {
    const asked = new Map<number, Wanted>();
    for (const p of partitions) asked.set(p, { ...this.wanted.get(p)! });
    this.inflight.add(node);
    let response: FetchResponse | null = null;
    let error: unknown = null;
    try {
      response = await this.o.consumer.fetch({
        node,
        minBytes: this.o.minBytes,
        maxWaitTime: this.o.maxWaitMs,
        maxBytes: this.o.maxBytes,
        topics: [{
          topicId,
          partitions: partitions.map((partition) => ({
            partition,
            fetchOffset: BigInt(asked.get(partition)!.next),
            partitionMaxBytes: this.o.maxBytesPerPartition,
            currentLeaderEpoch: epochs[partition] ?? -1,
            lastFetchedEpoch: -1,
          })),
        }],
      });
    } catch (err) {
      error = err;
      response = (err as { response?: FetchResponse }).response ?? null;
    } finally {
      this.release(node);
    }
    if (this.closed) return this.settle();
    if (response) this.take(response, asked);
    if (error && !(await this.recoverOutOfRange(response, asked))) {
      this.failed(node, error);
      return this.settle();
    }
    // The end of a streak of failures (a broker back after a restart) is logged, as its start was.
    const streak = this.failures.get(node);
    if (streak !== undefined) this.o.log.warn({ node, failedAttempts: streak }, 'kafka fetch works again');
    this.failures.delete(node);
    this.settle();
    this.kick();
  }

  private take(response: FetchResponse, asked: Map<number, Wanted>): void {
    for (const topic of response.responses) {
      for (const part of topic.partitions) {
        const p = part.partitionIndex;
        const a = asked.get(p);
        const now = this.wanted.get(p);
        // Not asked for (an incremental fetch session may return others), or sought meanwhile.
        if (!a || !now || now.version !== a.version || part.errorCode !== 0 || !part.records) continue;
        const { values, offsets, bytes, next, gaps } = recordsOf(part, a.next, this.received.get(p));
        now.next = next;
        // An answer of markers only is delivered too: the reader's position passes them (a log's end).
        if (values.length > 0 || next > a.next) this.o.deliver({ partition: p, values, offsets, bytes, next, gaps });
      }
    }
  }

  /**
   * One fetch of `partition` from `offset`, outside the loop: a replay to a restarted worker needs records again
   * (KafkaSource.refetch). It waits for the leader's fetch in flight to end and holds back the loop's next one to
   * that leader meanwhile: two fetches out to one broker at once would both use, and break, its fetch session.
   * Nothing it finds goes to `deliver` or changes where the loop reads next.
   */
  async fetchOnce(partition: number, offset: number): Promise<FetchedOnce> {
    // The leader as the metadata says after any wait: a leader elected meanwhile may have a fetch of the loop out.
    let t;
    let leader = -1;
    for (;;) {
      if (this.closed) throw new GamestreamError('source_unavailable', `the Kafka source is closing: ${this.o.topic} partition ${partition} cannot be fetched again`);
      const metadata = await this.o.consumer.metadata({ topics: [this.o.topic] });
      t = metadata.topics.get(this.o.topic);
      leader = t?.partitions[partition]?.leader ?? -1;
      if (!t || leader < 0) throw new Error(`${this.o.topic} partition ${partition} has no leader`);
      if (!this.inflight.has(leader) && !this.closed) break;
      if (this.inflight.has(leader)) await new Promise<void>((r) => this.freed.push(r));
    }
    this.inflight.add(leader);
    let response: FetchResponse;
    try {
      try {
        response = await this.o.consumer.fetch({
          node: leader,
          minBytes: 1,
          maxWaitTime: 0,
          maxBytes: this.o.maxBytes,
          topics: [{
            topicId: t.id,
            partitions: [{
              partition, fetchOffset: BigInt(offset), partitionMaxBytes: this.o.maxBytes,
              currentLeaderEpoch: t.partitions[partition]?.leaderEpoch ?? -1, lastFetchedEpoch: -1,
            }],
          }],
        });
      } catch (err) {
        const r = responseOf(err);
        if (!r) throw err;
        response = r;
      }
    } finally {
      this.release(leader);
      this.kick();
    }
    if (response.errorCode !== 0) throw new Error(`fetching ${this.o.topic} partition ${partition} again from offset ${offset}: Kafka error code ${response.errorCode}`);
    for (const topic of response.responses) {
      for (const part of topic.partitions) {
        if (part.partitionIndex !== partition) continue;
        if (part.errorCode === protocolErrors.OFFSET_OUT_OF_RANGE!.code) return { offsets: [], values: [], next: offset, outOfRange: true };
        if (part.errorCode !== 0) throw new Error(`fetching ${this.o.topic} partition ${partition} again from offset ${offset}: Kafka error code ${part.errorCode}`);
        const { offsets, values, next } = recordsOf(part, offset);
        return { offsets, values, next, outOfRange: false };
      }
    }
    return { offsets: [], values: [], next: offset, outOfRange: false };
  }

  /** A leader's fetch is over: close() may go on (first, so a waiting fetchOnce sees it), and fetchOnce calls waiting look again. */
  private release(node: number): void {
    this.inflight.delete(node);
    this.settle();
    for (const w of this.freed.splice(0)) w();
  }

  /** Offsets the log does not have: the source decides where to go on, or the fetch error stands. */
  private async recoverOutOfRange(response: FetchResponse | null, asked: Map<number, Wanted>): Promise<boolean> {
    if (!response) return false;
    let recovered = false;
    for (const topic of response.responses) {
      for (const part of topic.partitions) {
        if (part.errorCode === 0) continue;
        const a = asked.get(part.partitionIndex);
        const now = this.wanted.get(part.partitionIndex);
        if (!a || !now || now.version !== a.version) continue;
        if (part.errorCode !== protocolErrors.OFFSET_OUT_OF_RANGE!.code) return false;
        let to: number | null;
        try {
          to = await this.o.outOfRange(part.partitionIndex, a.next, Number(part.logStartOffset), Number(part.highWatermark));
        } catch (err) {
          // The log's range could not be read (a leader being elected): the fetch is tried again, as a failed one is.
          this.o.log.debug({ partition: part.partitionIndex, err: describeKafkaError(err) }, 'could not read the range of a partition fetched out of range');
          return false;
        }
        if (to === null) return false;
        // Sought or removed while the log's range was asked for: this answer is stale.
        if (this.wanted.get(part.partitionIndex)?.version !== a.version) continue;
        this.seek(part.partitionIndex, to);
        recovered = true;
      }
    }
    return recovered;
  }

  /** A failed fetch is retried after a growing delay (a broker restarting, a leader moving). */
  private failed(node: number, err: unknown): void {
    const n = (this.failures.get(node) ?? 0) + 1;
    this.failures.set(node, n);
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (n - 1));
    const level = n === 1 ? 'warn' : 'debug';
    this.o.log[level]({ node, attempt: n, retryInMs: delay, err: describeKafkaError(err) }, 'kafka fetch failed; retrying');
    this.o.consumer.clearMetadata();
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, delay);
  }

  private settle(): void {
    if (this.inflight.size === 0) for (const w of this.idle.splice(0)) w();
  }

  /** Stops fetching; resolves once no fetch is out. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.inflight.size > 0) await new Promise<void>((r) => this.idle.push(r));
  }
}

type FetchedPartition = FetchResponse['responses'][number]['partitions'][number];

/**
 * A partition's records in a fetch answer, from offset `from` on (a record batch may start before it), control
 * batches and aborted transactions left out (aborted.ts); `next` is the offset after its last record batch, `from`
 * when it has none; `gaps` the offsets in [from, next) that gave no record. Each record batch that gave records is
 * noted in `received`, with its timestamp, when given.
 */
function recordsOf(part: FetchedPartition, from: number, received?: ReceiveLog): { offsets: number[]; values: (Buffer | null)[]; bytes: number; next: number; gaps: number[] | null } {
  const values: (Buffer | null)[] = [];
  const offsets: number[] = [];
  let bytes = 0;
  let next = from;
  const skipped = skippedBatches(part.abortedTransactions);
  for (const batch of part.records ?? []) {
    const base = Number(batch.firstOffset);
    next = Math.max(next, base + batch.lastOffsetDelta + 1);
    if (skipped(batch)) continue;
    const first = offsets.length;
    for (const r of batch.records) {
      const offset = base + r.offsetDelta;
      if (offset < from) continue;
      values.push(r.value);
      offsets.push(offset);
      bytes += r.value?.length ?? 0;
    }
    if (received && offsets.length > first) {
      const ts = batch.attributes & LOG_APPEND_TIME ? batch.maxTimestamp : batch.firstTimestamp;
      received.add(offsets[first], offsets[offsets.length - 1] + 1, Number(ts));
    }
  }
  let gaps: number[] | null = null;
  let at = from;
  for (const o of offsets) {
    if (o > at) (gaps ??= []).push(at, o);
    at = o + 1;
  }
  if (next > at) (gaps ??= []).push(at, next);
  return { offsets, values, bytes, next, gaps };
}

/** The response a failed fetch still carries (partition errors), also inside the client's MultipleErrors after retries. */
function responseOf(err: unknown): FetchResponse | null {
  const e = err as { response?: FetchResponse; errors?: { response?: FetchResponse }[] };
  return e.response ?? e.errors?.find((x) => x.response)?.response ?? null;
}
