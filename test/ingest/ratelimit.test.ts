// Per-key rate limits (a token bucket per API key, 429 with Retry-After, configurable per app) and throttling of
// failed authentication per client address.
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';
import { startIngestServer, type IngestServer, type IngestServerConfig } from '../../src/ingest/server.ts';
import { FakeProducer, until } from './fake.ts';
import { API_KEY, OTHER_KEY, logger, post, serverConfig } from './support.ts';

const event = JSON.stringify({ id: 'r1', user_id: 'u-1', type: 1001 });
let server: IngestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function start(over: Partial<IngestServerConfig>, metrics = new Metrics({ defaultMetrics: false })): Promise<IngestServer> {
  return startIngestServer({ config: serverConfig('ingest-rate', { brokers: ['127.0.0.1:1'], ...over }), logger, metrics, openProducer: () => new FakeProducer() });
}

const count = (statuses: number[], s: number) => statuses.filter((x) => x === s).length;

/** A POST written byte by byte, so that a header can carry latin-1 bytes as they are (clients encode them as UTF-8). */
function rawPost(url: string, key: Buffer, body: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 0)));
    socket.on('error', reject);
    // Written without ending our side: the server answers, then closes (connection: close).
    socket.write(Buffer.concat([
      Buffer.from(`POST /v1/events HTTP/1.1\r\nhost: ${hostname}\r\nx-api-key: `), key,
      Buffer.from(`\r\ncontent-type: application/x-ndjson\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`),
    ]));
  });
}

describe('rate limits', () => {
  it('limits each API key to its token bucket with 429 and Retry-After, per app overrides, counted in metrics', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    server = await start({ keyRate: 5, keyBurst: 20, keyRateOverrides: [{ app: 'other', rate: 1000, burst: 1000 }] }, metrics);
    const results = await Promise.all(Array.from({ length: 60 }, () => post(server!, event)));
    const statuses = results.map((r) => r.status);
    // The burst passes (plus what refills meanwhile, at 5/s), the rest is refused.
    expect(count(statuses, 202)).toBeGreaterThanOrEqual(20);
    expect(count(statuses, 202)).toBeLessThanOrEqual(25);
    expect(count(statuses, 429)).toBe(60 - count(statuses, 202));
    const limited = results.find((r) => r.status === 429)!;
    expect(limited.json.error).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another app's key has its own bucket and limit.
    const other = await Promise.all(Array.from({ length: 60 }, () => post(server!, event, { key: OTHER_KEY })));
    expect(count(other.map((r) => r.status), 202)).toBe(60);
    // The bucket refills.
    await until('the bucket to refill', async () => (await post(server!, event)).status === 202, 5000);
    const text = await metrics.text();
    expect(text).toMatch(/gamestream_ingest_rate_limited_total\{app="game"\} [1-9]/);
    expect(text).toMatch(/gamestream_ingest_rejects_total\{reason="rate_limited"\} [1-9]/);
  });

  it('gives one key one bucket however its header is padded (a no-break space is trimmed like a space)', async () => {
    server = await start({ keyRate: 1, keyBurst: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push(await rawPost(server.url, Buffer.concat([Buffer.from(API_KEY), Buffer.alloc(i, 0xa0)]), event));
    // The first padded form authenticates like the others but must not bring a bucket of its own.
    expect(statuses.slice(0, 5)).toEqual([202, 202, 202, 202, 202]);
    expect(count(statuses, 429)).toBeGreaterThanOrEqual(6);
  });

  it('throttles failed authentication per client address, valid keys from it included, then lets it through again', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    server = await start({ authFailureRate: 2, authFailureBurst: 10 }, metrics);
    const guesses = [];
    for (let i = 0; i < 50; i++) guesses.push((await post(server, event, { key: `guess-${i}-0123456789abcdef` })).status);
    expect(count(guesses, 401)).toBeGreaterThanOrEqual(10);
    expect(count(guesses, 401)).toBeLessThanOrEqual(13);
    expect(count(guesses, 429)).toBe(50 - count(guesses, 401));
    // While throttled, even a right key is not checked: a guesser cannot learn that a guess was right.
    const right = await post(server, event, { key: API_KEY });
    expect([right.status, right.json.error]).toEqual([429, 'auth_throttled']);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await until('the address to be let through again', async () => (await post(server!, event, { key: API_KEY })).status === 202, 5000);
    expect(await metrics.text()).toMatch(/gamestream_ingest_auth_throttled_total [1-9]/);
  });
});
