/**
 * The tracking server: `POST /v1/events` takes a batch from a game client and answers 202 only once Kafka has
 * acknowledged every event of it (acks=all); `GET /healthz` says whether the producer is connected and Kafka
 * acknowledges (not after a request timed out on a send still in flight, or a failed send).
 *
 * Answers: 202 {accepted}; 401/413/415/400 with {error, message} for what cannot be accepted as a whole; 429 with
 * Retry-After when the key's rate limit is spent or the address failed authentication too often; 503 with
 * Retry-After whenever Kafka cannot take the events now (not connected, no acknowledgement within the ack
 * timeout, in-flight budget full, shutting down). A 503 means "send it again later": the server keeps nothing.
 * Logs never carry client addresses, API keys (beyond a prefix) or payloads.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GamestreamError, errorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../observability/metrics.ts';
import { ApiKeyStore, keyPrefix } from './auth.ts';
import { Batcher, type BatcherStats } from './batcher.ts';
import { AuthThrottle, KeyRateLimiter } from './ratelimit.ts';
import { REJECT_STATUS, decodeBody, readBody, splitEvents, type OutMessage } from './body.ts';
import type { IngestConfig } from './config.ts';
import { allowedOrigin, corsHeaders, preflightHeaders } from './cors.ts';

export type IngestServerConfig = Pick<IngestConfig,
  'brokers' | 'host' | 'port' | 'topic' | 'maxBodyBytes' | 'maxBatchEvents' | 'maxEventBytes' | 'maxInflightBytes' | 'apiKeys' | 'ackTimeoutMs'
  | 'maxConnections' | 'idleTimeoutMs' | 'keepAliveTimeoutMs' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'maxJsonDepth'
  | 'keyRate' | 'keyBurst' | 'keyRateOverrides' | 'authFailureRate' | 'authFailureBurst' | 'authTrackedAddresses' | 'corsOrigins'>;

/**
 * The Kafka producer the server sends through (src/kafka-platformatic/producer.ts is one): it connects in the
 * background, reconnects after a failure, and says whether it is connected now.
 */
