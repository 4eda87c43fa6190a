/**
 * The tracking server: `POST /v1/events` takes a batch from a game client and answers 202 only once Kafka has
 * acknowledged every event of it (acks=all); `GET /healthz` says whether the producer is connected.
 *
 * Answers: 202 {accepted}; 401/413/415/400 with {error, message} for what cannot be accepted as a whole; 503 with
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
import { REJECT_STATUS, decodeBody, readBody, splitEvents, type OutMessage } from './body.ts';
import type { IngestConfig } from './config.ts';

export type IngestServerConfig = Pick<IngestConfig,
  'brokers' | 'host' | 'port' | 'topic' | 'maxBodyBytes' | 'maxBatchEvents' | 'maxEventBytes' | 'maxInflightBytes' | 'apiKeys' | 'ackTimeoutMs'>;

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

const RETRY_AFTER: Record<string, number> = { ingest_overloaded: 1, kafka_timeout: 2, kafka_send_failed: 1, shutting_down: 1 };

export async function startIngestServer(opts: IngestServerOptions): Promise<IngestServer> {
  const cfg = opts.config;
  const log = opts.logger.child({ component: 'ingest' });
  const metrics = opts.metrics ?? new Metrics();
  const keys = new ApiKeyStore(cfg.apiKeys);
  const session = opts.openProducer({ brokers: cfg.brokers, topic: cfg.topic, ackTimeoutMs: cfg.ackTimeoutMs, logger: opts.logger });
  const batcher = new Batcher({
    lingerMs: opts.lingerMs ?? 5,
    batchBytes: opts.batchBytes ?? 64 * 1024,
    // Kafka limits a record batch to max.message.bytes (1 MB by default); a send never exceeds that in total,
    // so no partition's batch can, except a single event as large as maxEventBytes, which then goes alone.
    maxSendBytes: 1_000_000,
    maxInflightBytes: cfg.maxInflightBytes,
    send: (messages) => session.send(messages),
  });
  const limits = { maxBodyBytes: cfg.maxBodyBytes, maxBatchEvents: cfg.maxBatchEvents, maxEventBytes: cfg.maxEventBytes };
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
    const app = keys.appFor(req.headers['x-api-key']);
    if (app === null) {
      const given = req.headers['x-api-key'];
      log.debug({ key: typeof given === 'string' && given !== '' ? keyPrefix(given) : null }, 'refused: no or unknown API key');
      send(res, 401, { error: 'unauthorized', message: given ? 'unknown API key' : 'missing X-Api-Key header' });
      metrics.ingestRequest({ status: 401, durationMs: performance.now() - t0, rejectReason: 'unauthorized' });
      return;
    }
    let events = 0;
    let status = 0;
    let reject: string | undefined;
    try {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > cfg.maxBodyBytes) throw new GamestreamError('body_too_large', `the request body is larger than ${cfg.maxBodyBytes} bytes`);
      // Fail fast: a client waiting on a disconnected producer learns it before uploading anything.
      if (closing) throw new GamestreamError('shutting_down', 'the server is shutting down', { retryable: true });
      if (!session.ready) throw new GamestreamError('kafka_unavailable', `not connected to Kafka${session.lastError ? `: ${session.lastError}` : ''}`, { retryable: true });
      const raw = await readBody(req, cfg.maxBodyBytes);
      const body = await decodeBody(raw, req.headers['content-encoding'], cfg.maxBodyBytes);
      const batch = splitEvents(body, req.headers['content-type'], limits);
      events = batch.messages.length;
      await batcher.submit(batch, cfg.ackTimeoutMs);
      counters.acceptedEvents += events;
      send(res, 202, { accepted: events });
      status = 202;
    } catch (err) {
      status = sendError(res, err);
      reject = errorCode(err);
    }
    metrics.ingestRequest({ status, durationMs: performance.now() - t0, events: status === 202 ? events : 0, rejectReason: reject });
    log.debug({ app, events, status, ms: Math.round(performance.now() - t0) }, 'events request');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.requests++;
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v1/events') {
      if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST' });
      return postEvents(req, res);
    }
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method_not_allowed', message: 'use GET' }, { allow: 'GET, HEAD' });
      const ok = session.ready && !closing;
      return send(res, ok ? 200 : 503, {
        status: ok ? 'ok' : closing ? 'shutting_down' : 'kafka_unavailable',
        producer: session.ready ? 'connected' : 'disconnected',
        topic: cfg.topic,
        ...(session.lastError ? { lastError: session.lastError } : {}),
      });
    }
    if (path === '/metrics' && req.method === 'GET') {
      const text = await metrics.text();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return;
    }
    send(res, 404, { error: 'not_found', message: 'POST /v1/events, GET /healthz or GET /metrics' });
  }

  const server: Server = createServer((req, res) => {
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
  // A slow mobile upload of a full body gets a minute; a client that sends nothing is dropped sooner.
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;

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
