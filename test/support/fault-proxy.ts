/**
 * Fault-injection proxy for tests: sits between gamestream and a BigQuery emulator and makes the link slow,
 * flaky, erroring, down or hung on demand.
 *
 * - `tcp` mode is a plain byte pipe. gRPC (HTTP/2 cleartext, the Storage Write API) goes through it, because
 *   faults there must hit whole connections: an HTTP/2 stream can't be failed without speaking HTTP/2.
 * - `http` mode is an HTTP/1.1 reverse proxy for the REST API, so faults can be per request (status answers).
 *
 * Randomness comes from a seeded mulberry32 and is drawn a fixed number of times per connection (tcp) or
 * request (http) whatever the current faults, so the nth connection/request meets the same dice in every run.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { mulberry32 } from '../../src/sources/generator.ts';

export interface Faults {
  /** Latency added before forwarding each chunk (tcp, both directions) or each request (http). */
  delayMs?: number;
  /** 0..1: chance per new connection (tcp) or per request (http) to RST the client socket instead of serving. */
  resetRate?: number;
  /** 0..1, http mode only: chance to answer `errorStatus` without forwarding. */
  errorRate?: number;
  /** Status for injected errors; default 503. 503 and 429 carry `Retry-After: 1`. */
  errorStatus?: 503 | 429 | 500;
  /** Statuses taken in turn for the injected errors, instead of errorStatus. */
  errorStatuses?: (503 | 429 | 500)[];
  /** Refuse service: every new and existing client socket is reset (both modes). */
  down?: boolean;
  /**
   * Accept and read, but neither forward nor answer until cleared (a hung server). New tcp connections still
   * reach the target; only their bytes are held.
   */
  stall?: boolean;
}

export interface FaultStats {
  /** Client connections accepted (including those then reset). */
  connections: number;
  /** HTTP requests received (http mode only). */
  requests: number;
  /** Client sockets reset by the proxy (resetRate and down). */
  resets: number;
  /** Injected error answers (http mode only). */
  errors: number;
  /** The same, per status. */
  errorsByStatus: Record<number, number>;
  /** Connections piped to the target (tcp) or requests forwarded to it (http). */
  forwarded: number;
}

export interface FaultProxy {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Replaces the current faults (so `setFaults({})` clears them); takes effect immediately. */
  setFaults(f: Faults): void;
  readonly stats: FaultStats;
  /** Closes the listener and every client and target socket. */
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  targetHost: string;
  targetPort: number;
  mode: 'tcp' | 'http';
  seed?: number;
  faults?: Faults;
}

/** Per-direction buffer bound in tcp mode: above it the source is paused so a stall can't eat memory. */
const HIGH_WATER = 1 << 20;

