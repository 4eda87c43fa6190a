// What the tracking server refuses at the edge (401, 413, 415, 400), and that it refuses nothing else.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestServer } from '../../src/ingest/server.ts';
import { API_KEY, OTHER_KEY, createTopic, post, startServer, topicCount, uniqueTopic } from './support.ts';

const event = (i: number) => JSON.stringify({ id: `e${i}`, user_id: `u-${i % 7}`, timestamp: '2026-11-20T10:00:00Z', type: 1001 });

describe('edge', () => {
  let server: IngestServer;
  const topic = uniqueTopic('ingest-edge');

  beforeAll(async () => {
    await createTopic(topic, 4);
    server = await startServer(topic, { maxBodyBytes: 64 * 1024, maxBatchEvents: 10, maxEventBytes: 4096 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('needs a known API key in X-Api-Key', async () => {
    const missing = await post(server, event(1), { key: null });
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ error: 'unauthorized', message: 'missing X-Api-Key header' });
    const wrong = await post(server, event(1), { key: 'not-a-key-0123456789' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.message).toBe('unknown API key');
    expect((await post(server, event(1), { key: `${API_KEY}x` })).status).toBe(401);
    expect((await post(server, event(1), { key: API_KEY })).status).toBe(202);
    expect((await post(server, event(2), { key: OTHER_KEY })).status).toBe(202);
  });

  it('refuses bodies over the size limit, raw or decompressed, with 413', async () => {
    const big = Buffer.alloc(65 * 1024, 'x');
    const declared = await post(server, big);
    expect(declared.status).toBe(413);
    expect(declared.json.error).toBe('body_too_large');
    // No Content-Length (chunked): counted while reading.
    const chunked = await fetch(`${server.url}/v1/events`, {
      method: 'POST', headers: { 'x-api-key': API_KEY }, duplex: 'half',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(8192).fill(0x7b));
          c.close();
        },
      }),
    } as RequestInit);
    expect(chunked.status).toBe(413);
    // 1 MiB of zeros is 1 KiB gzipped: the limit applies after decompression too.
    const bomb = await post(server, gzipSync(Buffer.alloc(1 << 20)), { headers: { 'content-encoding': 'gzip' } });
    expect(bomb.status).toBe(413);
    expect(bomb.json.message).toContain('decompressed');
  });

  it('refuses batches with too many events or an event too large with 413', async () => {
    const eleven = Array.from({ length: 11 }, (_, i) => event(i));
    const nd = await post(server, eleven.join('\n'));
    expect(nd.status).toBe(413);
    expect(nd.json.error).toBe('too_many_events');
    const arr = await post(server, `[${eleven.join(',')}]`);
    expect(arr.status).toBe(413);
    expect(arr.json.error).toBe('too_many_events');
    const huge = await post(server, `${event(1)}\n{"user_id":"u","blob":"${'y'.repeat(5000)}"}`);
    expect(huge.status).toBe(413);
    expect(huge.json).toMatchObject({ error: 'event_too_large' });
    expect(huge.json.message).toContain('line 2');
    // Exactly at the limit is fine, blank lines do not count.
    expect((await post(server, `${eleven.slice(1).join('\n\n')}\n`)).status).toBe(202);
  });

  it('accepts gzip and refuses a body that is not gzip although it says so (400)', async () => {
    const ok = await post(server, [event(1), event(2)].join('\n'), { gzip: true });
    expect(ok.status).toBe(202);
    expect(ok.json.accepted).toBe(2);
    const bad = await post(server, event(1), { headers: { 'content-encoding': 'gzip' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('bad_gzip');
    const cut = gzipSync(Buffer.from(event(1))).subarray(0, 12);
    expect((await post(server, cut, { headers: { 'content-encoding': 'gzip' } })).json.error).toBe('bad_gzip');
    const br = await post(server, event(1), { headers: { 'content-encoding': 'br' } });
    expect(br.status).toBe(415);
  });

  it('refuses with 400 a body that cannot be split into events', async () => {
    const cases: [string | Buffer, string, string?][] = [
      ['[{"user_id":"u1"},{"user_id":', 'not_json_array'],
      ['{"user_id":"u1"}', 'not_json_array', 'application/json'],
      [gzipSync(Buffer.from(event(1))), 'not_ndjson'],
      ['{\n  "user_id": "u1",\n  "type": 1\n}', 'not_ndjson'],
      ['a=1&b=2', 'not_ndjson', 'application/x-www-form-urlencoded'],
      ['  \n\n ', 'empty_body'],
    ];
    for (const [body, code, type] of cases) {
      const res = await post(server, body, { contentType: type });
      expect([res.status, res.json.error], String(body)).toEqual([400, code]);
      expect(typeof res.json.message).toBe('string');
    }
    const gz = await post(server, gzipSync(Buffer.from(event(1))));
    expect(gz.json.message).toContain('Content-Encoding: gzip');
  });

  it('produces nothing for refused requests', async () => {
    const t = uniqueTopic('ingest-refused');
    await createTopic(t, 2);
    const s = await startServer(t, { maxBatchEvents: 2 });
    try {
      await post(s, event(1), { key: null });
      await post(s, [event(1), event(2), event(3)].join('\n'));
      await post(s, '[1,');
      expect(await topicCount(t)).toBe(0);
      expect((await post(s, [event(1), 'garbage'].join('\n'))).status).toBe(202);
      expect(await topicCount(t)).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('answers health checks and unknown routes', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', producer: 'connected', topic });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/v1/events`)).status).toBe(405);
  });

  it('counts requests, accepted events, rejects and latency at GET /metrics', async () => {
    const metrics = async () => (await fetch(`${server.url}/metrics`)).text();
    const value = (text: string, series: string): number => Number(new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    const before = await metrics();
    expect((await post(server, [event(10), event(11), event(12)].join('\n'), { contentType: 'application/x-ndjson' })).status).toBe(202);
    expect((await post(server, event(13), { key: null })).status).toBe(401);
    expect((await fetch(`${server.url}/v1/events`)).status).toBe(405);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    const after = await metrics();
    for (const status of ['405', '404']) {
      expect(value(after, `gamestream_ingest_requests_total{status="${status}"}`) - value(before, `gamestream_ingest_requests_total{status="${status}"}`), status).toBe(1);
    }
    expect(value(after, 'gamestream_ingest_requests_total{status="202"}') - value(before, 'gamestream_ingest_requests_total{status="202"}')).toBe(1);
    expect(value(after, 'gamestream_ingest_requests_total{status="401"}') - value(before, 'gamestream_ingest_requests_total{status="401"}')).toBe(1);
    expect(value(after, 'gamestream_ingest_events_total') - value(before, 'gamestream_ingest_events_total')).toBe(3);
    expect(value(after, 'gamestream_ingest_rejects_total{reason="unauthorized"}') - value(before, 'gamestream_ingest_rejects_total{reason="unauthorized"}')).toBe(1);
    expect(value(after, 'gamestream_ingest_request_duration_seconds_count') - value(before, 'gamestream_ingest_request_duration_seconds_count')).toBe(4);
    // The daemon's last-commit time is not the tracking server's to say: there it would be its own start time,
    // which hides a daemon that stopped committing from NoEvents (max() over every target).
    expect(after).not.toMatch(/^gamestream_last_record_timestamp_seconds/m);
  });
});
