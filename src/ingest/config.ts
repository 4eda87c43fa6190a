/**
 * Env vars of the tracking server (`gamestream ingest`), parsed once at start. A schema of its own, apart from
 * src/config/schema.ts, because the tracking server and the daemon are deployed separately; it reuses the same
 * parsers so that values and error messages read the same. All problems are reported together.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LOG_LEVELS } from '../config/schema.ts';
import { LOG_FORMATS, type LogFormat } from '../log.ts';
import { brokerList, byteSize, duration, fmtMs, integer, kafkaTopic, nonEmpty, oneOf, ValueError } from '../config/parsers.ts';
import { parseVars, type VarSpec } from '../config/vars.ts';
import { GamestreamError } from '../errors.ts';
import { parseKeyPairs, redactPair, type ApiKeyEntry } from './auth.ts';
import { parseRateOverrides, type RateOverride } from './ratelimit.ts';
import { parseCorsOrigins, type CorsOrigins } from './cors.ts';

export interface IngestConfig {
  brokers: string[];
  /** Origins whose browsers may post events (CORS). */
  corsOrigins: CorsOrigins;
  host: string;
  port: number;
  topic: string;
  topicPartitions: number;
  maxBodyBytes: number;
  maxBatchEvents: number;
  maxEventBytes: number;
  maxInflightBytes: number;
  apiKeys: ApiKeyEntry[];
  apiKeysFile: string | null;
  ackTimeoutMs: number;
  maxConnections: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxJsonDepth: number;
  keyRate: number;
  keyBurst: number;
  keyRateOverrides: RateOverride[];
  authFailureRate: number;
  authFailureBurst: number;
  authTrackedAddresses: number;
  logLevel: (typeof LOG_LEVELS)[number];
  logFormat: LogFormat;
}

function v<K extends keyof IngestConfig>(spec: VarSpec<IngestConfig, K>): VarSpec<IngestConfig, K> {
  return spec;
}


function parseHost(raw: string): string {
  const s = nonEmpty(raw);
  if (/[\s/]/.test(s)) throw new ValueError('a host name or IP address to listen on, for example 127.0.0.1 or 0.0.0.0');
  return s;
}


function rateOverrides(raw: string): RateOverride[] {
  try {
    return parseRateOverrides(raw);
  } catch (err) {
    throw new ValueError(`comma-separated app=rate[/burst] (rate 0–1000000 requests/s, burst 1–10000000): ${(err as Error).message}`);
  }
}

function parseKeysFile(raw: string): string | null {
  return raw.trim() === '' ? null : resolve(raw.trim());
}

