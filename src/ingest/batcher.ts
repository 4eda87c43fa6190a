/**
 * The producer accumulator: the Kafka client sends what it is given at once, so linger and batch size (the seed's
 * 5 ms and 64 KiB) live here. Requests add their events; one send goes out when the oldest waiting event has
 * waited the linger time or 64 KiB are waiting, and only one is in flight at a time (idempotence needs that;
 * under load the next send simply carries everything that arrived meanwhile, up to maxSendBytes). Each request
 * learns when ITS events were all acknowledged.
 *
 * No buffering for later: a request that times out takes its unsent events out of the queue at once, a failed
 * send fails every request waiting behind it, and a request that does not fit the in-flight byte budget is
 * refused before anything is queued. Events already handed to the Kafka client cannot be recalled; they may
 * still land, and the client's retry is then a duplicate, which the stream processor drops by event id.
 */
import { GamestreamError } from '../errors.ts';
import type { EventBatch, OutMessage } from './body.ts';

export interface BatcherOptions {
  lingerMs: number;
  batchBytes: number;
  /** Cap on one send; a single larger event still goes, alone. */
  maxSendBytes: number;
  maxInflightBytes: number;
  send: (messages: OutMessage[]) => Promise<void>;
}

interface Ticket {
  unacked: number;
  settled: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
}

/** The not-yet-sent rest of one request's events. */
interface Group {
  ticket: Ticket;
  messages: OutMessage[];
  next: number;
  unsentBytes: number;
  at: number;
}

export interface BatcherStats {
  /** Requests whose events are queued or in flight. */
  waitingRequests: number;
  queuedMessages: number;
  queuedBytes: number;
  /** Queued plus in-flight bytes: what the budget counts, with reservedBytes. */
  heldBytes: number;
  /** Bytes of request bodies being read or split (admitted by reserve(), not submitted yet). */
  reservedBytes: number;
  sends: number;
  sentMessages: number;
  failedSends: number;
}

function sizeOf(m: OutMessage): number {
  return m.value.length + (m.key?.length ?? 0);
}

export class Batcher {
  private readonly o: BatcherOptions;
  private readonly groups: Group[] = [];
  private queuedBytes = 0;
  private heldBytes = 0;
  private reservedBytes = 0;
  private waiting = 0;
  private inFlight = false;
  /** A request timed out waiting on the send in flight: Kafka is not answering in time. */
  private stalled = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  private sends = 0;
  private sentMessages = 0;
  private failedSends = 0;

  constructor(opts: BatcherOptions) {
    this.o = opts;
  }

  /** Why a request would be refused now whatever its size (checked before its body is read), or null. */
  refusal(): GamestreamError | null {
    if (this.closing) return new GamestreamError('shutting_down', 'the server is shutting down', { retryable: true });
    if (this.stalled) {
      // Everything queued now would wait behind a send Kafka is not answering, only to time out.
      return new GamestreamError('kafka_timeout', 'Kafka is not acknowledging in time (a request already timed out on the send in flight)', { retryable: true });
    }
    return null;
  }

  /**
   * Admits request bytes before they are held in memory (a body as it arrives, its decompressed form): true when
   * they fit the budget with everything held and reserved; the caller gives them back with release().
   */
  reserve(bytes: number): boolean {
    const used = this.heldBytes + this.reservedBytes;
    if (used > 0 && used + bytes > this.o.maxInflightBytes) return false;
    this.reservedBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.reservedBytes -= bytes;
  }

  /**
   * Resolves when Kafka acknowledged every event of the batch. Rejects with `ingest_overloaded` (budget full),
   * `kafka_timeout` (not acknowledged within timeoutMs, or a send already stalled), `kafka_send_failed`,
   * `kafka_unavailable` (queued behind a send that failed) or `shutting_down`.
   */
  submit(batch: EventBatch, timeoutMs: number): Promise<void> {
    if (this.closing) return Promise.reject(new GamestreamError('shutting_down', 'the server is shutting down', { retryable: true }));
    if (batch.messages.length === 0) return Promise.resolve();
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const used = this.heldBytes + this.reservedBytes;
    if (used > 0 && used + batch.bytes > this.o.maxInflightBytes) {
      return Promise.reject(new GamestreamError('ingest_overloaded', 'too many events are waiting for Kafka; retry shortly', { retryable: true }));
    }
    return new Promise<void>((resolve, reject) => {
      const ticket: Ticket = { unacked: batch.messages.length, settled: false, resolve, reject, timer: null };
      const group: Group = { ticket, messages: batch.messages, next: 0, unsentBytes: batch.bytes, at: Date.now() };
      ticket.timer = setTimeout(() => {
        if (this.inFlight) this.stalled = true;
        this.dequeue(group);
        this.settle(ticket, new GamestreamError('kafka_timeout', `Kafka did not acknowledge the events within ${timeoutMs} ms`, { retryable: true }));
      }, timeoutMs);
      this.groups.push(group);
      this.queuedBytes += batch.bytes;
      this.heldBytes += batch.bytes;
      this.waiting++;
      this.schedule();
    });
  }

