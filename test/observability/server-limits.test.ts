// The observability server's resource bounds (idle connections reaped, a connection cap, slow headers cut off)
// and its answer to malformed request targets.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';
import { OBSERVABILITY_SERVER_LIMITS, startObservabilityServer, type ObservabilityServer } from '../../src/observability/server.ts';

let server: ObservabilityServer | null = null;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = null;
});

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function open(port: number): Promise<{ socket: Socket; closed: () => boolean; received: () => string }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let received = '';
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, closed: () => closed, received: () => received }));
    sockets.push(socket);
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', reject);
  });
}

const start = (limits?: object) => startObservabilityServer({
  port: 0, metrics: new Metrics({ defaultMetrics: false }), limits,
  health: () => ({ source: { ok: true, detail: '' }, warehouse: { ok: true, detail: '' } }),
  status: () => ({}) as never,
});

describe('observability server bounds', () => {
  it('has fixed, finite defaults', () => {
    expect(OBSERVABILITY_SERVER_LIMITS).toMatchObject({ maxConnections: 256, idleTimeoutMs: 60_000, keepAliveTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
  });

  it('closes idle connections and trickling headers, and caps connections', async () => {
    server = await start({ idleTimeoutMs: 400, headersTimeoutMs: 600, requestTimeoutMs: 2000, maxConnections: 40 });
    const idle: Awaited<ReturnType<typeof open>>[] = [];
    for (let i = 0; i < 60; i++) idle.push(await open(server.port));
    await until('the connections over the cap to be closed', () => idle.filter((c) => c.closed()).length >= 20, 3000);
    expect(idle.filter((c) => !c.closed()).length).toBeLessThanOrEqual(40);
    await until('every idle connection to be closed', () => idle.every((c) => c.closed()), 5000);

    const slow = await open(server.port);
    slow.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => !slow.closed() && slow.socket.write('X'), 100);
    try {
      await until('the trickling connection to be closed', slow.closed, 4000);
    } finally {
      clearInterval(trickle);
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('answers 400, not 500, to a malformed request target', async () => {
    server = await start();
    for (const target of ['//[', '//[::1', '//a:b@[x]/']) {
      const c = await open(server.port);
      c.socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await until('the answer', c.closed, 3000);
      expect(c.received(), target).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