const STATUS_NAMES = { 503: 'UNAVAILABLE', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL' } as const;

/** Connection-scoped headers that must not be copied across a proxy hop (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

function checkFaults(f: Faults): Faults {
  for (const k of ['resetRate', 'errorRate'] as const) {
    const v = f[k];
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`${k} must be in 0..1, got ${v}`);
  }
  if (f.delayMs !== undefined && !(f.delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${f.delayMs}`);
  return { ...f };
}

function copyHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

/** Resolves on 'drain' or 'close', so a writer never waits forever on a socket that died. */
function drained(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const rand = mulberry32(opts.seed ?? 1);
  let faults = checkFaults(opts.faults ?? {});
  let closed = false;
  const stats: FaultStats = { connections: 0, requests: 0, resets: 0, errors: 0, errorsByStatus: {}, forwarded: 0 };
  /** Live client sockets, for `down` and close(). */
  const clients = new Set<net.Socket>();
  /**
   * Live target sockets of tcp mode (they may outlive their client while a FIN travels). In http mode target
   * sockets are pooled and shared by clients, so they're left to the agent and per-request cleanup.
   */
  const targets = new Set<net.Socket>();
  const upstreamOf = new WeakMap<net.Socket, net.Socket>();
  /** Woken on every setFaults/close; each waiter re-checks the state itself. */
  const waiters = new Set<() => void>();

  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const unstalled = async (): Promise<void> => {
    while (faults.stall && !closed) await new Promise<void>((resolve) => {
      const w = (): void => {
        waiters.delete(w);
        resolve();
      };
      waiters.add(w);
    });
  };
  const reset = (client: net.Socket): void => {
    if (client.destroyed) return;
    stats.resets++;
    client.resetAndDestroy();
    upstreamOf.get(client)?.destroy();
  };
  const track = (client: net.Socket): void => {
    stats.connections++;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => {}); // a peer's RST is expected here; the pipe handles it below
  };

  /** Copies src to dst chunk by chunk, each held until `delayMs` after it arrived and while stalled. */
  const pipeWithFaults = (src: net.Socket, dst: net.Socket): void => {
    const queue: { at: number; buf: Buffer }[] = [];
    let queued = 0;
    let ended = false;
    let pumping = false;
    const pump = async (): Promise<void> => {
      if (pumping) return;
      pumping = true;
      while (queue.length > 0 && !dst.destroyed) {
        await unstalled();
        // Latency, not a throughput cap: the wait counts from arrival, so queued chunks don't add up.
        const wait = queue[0].at + (faults.delayMs ?? 0) - Date.now();
        if (wait > 0) await sleep(wait);
        if (faults.stall && !closed) continue; // stalled during the sleep
        if (dst.destroyed) break;
        const { buf } = queue.shift()!;
        queued -= buf.length;
        if (!dst.write(buf)) await drained(dst);
        if (src.isPaused() && queued < HIGH_WATER / 2) src.resume();
      }
      pumping = false;
      if (ended && queue.length === 0 && !dst.destroyed) dst.end();
    };
    src.on('data', (buf: Buffer) => {
      queue.push({ at: Date.now(), buf });
      queued += buf.length;
      if (queued > HIGH_WATER) src.pause();
      void pump();
    });
    src.on('end', () => {
      ended = true;
      void pump();
    });
  };

  const onTcpConnection = (client: net.Socket): void => {
    track(client);
    const roll = rand();
    if (faults.down || roll < (faults.resetRate ?? 0)) return reset(client);
    const upstream = net.connect({ host: opts.targetHost, port: opts.targetPort, allowHalfOpen: true });
    upstreamOf.set(client, upstream);
    targets.add(upstream);
    upstream.on('close', () => targets.delete(upstream));
    stats.forwarded++;
    // Half-open on both sides so a FIN travels through (after queued data) instead of closing everything.
    pipeWithFaults(client, upstream);
    pipeWithFaults(upstream, client);
    // An abrupt end on one side is passed on abruptly; a clean one travels as FIN via pipeWithFaults.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
    });
  };

  const answerError = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const turn = faults.errorStatuses;
    const status = turn && turn.length > 0 ? turn[stats.errors % turn.length]! : (faults.errorStatus ?? 503);
    stats.errors++;
    stats.errorsByStatus[status] = (stats.errorsByStatus[status] ?? 0) + 1;
    req.resume(); // drain the body so the connection stays usable
    const body = JSON.stringify({ error: { code: status, message: 'fault-proxy: injected error', status: STATUS_NAMES[status] } });
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) };
    if (status !== 500) headers['retry-after'] = '1';
    res.writeHead(status, headers).end(body);
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, agent: http.Agent): void => {
    stats.forwarded++;
    const headers = copyHeaders(req.headers);
    headers.host = `${opts.targetHost}:${opts.targetPort}`;
    const upReq = http.request({ host: opts.targetHost, port: opts.targetPort, method: req.method, path: req.url, headers, agent });
    upReq.on('response', (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, copyHeaders(upRes.headers));
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    upReq.on('error', (err) => {
      // Target unreachable or broke mid-answer: a 502 if nothing was sent yet, else cut the client off.
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault-proxy: target error: ${err.message}`);
    });
    // Client went away before the answer finished: don't leave the target request hanging.
    res.on('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
    req.pipe(upReq);
  };

  let server: net.Server;
  let agent: http.Agent | undefined;
  if (opts.mode === 'tcp') {
    server = net.createServer({ allowHalfOpen: true }, onTcpConnection);
  } else {
    const a = new http.Agent({ keepAlive: true });
    agent = a;
    const hs = http.createServer(async (req, res) => {
      stats.requests++;
      const [resetRoll, errorRoll] = [rand(), rand()];
      // The body stays unread in the socket/stream buffers while we wait, as it would on a hung server.
      await unstalled();
      if (faults.delayMs) await sleep(faults.delayMs);
      if (closed || req.socket.destroyed) return;
      if (faults.down || resetRoll < (faults.resetRate ?? 0)) return reset(req.socket);
      if (errorRoll < (faults.errorRate ?? 0)) return answerError(req, res);
      forward(req, res, a);
    });
    hs.on('connection', (client: net.Socket) => {
      track(client);
      if (faults.down) reset(client);
    });
    server = hs;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stats,
    setFaults(f: Faults): void {
      faults = checkFaults(f);
      if (faults.down) {
        for (const client of [...clients]) reset(client);
        for (const t of [...targets]) t.destroy();
      }
      wake();
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of [...clients, ...targets]) s.destroy();
      agent?.destroy();
      wake();
      await done;
    },
  };
}
