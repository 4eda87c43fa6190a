import { once } from 'node:events';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from './fault-proxy.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    if ('closeAllConnections' in server) (server as http.Server).closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

async function proxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const p = await startFaultProxy(opts);
  cleanups.push(() => p.close());
  return p;
}

/** Echo server that also remembers its sockets, to tell whether the proxy cut the target side too. */
async function echoServer(): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  return { port: await listen(server), sockets };
}

function dial(port: number): net.Socket {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {}); // outcomes are observed through `closed`
  return s;
}

async function connect(port: number): Promise<net.Socket> {
  const s = dial(port);
  await once(s, 'connect');
  return s;
}

/** Resolves with the error code (if any) once the socket has closed. */
function closed(s: net.Socket): Promise<string | undefined> {
  let code: string | undefined;
  s.on('error', (e: NodeJS.ErrnoException) => (code = e.code));
  return new Promise((resolve) => s.once('close', () => resolve(code)));
}

/** Sends `text` and resolves once the same number of bytes came back. */
async function roundTrip(s: net.Socket, text: string): Promise<string> {
  let got = '';
  const done = new Promise<string>((resolve, reject) => {
    const onData = (b: Buffer): void => {
      got += b.toString();
      if (got.length >= text.length) {
        s.off('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
  });
  s.write(text);
  return done;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, opts: { method?: string; path?: string; body?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${opts.path ?? '/'}`, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** HTTP target that echoes what it saw as JSON. */
async function httpTarget(): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const out = JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, custom: req.headers['x-custom'], body });
      res.writeHead(201, { 'content-type': 'application/json', 'x-target': 'yes' }).end(out);
    });
  });
  return { port: await listen(server), hits: () => hits };
}

// Short timeouts: a broken fault should fail a test quickly, not hang it for the global 30 s.
describe('fault proxy, tcp mode', { timeout: 5000 }, () => {
  it('pipes bytes both ways and counts the connection', async () => {
    const echo = await echoServer();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: echo.port, mode: 'tcp' });
    expect(p.url).toBe(`http://127.0.0.1:${p.port}`);
    const s = await connect(p.port);
    expect(await roundTrip(s, 'hello')).toBe('hello');
    const big = 'x'.repeat(300_000);
    expect(await roundTrip(s, big)).toBe(big);
    expect(p.stats).toMatchObject({ connections: 1, forwarded: 1, resets: 0 });
    s.end();
    await closed(s);
  });

  it('down kills existing connections, on both sides, and refuses new ones', async () => {
    const echo = await echoServer();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: echo.port, mode: 'tcp' });
    const s = await connect(p.port);
    expect(await roundTrip(s, 'ping')).toBe('ping');
    const gone = closed(s);
    const targetGone = once(echo.sockets[0], 'close');
    p.setFaults({ down: true });
    expect(await gone).toBe('ECONNRESET');
    await targetGone;

    // A reset can beat the client's own connect completion, so don't wait for 'connect' here.
    expect(await closed(dial(p.port))).toBe('ECONNRESET');
    expect(p.stats).toMatchObject({ connections: 2, forwarded: 1, resets: 2 });

    p.setFaults({});
    const s3 = await connect(p.port);
    expect(await roundTrip(s3, 'back')).toBe('back');
    s3.destroy();
  });

  it('resetRate=1 resets every new connection without reaching the target', async () => {
    const echo = await echoServer();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: echo.port, mode: 'tcp', faults: { resetRate: 1 } });
    for (let i = 0; i < 3; i++) {
      const s = dial(p.port);
      s.write('ignored');
      expect(await closed(s)).toBe('ECONNRESET');
    }
    expect(p.stats).toMatchObject({ connections: 3, resets: 3, forwarded: 0 });
    expect(echo.sockets).toHaveLength(0);
  });

  it('delayMs adds latency per direction', async () => {
    const echo = await echoServer();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: echo.port, mode: 'tcp' });
    const s = await connect(p.port);
    await roundTrip(s, 'warm');
    p.setFaults({ delayMs: 100 });
    const t0 = performance.now();
    expect(await roundTrip(s, 'slow')).toBe('slow');
    // 100 ms there and 100 ms back; generous lower bound, no upper bound, to stay unflaky.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    s.destroy();
  });

  it('stall holds data on open connections until cleared, then delivers it in order', async () => {
    const echo = await echoServer();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: echo.port, mode: 'tcp' });
    const s = await connect(p.port);
    await roundTrip(s, 'warm');
    p.setFaults({ stall: true });
    let got = '';
    s.on('data', (b: Buffer) => (got += b.toString()));
    s.write('one,');
    s.write('two');
    await sleep(200);
    expect(got).toBe('');
    p.setFaults({});
    await expect.poll(() => got, { timeout: 2000 }).toBe('one,two');
    expect(s.destroyed).toBe(false);
    s.destroy();
  });

  it('carries HTTP/2 cleartext (what gRPC speaks) end to end', async () => {
    const h2 = http2.createServer((req, res) => res.end(`h2 ${req.method} ${req.url}`));
    const target = await listen(h2);
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: target, mode: 'tcp', faults: { delayMs: 20 } });
    const session = http2.connect(p.url);
    cleanups.push(async () => void session.destroy());
    const stream = session.request({ ':method': 'POST', ':path': '/google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows' });
    stream.end('payload');
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    await once(stream, 'end');
    expect(body).toBe('h2 POST /google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows');
    expect(p.stats).toMatchObject({ connections: 1, forwarded: 1 });
  });

  it('passes a half-close through after the data', async () => {
    const echo = await echoServer();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: echo.port, mode: 'tcp', faults: { delayMs: 50 } });
    const s = await connect(p.port);
    let got = '';
    s.on('data', (b: Buffer) => (got += b.toString()));
    s.end('last words');
    expect(await closed(s)).toBeUndefined();
    expect(got).toBe('last words');
  });
});

