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
    expect(error({ ...base, GAMESTREAM_INGEST_MAX_BODY_BYTES: '8MiB', GAMESTREAM_INGEST_MAX_INFLIGHT_BYTES: '4MiB' })).toContain('must be at least GAMESTREAM_INGEST_MAX_BODY_BYTES');
    expect(error({ ...base, GAMESTREAM_INGEST_MAX_BODY_BYTES: '64KiB', GAMESTREAM_INGEST_MAX_EVENT_BYTES: '1MiB' })).toContain('exceeds GAMESTREAM_INGEST_MAX_BODY_BYTES');
  });
});
