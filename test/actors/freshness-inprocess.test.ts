/**
 * The daemon's freshness metric end to end, in process: after a run over a small source every record it read is
 * one observation of gamestream_event_freshness_seconds (good events, dead letters and dropped duplicates alike),
 * each between 0 and the run's length.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Supervisor } from '../../src/actors/supervisor.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { IdIndex } from '../../src/dedupe/id-index.ts';
import { TableFiles } from '../../src/enrich/tables.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { DuckDbWarehouse } from '../../src/sinks/duckdb/duckdb-warehouse.ts';
import { MemorySource, traffic } from '../support/memory-source.ts';
import { sampleValue } from '../observability/prom-text.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-fresh-inproc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('event freshness, in process', { timeout: 60_000 }, () => {
  it('observes every record read once, with a time between 0 and the run\'s length', async () => {
    const wh = join(dir, 'f.duckdb');
    const config = loadConfig({
      GAMESTREAM_WAREHOUSE: `duckdb:${wh}`, GAMESTREAM_PARTITIONS: '4', GAMESTREAM_WORKERS: '2', GAMESTREAM_GEOIP_DB: 'off',
      GAMESTREAM_DEVICE_TABLE: 'off', GAMESTREAM_IDLE_TIMEOUT: '1h', GAMESTREAM_PROGRESS_INTERVAL: '0', GAMESTREAM_BATCH_RECORDS: '40',
      GAMESTREAM_FLUSH_INTERVAL: '100ms',
    });
    const log = pino({ level: 'silent' });
    const metrics = new Metrics({ defaultMetrics: false });
    const started = Date.now();
    const sup = new Supervisor({
      config, source: new MemorySource(traffic(), { name: 'memory:fresh', delayMs: 20 }), // a source that trickles
      warehouse: new DuckDbWarehouse({ path: wh, source: 'memory:fresh', maxEventBytes: config.maxEventBytes }),
      tables: await TableFiles.open({ geoipPath: null, devicePath: null }), spoolDir: mkdtempSync(join(dir, 'spool-')), log, say: () => undefined, metrics,
      index: new IdIndex({ dir: `${wh}.dedupe`, setting: 'GAMESTREAM_DEDUPE_DIR', horizonMs: config.dedupeHorizonMs, filterBytes: config.dedupeFilterBytes, log }),
    });
    const t = await sup.run();
    const elapsed = (Date.now() - started) / 1000;
    const text = await metrics.text();
    const v = (s: string) => sampleValue(text, s) ?? NaN;
    expect(t.events + t.deadLetters + t.duplicates).toBe(600);
    expect(v('gamestream_event_freshness_seconds_count')).toBe(600);
    expect(v('gamestream_event_freshness_seconds_count')).toBe(v('gamestream_records_in_total{partition="0"}') + v('gamestream_records_in_total{partition="1"}') +
      v('gamestream_records_in_total{partition="2"}') + v('gamestream_records_in_total{partition="3"}'));
    const mean = v('gamestream_event_freshness_seconds_sum') / 600;
    expect(mean).toBeGreaterThan(0);
    expect(mean).toBeLessThan(elapsed);
    expect(v('gamestream_event_freshness_seconds_bucket{le="+Inf"}')).toBe(600);
    // A trickling source flushed every 100 ms: most records are queryable well within a second.
    expect(v('gamestream_event_freshness_seconds_bucket{le="1"}')).toBeGreaterThan(300);
    expect(v('gamestream_window_emit_latency_seconds_count')).toBeGreaterThan(0);
  });
});