export const INGEST_ENV_VARS = [
  v({ name: 'GAMESTREAM_KAFKA_BROKERS', key: 'brokers', default: '', required: true, allowed: 'host:port[,host:port…] (required)',
    doc: 'Kafka bootstrap brokers the tracking server produces to.', parse: brokerList }),
  v({ name: 'GAMESTREAM_INGEST_HOST', key: 'host', default: '127.0.0.1', allowed: 'a host name or IP address',
    doc: 'Address the tracking server listens on. 0.0.0.0 listens on every interface.', parse: parseHost }),
  v({ name: 'GAMESTREAM_INGEST_PORT', key: 'port', default: '8088', allowed: '0–65535 (0: any free port)',
    doc: 'TCP port of the tracking server.', parse: integer(0, 65_535) }),
  v({ name: 'GAMESTREAM_INGEST_CORS_ORIGINS', key: 'corsOrigins', default: '', allowed: 'comma-separated origins (https://game.example.com), * for any, or empty (none)',
    doc: 'Web pages on these origins may post events from the browser: POST /v1/events answers their CORS preflight (OPTIONS) and names them in Access-Control-Allow-Origin. The API key still decides who may post.', parse: parseCorsOrigins }),
  v({ name: 'GAMESTREAM_INGEST_TOPIC', key: 'topic', default: 'game-events-raw', allowed: 'a Kafka topic name',
    doc: 'Topic every accepted event is produced to, keyed by its user_id.', parse: kafkaTopic }),
  v({ name: 'GAMESTREAM_KAFKA_RAW_PARTITIONS', key: 'topicPartitions', default: '64', allowed: '1–10000',
    doc: 'Partitions of the raw topic when it is created at start, or the least it must have when it exists.', parse: integer(1, 10_000) }),
  v({ name: 'GAMESTREAM_INGEST_MAX_BODY_BYTES', key: 'maxBodyBytes', default: '5MiB', allowed: '1KiB–256MiB',
    doc: 'Largest request body, both as sent and after gzip decompression; larger bodies get 413.', parse: byteSize(1024, 256 * 1024 ** 2) }),
  v({ name: 'GAMESTREAM_INGEST_MAX_BATCH_EVENTS', key: 'maxBatchEvents', default: '1000', allowed: '1–1000000',
    doc: 'Most events in one request; more get 413.', parse: integer(1, 1_000_000) }),
  v({ name: 'GAMESTREAM_INGEST_MAX_EVENT_BYTES', key: 'maxEventBytes', default: '1MB', allowed: '1KiB–64MiB',
    doc: 'Largest single event; a batch holding a larger one gets 413. Keep it below the topic\'s max.message.bytes (1 MB by default), which Kafka enforces on every produce.', parse: byteSize(1024, 64 * 1024 ** 2) }),
  v({ name: 'GAMESTREAM_INGEST_MAX_INFLIGHT_BYTES', key: 'maxInflightBytes', default: '64MiB', allowed: '1MiB–16GiB',
    doc: 'Request bytes held in memory, over all requests: bodies being received and decompressed, and events waiting for Kafka\'s acknowledgement. A request that does not fit gets 503 with Retry-After at once: before its body is read when it declares its length, else as soon as its bytes pass the budget. At least twice GAMESTREAM_INGEST_MAX_BODY_BYTES (a gzip request holds both its bodies).', parse: byteSize(1024 ** 2, 16 * 1024 ** 3) }),
  v({ name: 'GAMESTREAM_INGEST_API_KEYS', key: 'apiKeys', default: '', allowed: 'comma-separated app:key pairs (app: letters, digits, . _ -; key: 16–256 visible ASCII characters)', show: (raw) => JSON.stringify(raw.split(',').map(redactPair).join(',')),
    doc: 'API keys clients send in the X-Api-Key header, each with the app it belongs to. At least one key is needed, here or in GAMESTREAM_INGEST_API_KEYS_FILE.', parse: (raw) => parseKeyPairs(raw.split(','), 'pair') }),
  v({ name: 'GAMESTREAM_INGEST_API_KEYS_FILE', key: 'apiKeysFile', default: '', allowed: 'a path to a file with one app:key per line, or empty',
    doc: 'More API keys, one app:key per line (blank lines and # comments are skipped). Read once at start.', parse: parseKeysFile }),
  v({ name: 'GAMESTREAM_INGEST_ACK_TIMEOUT', key: 'ackTimeoutMs', default: '5s', allowed: '100ms–2m',
    doc: 'How long a request waits for Kafka to acknowledge its events before it is answered 503 with Retry-After.', parse: duration(100, 120_000) }),
  v({ name: 'GAMESTREAM_INGEST_MAX_CONNECTIONS', key: 'maxConnections', default: '4096', allowed: '1–1000000',
    doc: 'Most open client connections; a connection over it is closed at once. Keep it below the process\'s file descriptor limit (ulimit -n).', parse: integer(1, 1_000_000) }),
  v({ name: 'GAMESTREAM_INGEST_IDLE_TIMEOUT', key: 'idleTimeoutMs', default: '30s', allowed: '100ms–1h, more than GAMESTREAM_INGEST_ACK_TIMEOUT',
    doc: 'A connection on which nothing arrives or leaves for this long is closed: one opened and never used, or one that stops sending in the middle of a request. It also runs while a request waits for Kafka, hence more than the ack timeout.', parse: duration(100, 3_600_000) }),
  v({ name: 'GAMESTREAM_INGEST_KEEPALIVE_TIMEOUT', key: 'keepAliveTimeoutMs', default: '5s', allowed: '100ms–10m',
    doc: 'How long a connection may wait for its next request after an answer (HTTP keep-alive) before it is closed.', parse: duration(100, 600_000) }),
  v({ name: 'GAMESTREAM_INGEST_HEADERS_TIMEOUT', key: 'headersTimeoutMs', default: '10s', allowed: '100ms–5m, at most GAMESTREAM_INGEST_REQUEST_TIMEOUT',
    doc: 'Time limit for receiving a request\'s headers, however slowly they trickle in (slowloris); then the connection gets 408 and is closed.', parse: duration(100, 300_000) }),
  v({ name: 'GAMESTREAM_INGEST_REQUEST_TIMEOUT', key: 'requestTimeoutMs', default: '60s', allowed: '100ms–1h',
    doc: 'Time limit for receiving a whole request, headers and body (a slow mobile upload of a full body needs some); then the connection gets 408 and is closed.', parse: duration(100, 3_600_000) }),
  v({ name: 'GAMESTREAM_INGEST_MAX_JSON_DEPTH', key: 'maxJsonDepth', default: '64', allowed: '1–1000',
    doc: 'Deepest nesting of arrays and objects in a JSON-array body, checked by a scan before the body is parsed; a deeper body gets 400 json_too_deep (it would stall the server while parsing).', parse: integer(1, 1000) }),
  v({ name: 'GAMESTREAM_INGEST_KEY_RATE', key: 'keyRate', default: '1000', allowed: '0 (no limit) or 1–1000000 requests/s',
    doc: 'Requests per second each API key may send (a token bucket per key, refilled at this rate); more get 429 rate_limited with Retry-After. An app key is shared by all of a game\'s clients: size it for the whole game.', parse: integer(0, 1_000_000) }),
  v({ name: 'GAMESTREAM_INGEST_KEY_BURST', key: 'keyBurst', default: '2000', allowed: '1–10000000',
    doc: 'Size of each API key\'s bucket: how many requests may come at once above the rate.', parse: integer(1, 10_000_000) }),
  v({ name: 'GAMESTREAM_INGEST_KEY_RATE_OVERRIDES', key: 'keyRateOverrides', default: '', allowed: 'comma-separated app=rate[/burst], or empty',
    doc: 'Rate (and burst, default twice the rate) for the keys of the named apps instead of GAMESTREAM_INGEST_KEY_RATE; rate 0: no limit.', parse: rateOverrides }),
  v({ name: 'GAMESTREAM_INGEST_AUTH_FAILURE_RATE', key: 'authFailureRate', default: '1', allowed: '0 (no throttling) or 1–100000 per second',
    doc: 'Failed authentications (missing or unknown API key) per second a client address may make once its burst is spent; past that, every request from it gets 429 auth_throttled with Retry-After, a right key included, so guessing stays slow.', parse: integer(0, 100_000) }),
  v({ name: 'GAMESTREAM_INGEST_AUTH_FAILURE_BURST', key: 'authFailureBurst', default: '20', allowed: '1–100000',
    doc: 'Failed authentications a client address may make at once before it is throttled.', parse: integer(1, 100_000) }),
  v({ name: 'GAMESTREAM_INGEST_AUTH_TRACKED_ADDRESSES', key: 'authTrackedAddresses', default: '100000', allowed: '1–10000000',
    doc: 'Most client addresses whose failed authentications are remembered (about 100 bytes each); past it the address tracked longest is forgotten.', parse: integer(1, 10_000_000) }),
  v({ name: 'GAMESTREAM_LOG_LEVEL', key: 'logLevel', default: 'info', allowed: LOG_LEVELS.join(' | '),
    doc: 'Level of the JSON logs on stderr (shared with the daemon).', parse: oneOf(LOG_LEVELS) }),
  v({ name: 'GAMESTREAM_LOG_FORMAT', key: 'logFormat', default: 'auto', allowed: LOG_FORMATS.join(' | '),
    doc: 'The logs on stderr: json (one pino JSON object a line, for log collectors), text (one readable line an entry), or auto: text on a terminal, json otherwise.', parse: oneOf(LOG_FORMATS) }),
] as const;