describe('fault proxy, http mode', { timeout: 5000 }, () => {
  it('forwards method, path, headers and body both ways, with host set to the target', async () => {
    const target = await httpTarget();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: target.port, mode: 'http' });
    const r = await request(p.url, { method: 'POST', path: '/bigquery/v2/projects/p/datasets?x=1', body: '{"a":1}', headers: { 'content-type': 'application/json', 'x-custom': 'kept' } });
    expect(r.status).toBe(201);
    expect(r.headers['x-target']).toBe('yes');
    expect(JSON.parse(r.body)).toEqual({ method: 'POST', url: '/bigquery/v2/projects/p/datasets?x=1', host: `127.0.0.1:${target.port}`, custom: 'kept', body: '{"a":1}' });
    expect(p.stats).toMatchObject({ connections: 1, requests: 1, forwarded: 1, errors: 0, resets: 0 });
  });

  it('errorRate=1 answers 503 with Retry-After without forwarding; 429 too; 500 without Retry-After', async () => {
    const target = await httpTarget();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: target.port, mode: 'http', faults: { errorRate: 1 } });
    const r503 = await request(p.url, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(r503.status).toBe(503);
    expect(r503.headers['retry-after']).toBe('1');
    expect(JSON.parse(r503.body).error).toMatchObject({ code: 503, status: 'UNAVAILABLE' });

    p.setFaults({ errorRate: 1, errorStatus: 429 });
    const r429 = await request(p.url);
    expect(r429.status).toBe(429);
    expect(r429.headers['retry-after']).toBe('1');

    p.setFaults({ errorRate: 1, errorStatus: 500 });
    const r500 = await request(p.url);
    expect(r500.status).toBe(500);
    expect(r500.headers['retry-after']).toBeUndefined();

    expect(target.hits()).toBe(0);
    expect(p.stats).toMatchObject({ requests: 3, errors: 3, forwarded: 0, errorsByStatus: { 503: 1, 429: 1, 500: 1 } });
  });

  it('errorStatuses takes the statuses in turn, and counts each', async () => {
    const target = await httpTarget();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: target.port, mode: 'http', faults: { errorRate: 1, errorStatuses: [503, 429] } });
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await request(p.url)).status);
    expect(got).toEqual([503, 429, 503, 429]);
    expect(p.stats.errorsByStatus).toEqual({ 503: 2, 429: 2 });
  });

  it('resetRate=1 makes the request fail with a socket error client-side', async () => {
    const target = await httpTarget();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: target.port, mode: 'http', faults: { resetRate: 1 } });
    await expect(request(p.url, { method: 'POST', body: 'hi' })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(target.hits()).toBe(0);
    expect(p.stats).toMatchObject({ requests: 1, resets: 1, forwarded: 0 });
  });

  it('down resets connections; stall holds a request until cleared', async () => {
    const target = await httpTarget();
    const p = await proxy({ targetHost: '127.0.0.1', targetPort: target.port, mode: 'http', faults: { down: true } });
    await expect(request(p.url)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(p.stats).toMatchObject({ requests: 0, resets: 1 });

    p.setFaults({ stall: true });
    let answered = false;
    const pending = request(p.url, { method: 'PUT', body: 'held' }).finally(() => (answered = true));
    await sleep(200);
    expect(answered).toBe(false);
    expect(target.hits()).toBe(0);
    p.setFaults({ delayMs: 100 });
    const t0 = performance.now();
    expect(JSON.parse((await pending).body)).toMatchObject({ method: 'PUT', body: 'held' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
    expect(p.stats).toMatchObject({ requests: 1, forwarded: 1 });
  });

  it('the same seed gives the same faults, request by request', async () => {
    const target = await httpTarget();
    const outcomes = async (seed: number): Promise<string> => {
      const p = await proxy({ targetHost: '127.0.0.1', targetPort: target.port, mode: 'http', seed, faults: { resetRate: 0.3, errorRate: 0.3 } });
      let out = '';
      for (let i = 0; i < 16; i++) out += await request(p.url).then((r) => (r.status === 503 ? 'E' : 'o'), () => 'R');
      expect(p.stats.resets + p.stats.errors + p.stats.forwarded).toBe(16);
      return out;
    };
    const a = await outcomes(42);
    expect(await outcomes(42)).toBe(a);
    expect(a).toMatch(/R/);
    expect(a).toMatch(/E/);
    expect(a).toMatch(/o/);
    expect(await outcomes(7)).not.toBe(a);
  });
});
