import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARS, loadConfig } from '../../src/config/schema.ts';
import { allEnvVars } from '../../src/cli/env-vars.ts';

function error(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect((err as { code: string }).code).toBe('config_invalid');
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

describe('config', () => {
  it('has working defaults', () => {
    const c = loadConfig({ GAMESTREAM_WORKERS: '2' });
    expect(c.source).toEqual({ kind: 'generator' });
    expect(c.warehouse.kind).toBe('duckdb');
    expect(c.partitions).toBe(64);
    expect(c.windowSizeMs).toBe(60_000);
    expect(c.maxOutOfOrdernessMs).toBe(10_000);
    expect(c.allowedLatenessMs).toBe(60_000);
    expect(c.idleTimeoutMs).toBe(60_000);
    expect(c.dedupeHorizonMs).toBe(7 * 86_400_000);
    expect(c.dedupeDir).toBe(null);
    expect(c.dedupeFilterBytes).toBe(256 * 1024 * 1024);
    expect(c.maxEventBytes).toBe(1 << 20);
  });

  it('parses sources, durations and sizes', () => {
    const c = loadConfig({ GAMESTREAM_SOURCE: 'file:/tmp/x.avro', GAMESTREAM_WINDOW_SIZE: '5m', GAMESTREAM_MAX_EVENT_BYTES: '512KiB', GAMESTREAM_WORKERS: '1' });
    expect(c.source).toEqual({ kind: 'file', path: '/tmp/x.avro', format: 'avro' });
    expect(c.windowSizeMs).toBe(300_000);
    expect(c.maxEventBytes).toBe(512 * 1024);
  });

  it('names the variable, the value and what is allowed', () => {
    const msg = error({ GAMESTREAM_PARTITIONS: 'lots', GAMESTREAM_WINDOW_SIZE: '1 minute' });
    expect(msg).toContain('GAMESTREAM_PARTITIONS="lots"');
    expect(msg).toContain('a whole number from 1 to 4096');
    expect(msg).toContain('GAMESTREAM_WINDOW_SIZE="1 minute"');
    expect(msg).toContain('a duration such as');
    expect(error({ GAMESTREAM_SOURCE: 'kafka' })).toContain('GAMESTREAM_SOURCE=kafka needs GAMESTREAM_KAFKA_BROKERS');
    expect(error({ GAMESTREAM_KAFKA_BROKERS: 'localhost' })).toContain('"localhost" is not host:port');
    expect(loadConfig({ GAMESTREAM_SOURCE: 'kafka', GAMESTREAM_KAFKA_BROKERS: '127.0.0.1:9092,[::1]:9093', GAMESTREAM_WORKERS: '2' }).kafkaBrokers).toEqual(['127.0.0.1:9092', '[::1]:9093']);
    expect(error({ GAMESTREAM_WAREHOUSE: 'bigquery:p.d' })).toContain('duckdb:<path>');
    expect(error({ GAMESTREAM_LOG_LEVEL: 'loud' })).toContain('trace, debug, info');
  });

  it('refuses a duration without its unit, saying which it could mean; 0 needs none', () => {
    const msg = error({ GAMESTREAM_IDLE_TIMEOUT: '60', GAMESTREAM_WORKERS: '1' });
    expect(msg).toContain('GAMESTREAM_IDLE_TIMEOUT="60" is not valid: expected a duration with its unit: 60s or 60ms?');
    expect(loadConfig({ GAMESTREAM_IDLE_TIMEOUT: '60s', GAMESTREAM_WORKERS: '1' }).idleTimeoutMs).toBe(60_000);
    expect(loadConfig({ GAMESTREAM_PROGRESS_INTERVAL: '0', GAMESTREAM_WORKERS: '1' }).progressIntervalMs).toBe(0);
  });

  it('checks cross-field rules', () => {
    expect(error({ GAMESTREAM_WINDOW_SIZE: '7s', GAMESTREAM_WORKERS: '1' })).toContain('must divide one day');
    expect(error({ GAMESTREAM_PARTITIONS: '2', GAMESTREAM_WORKERS: '4' })).toContain('exceeds GAMESTREAM_PARTITIONS=2');
    expect(error({ GAMESTREAM_IDLE_TIMEOUT: '1s', GAMESTREAM_FLUSH_INTERVAL: '2s', GAMESTREAM_WORKERS: '1' })).toContain('must be longer than GAMESTREAM_FLUSH_INTERVAL');
    expect(error({ GAMESTREAM_TEST_CRASH_WORKER: '3:1', GAMESTREAM_WORKERS: '2' })).toContain('workers are numbered from 0');
  });

  it('refuses a DuckDB memory limit too small for its loads, which would fail every commit, naming the least that works', () => {
    const two = error({ GAMESTREAM_DUCKDB_THREADS: '2', GAMESTREAM_DUCKDB_MEMORY_LIMIT: '64MiB', GAMESTREAM_WORKERS: '1' });
    expect(two).toContain('GAMESTREAM_DUCKDB_MEMORY_LIMIT=64MiB is too small for GAMESTREAM_DUCKDB_THREADS=2 and GAMESTREAM_MAX_EVENT_BYTES=1MiB');
    expect(two).toContain('at least 96MiB');
    expect(loadConfig({ GAMESTREAM_DUCKDB_THREADS: '2', GAMESTREAM_DUCKDB_MEMORY_LIMIT: '96MiB', GAMESTREAM_WORKERS: '1' }).duckdbMemoryLimit).toBe(96 * 2 ** 20);
    // 32 MiB events with the default 128 MiB: DuckDB's reader wants a 130 MiB buffer for them.
    expect(error({ GAMESTREAM_MAX_EVENT_BYTES: '32MiB', GAMESTREAM_WORKERS: '1' })).toContain('at least 162MiB');
    expect(loadConfig({ GAMESTREAM_DUCKDB_MEMORY_LIMIT: '64MiB', GAMESTREAM_WORKERS: '1' }).duckdbMemoryLimit).toBe(64 * 2 ** 20);
    // BigQuery runs no DuckDB.
    expect(loadConfig({ GAMESTREAM_WAREHOUSE: 'bigquery:my-project.game_analytics', GAMESTREAM_DUCKDB_THREADS: '2', GAMESTREAM_DUCKDB_MEMORY_LIMIT: '64MiB', GAMESTREAM_WORKERS: '1' }).duckdbThreads).toBe(2);
  });

  it('docs/OPERATIONS.md documents every env var: the daemon\'s, the tracking server\'s and the ETL\'s', () => {
    const ops = readFileSync(new URL('../../docs/OPERATIONS.md', import.meta.url), 'utf8');
    for (const v of allEnvVars()) expect(ops, v.name).toContain(`\`${v.name}\``);
    // One table row per variable: a row pasted twice (as once happened) reads as two settings.
    for (const v of allEnvVars()) expect(ops.split('\n').filter((l) => l.startsWith(`| \`${v.name}\` |`)), v.name).toHaveLength(1);
    expect(allEnvVars().length).toBeGreaterThan(ENV_VARS.length + 10);
  });
});