export function loadIngestConfig(env: NodeJS.ProcessEnv = process.env): IngestConfig {
  const { values, problems } = parseVars<IngestConfig>(INGEST_ENV_VARS as readonly VarSpec<IngestConfig, keyof IngestConfig>[], env);
  const cfg = values as IngestConfig;
  if (problems.length === 0) problems.push(...keyFileProblems(cfg), ...crossFieldProblems(cfg));
  if (problems.length > 0) {
    throw new GamestreamError('config_invalid', `invalid ingest configuration:\n  ${problems.join('\n  ')}`);
  }
  return cfg;
}

/** Adds the keys from GAMESTREAM_INGEST_API_KEYS_FILE to cfg.apiKeys; returns what was wrong with the file. */
function keyFileProblems(cfg: IngestConfig): string[] {
  if (cfg.apiKeysFile === null) return [];
  let text: string;
  try {
    text = readFileSync(cfg.apiKeysFile, 'utf8');
  } catch (err) {
    return [`GAMESTREAM_INGEST_API_KEYS_FILE=${JSON.stringify(cfg.apiKeysFile)} cannot be read: ${(err as Error).message}`];
  }
  const lines = text.split(/\r?\n/);
  try {
    cfg.apiKeys = [...cfg.apiKeys, ...parseKeyPairs(lines, 'line')];
  } catch (err) {
    return [`GAMESTREAM_INGEST_API_KEYS_FILE=${JSON.stringify(cfg.apiKeysFile)} is not valid: expected ${(err as Error).message}`];
  }
  return [];
}

