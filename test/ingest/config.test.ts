// The ingest env schema: defaults, errors that name variable, value and what is allowed, and API keys that never
// appear in full in an error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiKeyStore } from '../../src/ingest/auth.ts';
import { INGEST_ENV_VARS, loadIngestConfig } from '../../src/ingest/config.ts';

const KEY = 'k3y-0123456789abcdefXYZ';
const base = { GAMESTREAM_KAFKA_BROKERS: '127.0.0.1:9092', GAMESTREAM_INGEST_API_KEYS: `game:${KEY}` };

function error(env: Record<string, string>): string {
  try {
    loadIngestConfig(env);
  } catch (err) {
    expect((err as { code: string }).code).toBe('config_invalid');
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

describe('ingest config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gamestream-ingest-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has the documented defaults', () => {
    const c = loadIngestConfig(base);
    expect(c).toMatchObject({
      brokers: ['127.0.0.1:9092'], host: '127.0.0.1', port: 8088, topic: 'game-events-raw', maxBodyBytes: 5 << 20,
      maxBatchEvents: 1000, maxEventBytes: 1_000_000, maxInflightBytes: 64 << 20, ackTimeoutMs: 5000, apiKeysFile: null,
      apiKeys: [{ app: 'game', key: KEY }],
    });
    for (const v of INGEST_ENV_VARS) {
      expect(v.doc.length, v.name).toBeGreaterThan(10);
      expect(v.allowed.length, v.name).toBeGreaterThan(0);
    }
  });

  it('names the variable, the value and what is allowed', () => {
    const msg = error({ ...base, GAMESTREAM_INGEST_PORT: 'http', GAMESTREAM_INGEST_ACK_TIMEOUT: 'soon', GAMESTREAM_INGEST_MAX_BODY_BYTES: '5 megs' });
    expect(msg).toContain('GAMESTREAM_INGEST_PORT="http" is not valid: expected a whole number from 0 to 65535');
    expect(msg).toContain('GAMESTREAM_INGEST_ACK_TIMEOUT="soon" is not valid: expected a duration');
    expect(msg).toContain('GAMESTREAM_INGEST_MAX_BODY_BYTES="5 megs"');
    expect(error({ GAMESTREAM_INGEST_API_KEYS: `game:${KEY}` })).toContain('GAMESTREAM_KAFKA_BROKERS is not set');
    expect(error({ ...base, GAMESTREAM_KAFKA_BROKERS: 'kafka' })).toContain('host:port');
    expect(error({ ...base, GAMESTREAM_INGEST_TOPIC: 'bad topic' })).toContain('GAMESTREAM_INGEST_TOPIC="bad topic"');
  });

  it('needs at least one API key and never prints one in full', () => {
    expect(error({ GAMESTREAM_KAFKA_BROKERS: '127.0.0.1:9092' })).toContain('no API key is configured');
    const msg = error({ ...base, GAMESTREAM_INGEST_API_KEYS: `game:${KEY},web:short,${KEY}` });
    expect(msg).toContain('GAMESTREAM_INGEST_API_KEYS');
    expect(msg).toContain('pair 2');
    expect(msg).not.toContain(KEY);
    expect(msg).toContain('game:k3y-…');
    const dup = error({ ...base, GAMESTREAM_INGEST_API_KEYS: `game:${KEY},web:${KEY}` });
    expect(dup).toContain('given to two apps');
    expect(dup).not.toContain(KEY);
  });

  it('reads more keys from GAMESTREAM_INGEST_API_KEYS_FILE', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, `# keys of the game clients\nios:ios-key-0123456789abcdef\n\nandroid:android-key-0123456789ab\r\n`);
    const c = loadIngestConfig({ ...base, GAMESTREAM_INGEST_API_KEYS_FILE: file });
    expect(c.apiKeys.map((k) => k.app)).toEqual(['game', 'ios', 'android']);
    const store = new ApiKeyStore(c.apiKeys);
    expect(store.appFor('android-key-0123456789ab')).toBe('android');
    expect(store.appFor(KEY)).toBe('game');
    expect(store.appFor('android-key-0123456789a')).toBeNull();
    expect(store.appFor(undefined)).toBeNull();
    // File keys alone are enough.
    expect(loadIngestConfig({ GAMESTREAM_KAFKA_BROKERS: 'k:1', GAMESTREAM_INGEST_API_KEYS_FILE: file }).apiKeys).toHaveLength(2);

    writeFileSync(file, 'ios:ios-key-0123456789abcdef\nandroid android-key-0123456789ab\n');
    const bad = error({ ...base, GAMESTREAM_INGEST_API_KEYS_FILE: file });
    expect(bad).toContain('line 2');
    expect(bad).not.toContain('android-key-0123456789ab');
    expect(error({ ...base, GAMESTREAM_INGEST_API_KEYS_FILE: join(dir, 'missing') })).toContain('cannot be read');
  });

  it('checks rules between variables', () => {
    expect(error({ ...base, GAMESTREAM_INGEST_MAX_BODY_BYTES: '8MiB', GAMESTREAM_INGEST_MAX_INFLIGHT_BYTES: '4MiB' })).toContain('must be at least twice GAMESTREAM_INGEST_MAX_BODY_BYTES');
    // A gzip request holds its compressed and its decompressed body: twice the limit must fit.
    expect(error({ ...base, GAMESTREAM_INGEST_MAX_BODY_BYTES: '48MiB', GAMESTREAM_INGEST_MAX_INFLIGHT_BYTES: '64MiB' })).toContain('full-size gzip request');
    expect(error({ ...base, GAMESTREAM_INGEST_MAX_BODY_BYTES: '64KiB', GAMESTREAM_INGEST_MAX_EVENT_BYTES: '1MiB' })).toContain('exceeds GAMESTREAM_INGEST_MAX_BODY_BYTES');
  });

  it('bounds connections, timeouts and JSON depth, each a setting with a default', () => {
    expect(loadIngestConfig(base)).toMatchObject({
      maxConnections: 4096, idleTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, maxJsonDepth: 64,
    });
    expect(loadIngestConfig({ ...base, GAMESTREAM_INGEST_MAX_CONNECTIONS: '100', GAMESTREAM_INGEST_IDLE_TIMEOUT: '10s', GAMESTREAM_INGEST_KEEPALIVE_TIMEOUT: '1s', GAMESTREAM_INGEST_HEADERS_TIMEOUT: '2s', GAMESTREAM_INGEST_REQUEST_TIMEOUT: '20s', GAMESTREAM_INGEST_MAX_JSON_DEPTH: '8' }))
      .toMatchObject({ maxConnections: 100, idleTimeoutMs: 10_000, keepAliveTimeoutMs: 1000, headersTimeoutMs: 2000, requestTimeoutMs: 20_000, maxJsonDepth: 8 });
    const msg = error({ ...base, GAMESTREAM_INGEST_MAX_CONNECTIONS: '0', GAMESTREAM_INGEST_IDLE_TIMEOUT: 'never', GAMESTREAM_INGEST_HEADERS_TIMEOUT: '1h', GAMESTREAM_INGEST_MAX_JSON_DEPTH: '5000' });
    expect(msg).toContain('GAMESTREAM_INGEST_MAX_CONNECTIONS="0" is not valid: expected a whole number from 1 to 1000000');
    expect(msg).toContain('GAMESTREAM_INGEST_IDLE_TIMEOUT="never" is not valid: expected a duration');
    expect(msg).toContain('GAMESTREAM_INGEST_HEADERS_TIMEOUT="1h" is not valid');
    expect(msg).toContain('GAMESTREAM_INGEST_MAX_JSON_DEPTH="5000" is not valid: expected a whole number from 1 to 1000');
    expect(error({ ...base, GAMESTREAM_INGEST_IDLE_TIMEOUT: '5s' })).toContain('GAMESTREAM_INGEST_IDLE_TIMEOUT (5s) must be more than GAMESTREAM_INGEST_ACK_TIMEOUT (5s)');
    expect(error({ ...base, GAMESTREAM_INGEST_HEADERS_TIMEOUT: '30s', GAMESTREAM_INGEST_REQUEST_TIMEOUT: '20s' })).toContain('must be at most GAMESTREAM_INGEST_REQUEST_TIMEOUT');
  });

  it('has rate limits per key (with per-app overrides) and for failed authentication per address', () => {
    expect(loadIngestConfig(base)).toMatchObject({ keyRate: 1000, keyBurst: 2000, keyRateOverrides: [], authFailureRate: 1, authFailureBurst: 20, authTrackedAddresses: 100_000 });
    expect(loadIngestConfig({ ...base, GAMESTREAM_INGEST_KEY_RATE_OVERRIDES: 'game=50/80' }).keyRateOverrides).toEqual([{ app: 'game', rate: 50, burst: 80 }]);
    expect(loadIngestConfig({ ...base, GAMESTREAM_INGEST_KEY_RATE_OVERRIDES: 'game=0' }).keyRateOverrides).toEqual([{ app: 'game', rate: 0, burst: 1 }]);
    expect(error({ ...base, GAMESTREAM_INGEST_KEY_RATE_OVERRIDES: 'game:50' })).toContain('GAMESTREAM_INGEST_KEY_RATE_OVERRIDES="game:50" is not valid: expected comma-separated app=rate[/burst]');
    expect(error({ ...base, GAMESTREAM_INGEST_KEY_RATE_OVERRIDES: 'web=50' })).toContain('names the app "web", which has no API key');
    expect(error({ ...base, GAMESTREAM_INGEST_KEY_RATE: '-1' })).toContain('GAMESTREAM_INGEST_KEY_RATE="-1" is not valid');
    expect(error({ ...base, GAMESTREAM_INGEST_AUTH_FAILURE_BURST: '0' })).toContain('GAMESTREAM_INGEST_AUTH_FAILURE_BURST="0" is not valid');
  });
});
