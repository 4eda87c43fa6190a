// Request bodies count against the in-flight byte budget as they arrive, so 100 concurrent uploads of nearly
// 5 MB each cannot make the server hold 500 MB: those that do not fit get 503 ingest_overloaded with
// Retry-After before their body is read. The producer is a stand-in that acknowledges after 5 ms.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { API_KEY } from './support.ts';
import { FakeProducer, startFake } from './fake.ts';

const BUDGET = 64 << 20;

/** One upload over a raw socket; resolves with the status line's code (0 when the connection broke first). */
function upload(port: number, body: Buffer): Promise<{ status: number; retryAfter: string | null; error: string | null }> {
  return new Promise((resolve) => {
    let got = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Api-Key: ${API_KEY}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      socket.write(body);
    });
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      resolve({ status, retryAfter: /\r\nretry-after: (\S+)/i.exec(got)?.[1] ?? null, error: /"error":"([a-z_]+)"/.exec(got)?.[1] ?? null });
    });
  });
}

describe('memory under concurrent large uploads', () => {
  it('holds at most the in-flight budget of request bytes, whatever the concurrency', async () => {
    const producer = new FakeProducer(5);
    const server = await startFake({ maxInflightBytes: BUDGET, maxBodyBytes: 5 << 20, maxEventBytes: 1_000_000, idleTimeoutMs: 30_000, ackTimeoutMs: 10_000 }, producer);
    try {
      // 1000 events of about 4.8 KB: a 4.8 MB NDJSON body, the same Buffer for every upload (no client-side copies).
      const line = `{"id":"x","user_id":"u-1","type":1001,"pad":"${'p'.repeat(4750)}"}\n`;
      const body = Buffer.from(line.repeat(1000));
      expect(body.length).toBeGreaterThan(4_700_000);
      global.gc?.();
      const rss0 = process.memoryUsage.rss();
      let maxRss = rss0;
      let maxHeld = 0;
      const sampler = setInterval(() => {
        maxRss = Math.max(maxRss, process.memoryUsage.rss());
        const s = server.stats() as { heldBytes: number; reservedBytes?: number };
        maxHeld = Math.max(maxHeld, s.heldBytes + (s.reservedBytes ?? Infinity));
      }, 2);
      let results;
      try {
        results = await Promise.all(Array.from({ length: 100 }, () => upload(server.port, body)));
      } finally {
        clearInterval(sampler);
      }
      // The server's own accounting: request bytes being read plus event bytes waiting for Kafka.
      expect(maxHeld).toBeLessThanOrEqual(BUDGET);
      // Process RSS: the budget's bytes, once more while a body is joined and split, plus slack for the
      // sockets and the heap; without the bound the 100 bodies alone are 480 MB.
      expect(maxRss - rss0).toBeLessThan(2 * BUDGET + (64 << 20));
      const ok = results.filter((r) => r.status === 202).length;
      const refused = results.filter((r) => r.status === 503);
      expect(ok).toBeGreaterThan(0);
      expect(ok + refused.length).toBe(100);
      for (const r of refused) expect([r.error, r.retryAfter]).toEqual(['ingest_overloaded', '1']);
      expect(server.stats()).toMatchObject({ heldBytes: 0, reservedBytes: 0 });
    } finally {
      await server.close();
    }
  }, 60_000);
});