function crossFieldProblems(c: IngestConfig): string[] {
  const out: string[] = [];
  if (c.apiKeys.length === 0) {
    out.push('no API key is configured: set GAMESTREAM_INGEST_API_KEYS (app:key,…) or GAMESTREAM_INGEST_API_KEYS_FILE, or every request would get 401');
  }
  const seen = new Map<string, string>();
  for (const k of c.apiKeys) {
    const other = seen.get(k.key);
    if (other !== undefined && other !== k.app) {
      out.push(`the API key ${redactPair(`${k.app}:${k.key}`).split(':')[1]} is given to two apps (${other} and ${k.app}); a key must identify one app`);
    }
    seen.set(k.key, k.app);
  }
  if (c.maxInflightBytes < 2 * c.maxBodyBytes) {
    // A gzip request holds its compressed body and its decompressed one, each up to the body limit.
    out.push(`GAMESTREAM_INGEST_MAX_INFLIGHT_BYTES (${c.maxInflightBytes}) must be at least twice GAMESTREAM_INGEST_MAX_BODY_BYTES (${c.maxBodyBytes}), or a full-size gzip request could never be accepted`);
  }
  const apps = new Set(c.apiKeys.map((k) => k.app));
  for (const o of c.keyRateOverrides) {
    if (!apps.has(o.app)) out.push(`GAMESTREAM_INGEST_KEY_RATE_OVERRIDES names the app ${JSON.stringify(o.app)}, which has no API key (apps: ${[...apps].join(', ')})`);
  }
  if (c.idleTimeoutMs <= c.ackTimeoutMs) {
    out.push(`GAMESTREAM_INGEST_IDLE_TIMEOUT (${fmtMs(c.idleTimeoutMs)}) must be more than GAMESTREAM_INGEST_ACK_TIMEOUT (${fmtMs(c.ackTimeoutMs)}), or a request waiting for Kafka would lose its connection`);
  }
  if (c.headersTimeoutMs > c.requestTimeoutMs) {
    out.push(`GAMESTREAM_INGEST_HEADERS_TIMEOUT (${fmtMs(c.headersTimeoutMs)}) must be at most GAMESTREAM_INGEST_REQUEST_TIMEOUT (${fmtMs(c.requestTimeoutMs)})`);
  }
  if (c.maxEventBytes > c.maxBodyBytes) {
    out.push(`GAMESTREAM_INGEST_MAX_EVENT_BYTES (${c.maxEventBytes}) exceeds GAMESTREAM_INGEST_MAX_BODY_BYTES (${c.maxBodyBytes})`);
  }
  return out;
}

/** One line for logs and the start banner; never contains a key. */
export function describeIngestConfig(c: IngestConfig): string {
  return `topic ${c.topic} at ${c.brokers.join(',')}, body ≤ ${c.maxBodyBytes} B, ≤ ${c.maxBatchEvents} events, ack timeout ${fmtMs(c.ackTimeoutMs)}, ${c.apiKeys.length} API key(s)`;
}
