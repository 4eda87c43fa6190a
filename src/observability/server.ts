/**
 * The observability HTTP server: GET /metrics (Prometheus text), /healthz (liveness), /readyz (readiness,
 * 503 naming the part that is not ready), /api/status (JSON), / (the status page) and /assets/… (the status
 * page's chart library, uPlot, served from node_modules), and POST /sql (read-only queries of the warehouse, for
 * clients on this machine only: sql-endpoint.ts). Read-only, no auth: it listens on 127.0.0.1 unless
 * GAMESTREAM_METRICS_HOST says otherwise.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';
import { handleSql, type SqlEndpointOptions } from './sql-endpoint.ts';
import { STATUS_PAGE_HTML } from './status-page.ts';
import type { StatusSnapshot } from './status.ts';

export interface PartHealth {
  ok: boolean;
  detail: string;
}

export interface HealthReport {
  source: PartHealth;
  warehouse: PartHealth;
}

export interface ObservabilityServerOptions {
  port: number;
  host?: string;
  metrics: Metrics;
  /** Readiness: the source is consuming and the warehouse reachable. Must be cheap: called per request. */
  health: () => HealthReport | Promise<HealthReport>;
  status: () => StatusSnapshot;
  log?: Logger;
  /** POST /sql; absent: the path is not served (404 like any unknown path). */
  sql?: SqlEndpointOptions;
  /** Overrides of OBSERVABILITY_SERVER_LIMITS (for tests). */
  limits?: Partial<ObservabilityServerLimits>;
}

export interface ObservabilityServerLimits {
  maxConnections: number;
  /** Nothing received or sent for this long (a connection opened and never used above all): closed. */
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/**
 * Fixed bounds: a Prometheus scraper, a browser on the status page and a load balancer's probe need few
 * connections and answer quickly; nothing here waits on anything slow.
 */
export const OBSERVABILITY_SERVER_LIMITS: Readonly<ObservabilityServerLimits> = {
  maxConnections: 256, idleTimeoutMs: 60_000, keepAliveTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000,
};

export interface ObservabilityServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** The files the status page loads besides itself: URL path under the server → file in the uplot package. */
export const STATUS_PAGE_ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/assets/uPlot.iife.min.js': { file: 'dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  '/assets/uPlot.min.css': { file: 'dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

interface Asset {
  type: string;
  body: Buffer;
}

/**
 * Reads uPlot's files from node_modules once, at server start. A missing or broken install is logged and the
 * page then shows its numbers without charts: the daemon does not stop over its status page.
 */
async function loadAssets(log: Logger | undefined): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
  } catch (err) {
    log?.warn({ err: (err as Error).message }, 'uplot is not installed; the status page has no charts');
    return assets;
  }
  for (const [path, a] of Object.entries(STATUS_PAGE_ASSETS)) {
    try {
      assets.set(path, { type: a.type, body: await readFile(join(dir, a.file)) });
    } catch (err) {
      log?.warn({ err: (err as Error).message, file: join(dir, a.file) }, 'cannot read a status page asset; the page has no charts');
    }
  }
  return assets;
}

/**
 * The page may load only from this server (and run its own inline script and styles), so a stray external URL
 * fails in the browser instead of leaking a request.
 */
const PAGE_CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head: boolean, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(head ? undefined : body);
}

const json = (res: ServerResponse, status: number, body: unknown, head: boolean, headers: Record<string, string> = {}): void =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), head, headers);

async function readiness(health: ObservabilityServerOptions['health']): Promise<{ ready: boolean; body: object }> {
  let h: HealthReport;
  try {
    h = await health();
  } catch (err) {
    // A health check that throws is itself a reason not to take traffic.
    const detail = `health check failed: ${(err as Error).message}`;
    h = { source: { ok: false, detail }, warehouse: { ok: false, detail } };
  }
  const notReady = (['source', 'warehouse'] as const).filter((k) => !h[k].ok);
  return { ready: notReady.length === 0, body: { ready: notReady.length === 0, notReady, source: h.source, warehouse: h.warehouse } };
}

export async function startObservabilityServer(o: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const host = o.host ?? '127.0.0.1';
  const assets = await loadAssets(o.log);
  const limits = { ...OBSERVABILITY_SERVER_LIMITS, ...o.limits };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const head = req.method === 'HEAD';
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      // A target no URL can be made of (`//[`): the client's mistake.
      return json(res, 400, { error: 'bad request target' }, head);
    }
    if (path === '/sql' && o.sql) return handleSql(req, res, o.sql, json, limits.idleTimeoutMs);
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      return json(res, 405, { error: 'method not allowed' }, false);
    }
    switch (path) {
      case '/metrics':
        return send(res, 200, o.metrics.contentType, await o.metrics.text(), head);
      case '/healthz':
        return json(res, 200, { ok: true }, head);
      case '/readyz': {
        const r = await readiness(o.health);
        return json(res, r.ready ? 200 : 503, r.body, head);
      }
      case '/api/status':
        return json(res, 200, o.status(), head);
      case '/':
      case '/index.html':
        return send(res, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML, head, { 'content-security-policy': PAGE_CSP });
      default: {
        const asset = assets.get(path);
        if (asset) return send(res, 200, asset.type, asset.body, head, { 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' });
        return json(res, 404, { error: 'not found', paths: ['/', '/metrics', '/healthz', '/readyz', '/api/status', ...assets.keys(), ...(o.sql ? ['/sql (POST)'] : [])] }, head);
      }
    }
  };
  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log?.warn({ err: (err as Error).message, path: req.url }, 'observability request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' }, false);
      else res.destroy();
    });
  });
  // Scrapers keep connections open; they must not hold the process or close() open (keepAliveTimeout above).
  // A connection on which nothing moves is closed (Node destroys the socket when nobody listens for 'timeout').
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new GamestreamError('observability_listen_failed', `the observability server cannot listen on ${host}:${o.port} (${err.code ?? err.message}); set GAMESTREAM_METRICS_PORT to a free port, 0 for any, or off`, { cause: err })),
    );
    server.listen(o.port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  o.log?.info({ host: addr.address, port: addr.port }, 'observability server listening');
  return {
    url: `http://${urlHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