export interface IngestProducer {
  readonly ready: boolean;
  readonly lastError: string | null;
  start(): void;
  /** Resolves once Kafka acknowledged every message (acks=all); throws a GamestreamError otherwise. */
  send(messages: OutMessage[]): Promise<void>;
  /** The Retry-After for a client while not connected. */
  retryAfterSeconds(): number;
  whenReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface IngestServerOptions {
  config: IngestServerConfig;
  logger: Logger;
  /** Makes the producer (not started yet) for the configured brokers and topic. */
  openProducer: (o: { brokers: string[]; topic: string; ackTimeoutMs: number; logger: Logger }) => IngestProducer;
  /** Request metrics, served at GET /metrics (a fresh registry when not given). */
  metrics?: Metrics;
  /** The seed's producer batching: linger 5 ms, 64 KiB. */
  lingerMs?: number;
  batchBytes?: number;
}

export interface IngestStats extends BatcherStats {
  producerReady: boolean;
  requests: number;
  acceptedEvents: number;
  /** Responses by status code. */
  statuses: Record<number, number>;
}

export interface IngestServer {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  get producerReady(): boolean;
  whenProducerReady(timeoutMs: number): Promise<boolean>;
  stats(): IngestStats;
  /** Stops accepting, lets in-flight requests finish, flushes, disconnects the producer. */
  close(): Promise<void>;
}

const overloaded = (): GamestreamError =>
  new GamestreamError('ingest_overloaded', 'too many request bytes are being received or waiting for Kafka; retry shortly', { retryable: true });

const RETRY_AFTER: Record<string, number> = { ingest_overloaded: 1, kafka_timeout: 2, kafka_send_failed: 1, shutting_down: 1 };

export async function startIngestServer(opts: IngestServerOptions): Promise<IngestServer> {
  const cfg = opts.config;
  const log = opts.logger.child({ component: 'ingest' });
  const metrics = opts.metrics ?? new Metrics({ daemon: false });
  const keys = new ApiKeyStore(cfg.apiKeys);
  const keyLimits = new KeyRateLimiter(cfg.keyRate, cfg.keyBurst, cfg.keyRateOverrides);
  const authThrottle = cfg.authFailureRate > 0 ? new AuthThrottle(cfg.authFailureRate, cfg.authFailureBurst, cfg.authTrackedAddresses) : null;
  const session = opts.openProducer({ brokers: cfg.brokers, topic: cfg.topic, ackTimeoutMs: cfg.ackTimeoutMs, logger: opts.logger });
  const batcher = new Batcher({
    lingerMs: opts.lingerMs ?? 5,
    batchBytes: opts.batchBytes ?? 64 * 1024,
    // Kafka limits a record batch to max.message.bytes (1 MB by default); a send never exceeds that in total,
    // so no partition's batch can, except a single event as large as maxEventBytes, which then goes alone.
    maxSendBytes: 1_000_000,
    maxInflightBytes: cfg.maxInflightBytes,
    send: (messages) => session.send(messages).then(
      () => {
        kafkaFailure = null;
      },
      (err: unknown) => {
        // The producer ends its session on a failed send; a new one that connects had its handshake answered.
        kafkaFailure = { why: (err as Error)?.message ?? String(err), sawDown: !session.ready };
        throw err;
      },
    ),
  });
  /** The last send failed (until one succeeds, or a new producer session has connected since). */
  let kafkaFailure: { why: string; sawDown: boolean } | null = null;
  /** Whether Kafka acknowledges: no send in flight past the ack timeout, the last one did not fail. */
  function kafkaAcknowledging(): boolean {
    if (batcher.isStalled) return false;
    if (kafkaFailure !== null) {
      if (!session.ready) kafkaFailure.sawDown = true;
      else if (kafkaFailure.sawDown) kafkaFailure = null;
    }
    return kafkaFailure === null;
  }
  const limits = { maxBodyBytes: cfg.maxBodyBytes, maxBatchEvents: cfg.maxBatchEvents, maxEventBytes: cfg.maxEventBytes, maxJsonDepth: cfg.maxJsonDepth };
  const counters = { requests: 0, acceptedEvents: 0, statuses: {} as Record<number, number> };
  let closing = false;
  let active = 0;
  let idle: (() => void) | null = null;

  function send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
    counters.statuses[status] = (counters.statuses[status] ?? 0) + 1;
    const text = JSON.stringify(body);
    // A refused request's body may still be arriving: close rather than read it; also close while stopping.
    const close = closing || !res.req.complete;
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...(close ? { connection: 'close' } : {}),
      ...headers,
    });
    res.end(text);
  }

  function sendError(res: ServerResponse, err: unknown): number {
    const code = errorCode(err);
    const message = (err as Error)?.message ?? String(err);
    const status = (REJECT_STATUS as Partial<Record<string, number>>)[code];
    if (status !== undefined) {
      send(res, status, { error: code, message });
      return status;
    }
    if (code === 'client_aborted') {
      res.destroy();
      return 499;
    }
    const retryable = (err as { retryable?: boolean })?.retryable === true || code === 'kafka_unavailable';
    if (retryable) {
      const after = code === 'kafka_unavailable' ? session.retryAfterSeconds() : (RETRY_AFTER[code] ?? 1);
      send(res, 503, { error: code, message }, { 'retry-after': String(after) });
      return 503;
    }
    log.error({ err: message, code }, 'request failed');
    send(res, 500, { error: 'internal', message: 'internal error' });
    return 500;
  }

  async function postEvents(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    // An address that failed authentication too often is not even checked (so a guess cannot be confirmed).
    const address = req.socket.remoteAddress ?? '';
    const throttled = authThrottle?.blocked(address, Date.now()) ?? null;
    if (throttled !== null) {
      send(res, 429, { error: 'auth_throttled', message: 'too many failed authentications from this address; retry later' }, { 'retry-after': String(throttled) });
      metrics.ingestAuthThrottled.inc();
      metrics.ingestRequest({ status: 429, durationMs: performance.now() - t0, rejectReason: 'auth_throttled' });
      return;
    }
    const app = keys.appFor(req.headers['x-api-key']);
    if (app === null) {
      authThrottle?.failed(address, Date.now());
      const given = req.headers['x-api-key'];
      log.debug({ key: typeof given === 'string' && given !== '' ? keyPrefix(given) : null }, 'refused: no or unknown API key');
      send(res, 401, { error: 'unauthorized', message: given ? 'unknown API key' : 'missing X-Api-Key header' });
      metrics.ingestRequest({ status: 401, durationMs: performance.now() - t0, rejectReason: 'unauthorized' });
      return;
    }
    // The key as it authenticated (trimmed): padding it differently must not buy another bucket.
    const limited = keyLimits.check(String(req.headers['x-api-key']).trim(), app, Date.now());
    if (limited !== null) {
      send(res, 429, { error: 'rate_limited', message: `the API key of ${app} sends more requests than its rate limit; retry later` }, { 'retry-after': String(limited) });
      metrics.ingestRateLimited.inc({ app });
      metrics.ingestRequest({ status: 429, durationMs: performance.now() - t0, rejectReason: 'rate_limited' });
      return;
    }
    let events = 0;
    let status = 0;
    let reject: string | undefined;
    let reserved = 0;
    try {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > cfg.maxBodyBytes) throw new GamestreamError('body_too_large', `the request body is larger than ${cfg.maxBodyBytes} bytes`);
      // Fail fast: a client waiting on a disconnected producer learns it before uploading anything.
      if (closing) throw new GamestreamError('shutting_down', 'the server is shutting down', { retryable: true });
      if (!session.ready) throw new GamestreamError('kafka_unavailable', `not connected to Kafka${session.lastError ? `: ${session.lastError}` : ''}`, { retryable: true });
      // The body counts against the in-flight budget before it is read (its declared length) and as it arrives
      // (beyond that), so concurrent uploads cannot hold more memory than the budget; one that does not fit is
      // answered 503 at once and its connection closed without reading the rest.
      const refused = batcher.refusal();
      if (refused) throw refused;
      if (declared > 0 && !batcher.reserve(declared)) throw overloaded();
      reserved = declared > 0 ? declared : 0;
      // Bytes that grow to `total` as they arrive, `counted` of them reserved already: the rest is reserved as it comes.
      const admitting = (counted: number) => (total: number): GamestreamError | null => {
        if (total <= counted) return null;
        if (!batcher.reserve(total - counted)) return overloaded();
        reserved += total - counted;
        counted = total;
        return null;
      };
      const raw = await readBody(req, cfg.maxBodyBytes, admitting(reserved));
      // The decompressed bytes count too, as they come out.
      const body = await decodeBody(raw, req.headers['content-encoding'], cfg.maxBodyBytes, admitting(0));
      const batch = splitEvents(body, req.headers['content-type'], limits);
      events = batch.messages.length;
      // From here the batcher counts the events' bytes instead.
      batcher.release(reserved);
      reserved = 0;
      await batcher.submit(batch, cfg.ackTimeoutMs);
      counters.acceptedEvents += events;
      send(res, 202, { accepted: events });
      status = 202;
    } catch (err) {
      status = sendError(res, err);
      reject = errorCode(err);
    } finally {
      if (reserved > 0) batcher.release(reserved);
    }
    metrics.ingestRequest({ status, durationMs: performance.now() - t0, events: status === 202 ? events : 0, rejectReason: reject });
    log.debug({ app, events, status, ms: Math.round(performance.now() - t0) }, 'events request');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.requests++;
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    // Answers other than a POST's, in the request metrics too.
    const refuse = (status: number, body: { error: string; message: string }, headers?: Record<string, string>): void => {
      send(res, status, body, headers);
      metrics.ingestRequest({ status, durationMs: performance.now() - t0, rejectReason: body.error });
    };
    if (path === '/v1/events') {
      const origin = allowedOrigin(cfg.corsOrigins, req.headers.origin);
      if (req.method === 'OPTIONS') {
        if (origin === null) {
          return refuse(403, { error: 'origin_not_allowed', message: `origin ${JSON.stringify(req.headers.origin ?? '')} may not post events from a browser; add it to GAMESTREAM_INGEST_CORS_ORIGINS` });
        }
        counters.statuses[204] = (counters.statuses[204] ?? 0) + 1;
        res.writeHead(204, preflightHeaders(origin));
        res.end();
        return;
      }
      if (origin !== null) for (const [k, v] of Object.entries(corsHeaders(origin))) res.setHeader(k, v);
      if (req.method !== 'POST') return refuse(405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST, OPTIONS' });
      return postEvents(req, res);
    }
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, { error: 'method_not_allowed', message: 'use GET' }, { allow: 'GET, HEAD' });
      // Connected is not enough: a frozen broker keeps the connection and answers nothing.
      const acknowledging = kafkaAcknowledging();
      const ok = session.ready && acknowledging && !closing;
      const lastError = batcher.isStalled ? `Kafka did not acknowledge a send within ${cfg.ackTimeoutMs} ms` : (kafkaFailure?.why ?? session.lastError);
      return send(res, ok ? 200 : 503, {
        status: ok ? 'ok' : closing ? 'shutting_down' : !session.ready ? 'kafka_unavailable' : 'kafka_not_acknowledging',
        producer: session.ready ? 'connected' : 'disconnected',
        topic: cfg.topic,
        ...(lastError ? { lastError } : {}),
      });
    }
    if (path === '/metrics' && req.method === 'GET') {
      const text = await metrics.text();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return;
    }
    refuse(404, { error: 'not_found', message: 'POST /v1/events, GET /healthz or GET /metrics' });
  }

  const server: Server = createServer({
    // Every bound is a setting (docs/OPERATIONS.md). Slow headers and bodies are checked this often, so a
    // slowloris connection lives at most its timeout plus this.
    headersTimeout: cfg.headersTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    keepAliveTimeout: cfg.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(cfg.headersTimeoutMs / 4))),
  }, (req, res) => {
    active++;
    handle(req, res)
      .catch((err: unknown) => {
        log.error({ err: (err as Error)?.message }, 'unhandled error in request');
        if (!res.headersSent) send(res, 500, { error: 'internal', message: 'internal error' });
        else res.destroy();
      })
      .finally(() => {
        active--;
        if (active === 0 && idle) idle();
      });
  });
  // A connection on which nothing moves (one opened and never used above all: the timeouts above only start
  // with a request's first byte) is closed; with no 'timeout' listener, Node destroys the socket.
  server.timeout = cfg.idleTimeoutMs;
  // Connections over the cap are closed as soon as they are accepted.
  server.maxConnections = cfg.maxConnections;

  session.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    void session.close();
    throw new GamestreamError('ingest_listen_failed', `cannot listen on ${cfg.host}:${cfg.port}: ${(err as Error).message}`, { cause: err });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  let closed: Promise<void> | null = null;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    get producerReady() {
      return session.ready;
    },
    whenProducerReady: (ms) => session.whenReady(ms),
    stats: () => ({ ...batcher.stats(), producerReady: session.ready, ...counters, statuses: { ...counters.statuses } }),
    close() {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        if (active > 0) {
          // Every request ends within the ack timeout once its body is in; the cap covers a stalled upload.
          const cap = setTimeout(() => server.closeAllConnections(), cfg.ackTimeoutMs + 10_000);
          await new Promise<void>((r) => (idle = r));
          clearTimeout(cap);
        }
        server.closeAllConnections();
        await stopped;
        await batcher.close();
        await session.close();
        log.info({ ...counters }, 'ingest server stopped');
      })();
      return closed;
    },
  };
}
