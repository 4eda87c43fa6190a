// Resource bounds of the tracking server that do not need Kafka: idle connections are reaped, the number of
// connections is capped, slow (slowloris-style) headers and bodies are cut off. The producer is a stand-in that
// is always connected and acknowledges at once, so only the HTTP side is under test.
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { IngestServer } from '../../src/ingest/server.ts';
import { open, startFake, until, type Conn } from './fake.ts';
import { API_KEY } from './support.ts';

let server: IngestServer | null = null;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = null;
});

describe('tracking server connection limits', () => {
  it('closes connections that never send anything once the idle timeout has passed', async () => {
    server = await startFake({ idleTimeoutMs: 500, headersTimeoutMs: 2000, requestTimeoutMs: 5000, keepAliveTimeoutMs: 500, maxConnections: 2000, ackTimeoutMs: 400 });
    const conns: Conn[] = [];
    for (let i = 0; i < 400; i++) {
      const c = await open(server);
      sockets.push(c.socket);
      conns.push(c);
    }
    const t0 = Date.now();
    await until('every idle connection to be closed by the server', () => conns.every((c) => c.closed()), 8000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    // The server still serves.
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
  });

  it('closes a keep-alive connection after the keep-alive timeout', async () => {
    server = await startFake({ idleTimeoutMs: 10_000, keepAliveTimeoutMs: 300, ackTimeoutMs: 400 });
    const c = await open(server);
    sockets.push(c.socket);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the answer', () => c.received().includes('\r\n\r\n'));
    expect(c.received()).toMatch(/^HTTP\/1\.1 200/);
    await until('the keep-alive connection to be closed', c.closed, 3000);
  });

  it('caps the number of connections', async () => {
    server = await startFake({ maxConnections: 50, idleTimeoutMs: 30_000, ackTimeoutMs: 400 });
    const conns: Conn[] = [];
    for (let i = 0; i < 80; i++) {
      const c = await open(server);
      sockets.push(c.socket);
      conns.push(c);
    }
    await until('the connections over the cap to be closed', () => conns.filter((c) => c.closed()).length >= 30, 5000);
    await sleep(0);
    expect(conns.filter((c) => !c.closed()).length).toBeLessThanOrEqual(50);
    // Once the idle ones go, the server takes new connections again.
    for (const c of conns) c.socket.destroy();
    await until('a new connection to be served', async () => (await fetch(`${server!.url}/healthz`).catch(() => null))?.status === 200, 5000);
  });

  it('cuts off headers that trickle in (slowloris) after the headers timeout', async () => {
    server = await startFake({ idleTimeoutMs: 30_000, headersTimeoutMs: 800, requestTimeoutMs: 30_000, ackTimeoutMs: 400 });
    const conns: Conn[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await open(server);
      sockets.push(c.socket);
      c.socket.write('POST /v1/events HTTP/1.1\r\nHost: x\r\n');
      conns.push(c);
    }
    const t0 = Date.now();
    const trickle = setInterval(() => {
      for (const c of conns) if (!c.closed()) c.socket.write('X');
    }, 100);
    try {
      await until('every trickling connection to be closed', () => conns.every((c) => c.closed()), 5000);
    } finally {
      clearInterval(trickle);
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
  });

  it('cuts off a body that trickles in after the request timeout', async () => {
    server = await startFake({ idleTimeoutMs: 30_000, headersTimeoutMs: 500, requestTimeoutMs: 1000, ackTimeoutMs: 400 });
    const c = await open(server);
    sockets.push(c.socket);
    c.socket.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Api-Key: ${API_KEY}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n`);
    const trickle = setInterval(() => {
      if (!c.closed()) c.socket.write('{"a":1}\n');
    }, 100);
    try {
      await until('the trickling upload to be closed', c.closed, 5000);
    } finally {
      clearInterval(trickle);
    }
  });
});
