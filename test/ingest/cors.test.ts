// A web game posts events from its own origin: the browser's preflight is answered for configured origins only,
// and the POST's answer names the origin so that the page may read it. The API key still decides who may post.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCorsOrigins } from '../../src/ingest/cors.ts';
import { loadIngestConfig } from '../../src/ingest/config.ts';
import type { IngestServer } from '../../src/ingest/server.ts';
import { createTopic, post, startServer, topicCount, uniqueTopic } from './support.ts';

const GAME = 'https://play.example.com';
// A JSON array of events, as a browser client sends them.
const event = JSON.stringify([{ id: 'web-1', user_id: 'u-web', timestamp: '2026-11-20T10:00:00Z', type: 1001 }]);

function preflight(server: IngestServer, origin: string): Promise<Response> {
  return fetch(`${server.url}/v1/events`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-api-key' },
  });
}

describe('CORS for browser clients', () => {
  let server: IngestServer;
  const topic = uniqueTopic('ingest-cors');

  beforeAll(async () => {
    await createTopic(topic, 1);
    server = await startServer(topic, { corsOrigins: parseCorsOrigins(`${GAME}, http://localhost:5173`) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers the preflight of a configured origin, naming the method and the headers a POST needs', async () => {
    const r = await preflight(server, GAME);
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe(GAME);
    expect(r.headers.get('access-control-allow-methods')).toBe('POST');
    expect(r.headers.get('access-control-allow-headers')).toContain('x-api-key');
    expect(r.headers.get('access-control-allow-headers')).toContain('content-type');
    expect(r.headers.get('vary')).toBe('Origin');
  });

  it('refuses the preflight of any other origin, naming the setting', async () => {
    const r = await preflight(server, 'https://evil.example.net');
    expect(r.status).toBe(403);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    expect(((await r.json()) as { message: string }).message).toContain('GAMESTREAM_INGEST_CORS_ORIGINS');
  });

  it('names the origin on the POST\'s answer, and only for a configured one; the key still counts', async () => {
    const ok = await post(server, event, { contentType: 'application/json', headers: { origin: GAME } });
    expect(ok.status).toBe(202);
    expect(ok.headers.get('access-control-allow-origin')).toBe(GAME);
    // The page's script may read Retry-After, to back off after a 429 or 503.
    expect(ok.headers.get('access-control-expose-headers')).toBe('retry-after');
    const other = await post(server, event, { contentType: 'application/json', headers: { origin: 'https://evil.example.net' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const noKey = await post(server, event, { key: null, contentType: 'application/json', headers: { origin: GAME } });
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('access-control-allow-origin')).toBe(GAME); // so that the page can read why
    await expect.poll(() => topicCount(topic)).toBeGreaterThanOrEqual(2);
  });

  it('reads its origins from GAMESTREAM_INGEST_CORS_ORIGINS, refusing what is not an origin', () => {
    const base = { GAMESTREAM_KAFKA_BROKERS: '127.0.0.1:9092', GAMESTREAM_INGEST_API_KEYS: 'game:0123456789abcdef0123' };
    expect(loadIngestConfig({ ...base }).corsOrigins).toEqual(new Set());
    expect(loadIngestConfig({ ...base, GAMESTREAM_INGEST_CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
    expect(() => loadIngestConfig({ ...base, GAMESTREAM_INGEST_CORS_ORIGINS: 'https://play.example.com/game' })).toThrow(/GAMESTREAM_INGEST_CORS_ORIGINS="https:\/\/play.example.com\/game" is not valid: expected origins such as/);
  });
});