  /** A send has been in flight past a request's ack timeout: Kafka is not acknowledging in time. */
  get isStalled(): boolean {
    return this.stalled;
  }

  stats(): BatcherStats {
    let queuedMessages = 0;
    for (const g of this.groups) queuedMessages += g.messages.length - g.next;
    return {
      waitingRequests: this.waiting, queuedMessages, queuedBytes: this.queuedBytes, heldBytes: this.heldBytes, reservedBytes: this.reservedBytes,
      sends: this.sends, sentMessages: this.sentMessages, failedSends: this.failedSends,
    };
  }

  /** Refuses new requests, sends what is queued without waiting for the linger time, resolves when idle. */
  close(): Promise<void> {
    this.closing = true;
    this.schedule();
    if (!this.inFlight && this.groups.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private settle(ticket: Ticket, err?: Error): void {
    if (ticket.settled) return;
    ticket.settled = true;
    this.waiting--;
    if (ticket.timer) clearTimeout(ticket.timer);
    if (err) ticket.reject(err);
    else ticket.resolve();
  }

  /** Takes a request's unsent events out of the queue and out of the budget. */
  private dequeue(group: Group): void {
    const i = this.groups.indexOf(group);
    if (i < 0) return;
    this.groups.splice(i, 1);
    this.queuedBytes -= group.unsentBytes;
    this.heldBytes -= group.unsentBytes;
    group.unsentBytes = 0;
    group.next = group.messages.length;
  }

  private schedule(): void {
    if (this.inFlight || this.groups.length === 0) {
      if (!this.inFlight) for (const wake of this.idleWaiters.splice(0)) wake();
      return;
    }
    const waited = Date.now() - this.groups[0].at;
    if (this.closing || this.queuedBytes >= this.o.batchBytes || waited >= this.o.lingerMs) {
      this.sendNext();
    } else if (this.lingerTimer === null) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = null;
        this.schedule();
      }, this.o.lingerMs - waited);
    }
  }

  private sendNext(): void {
    if (this.lingerTimer !== null) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    const messages: OutMessage[] = [];
    const parts: { ticket: Ticket; count: number }[] = [];
    let bytes = 0;
    take: while (this.groups.length > 0) {
      const g = this.groups[0];
      const from = g.next;
      while (g.next < g.messages.length) {
        const size = sizeOf(g.messages[g.next]);
        if (bytes > 0 && bytes + size > this.o.maxSendBytes) {
          if (g.next > from) parts.push({ ticket: g.ticket, count: g.next - from });
          break take;
        }
        messages.push(g.messages[g.next]);
        bytes += size;
        g.unsentBytes -= size;
        g.next++;
      }
      parts.push({ ticket: g.ticket, count: g.next - from });
      this.groups.shift();
    }
    this.queuedBytes -= bytes;
    this.inFlight = true;
    this.sends++;
    this.o.send(messages).then(
      () => {
        this.sentMessages += messages.length;
        for (const p of parts) {
          p.ticket.unacked -= p.count;
          if (p.ticket.unacked === 0) this.settle(p.ticket);
        }
      },
      (err: unknown) => {
        this.failedSends++;
        const e = err instanceof GamestreamError ? err : new GamestreamError('kafka_send_failed', String((err as Error)?.message ?? err), { retryable: true, cause: err });
        for (const p of parts) this.settle(p.ticket, e);
        // The producer is starting a new session: whoever queued behind this send hears it now, not at its timeout.
        for (const g of this.groups.splice(0)) {
          this.queuedBytes -= g.unsentBytes;
          this.heldBytes -= g.unsentBytes;
          this.settle(g.ticket, new GamestreamError('kafka_unavailable', 'the Kafka producer is reconnecting; retry shortly', { retryable: true, cause: err }));
        }
      },
    ).finally(() => {
      this.heldBytes -= bytes;
      this.inFlight = false;
      this.stalled = false;
      this.schedule();
    });
  }
}
