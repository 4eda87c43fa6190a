import { describe, expect, it } from 'vitest';
import { CheckpointDeltas } from '../../src/observability/checkpoint-deltas.ts';
import { OffsetGaps } from '../../src/sources/offset-gaps.ts';
import { loadObservabilityConfig } from '../../src/observability/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import type { Checkpoint } from '../../src/contract/checkpoint.ts';
import { sampleValue } from './prom-text.ts';

const cp = (partition: number, nextOffset: number, events: number, deadLetters: number, duplicates = 0, lateEvents = 0, windowRows = 0): Checkpoint => ({
  partition, nextOffset, maxEventMs: null, watermarkMs: null, closedThroughMs: null, provisionalFromMs: null, provisionalToMs: null, events, deadLetters, duplicates, lateEvents, windowRows,
});

describe('Metrics', () => {
  it('counts committed data exactly after a sequence of calls', async () => {
    let now = 1_700_000_000_000;
    const m = new Metrics({ now: () => now, defaultMetrics: false });
    m.recordCommit({
      durationMs: 120,
      partitions: [
        { partition: 0, recordsIn: 100, eventsWritten: 95, deadLetters: 3, duplicates: 2, lateEvents: 1, windowRows: 4 },
        { partition: 1, recordsIn: 50, eventsWritten: 50, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 2 },
      ],
      deadLettersByCode: { parse_error: 2, missing_fields: 1 },
      bytesByTable: { events: 10_000, dlq: 300 },
      windowEmitLatencyMs: [65_000, 70_000],
    });
    now += 1000;
    m.recordCommit({
      durationMs: 30,
      partitions: [{ partition: 0, recordsIn: 10, eventsWritten: 9, deadLetters: 1, duplicates: 0, lateEvents: 0, windowRows: 0 }],
      deadLettersByCode: { parse_error: 1 },
    });
    m.recordCommit({ durationMs: 5, partitions: [{ partition: 2, recordsIn: 4, eventsWritten: 2, deadLetters: 2, duplicates: 0, lateEvents: 0, windowRows: 0 }] });
    m.setLag(0, 1234);
    m.setLag(1, 66);
    m.setLag(7, 5);
    m.retainLagPartitions([0, 1]);
    m.kafkaFetch(500);
    m.kafkaFetch(0);
    m.kafkaOffsetCommit();
    m.rebalance();
    m.setEngineWatermark(now - 42_000);
    m.setOpenWindows(17);
    m.sinkFlush({ sink: 'kafka_enriched', durationMs: 12, rowsByTable: { events: 9 }, bytesByTable: { events: 900 } });
    m.sinkRetry('warehouse');
    m.sinkRejectedRows('kafka_enriched', 2);
    m.setMailboxDepth(0, 3);
    m.workerRestarted(1);
    m.workerRestarted(1);
    m.setEventLoopLag('main', 0.012);
    m.setEtlEnabled(true);
    m.etlTask({ task: 'compute_level_metrics', status: 'success', durationMs: 2000 });
    m.etlTask({ task: 'dag', status: 'failed', durationMs: 5000 });
    m.ingestRequest({ status: 202, durationMs: 4, events: 10 });
    m.ingestRequest({ status: 401, durationMs: 1, rejectReason: 'bad_api_key' });

    const t = await m.text();
    const v = (s: string) => sampleValue(t, s);
    expect(v('gamestream_records_in_total{partition="0"}')).toBe(110);
    expect(v('gamestream_records_in_total{partition="1"}')).toBe(50);
    expect(v('gamestream_records_in_total{partition="2"}')).toBe(4);
    expect(v('gamestream_events_written_total{partition="0"}')).toBe(104);
    expect(v('gamestream_dead_letters_total{code="parse_error"}')).toBe(3);
    expect(v('gamestream_dead_letters_total{code="missing_fields"}')).toBe(1);
    expect(v('gamestream_dead_letters_total{code="unclassified"}')).toBe(2);
    expect(v('gamestream_duplicates_dropped_total{partition="0"}')).toBe(2);
    expect(v('gamestream_late_events_total{partition="0"}')).toBe(1);
    expect(v('gamestream_window_rows_written_total')).toBe(6);
    expect(v('gamestream_warehouse_commits_total')).toBe(3);
    expect(v('gamestream_sink_rows_total{sink="warehouse",table="events"}')).toBe(156);
    expect(v('gamestream_sink_rows_total{sink="warehouse",table="dlq"}')).toBe(6);
    expect(v('gamestream_sink_bytes_total{sink="warehouse",table="events"}')).toBe(10_000);
    expect(v('gamestream_sink_rows_total{sink="kafka_enriched",table="events"}')).toBe(9);
    expect(v('gamestream_sink_flush_duration_seconds_count{sink="warehouse"}')).toBe(3);
    expect(v('gamestream_sink_flush_duration_seconds_sum{sink="warehouse"}')).toBeCloseTo(0.155, 6);
    expect(v('gamestream_window_emit_latency_seconds_count')).toBe(2);
    expect(v('gamestream_kafka_consumer_lag{partition="0"}')).toBe(1234);
    expect(v('gamestream_kafka_consumer_lag{partition="7"}')).toBeUndefined();
    expect(v('gamestream_kafka_fetches_total')).toBe(2);
    expect(v('gamestream_kafka_fetched_records_total')).toBe(500);
    expect(v('gamestream_kafka_offset_commits_total')).toBe(1);
    expect(v('gamestream_kafka_rebalances_total')).toBe(1);
    expect(v('gamestream_watermark_delay_seconds')).toBe(42);
    expect(v('gamestream_open_windows')).toBe(17);
    expect(v('gamestream_sink_retries_total{sink="warehouse"}')).toBe(1);
    expect(v('gamestream_sink_rejected_rows_total{sink="kafka_enriched"}')).toBe(2);
    expect(v('gamestream_mailbox_depth{worker="0"}')).toBe(3);
    expect(v('gamestream_worker_restarts_total{worker="1"}')).toBe(2);
    expect(v('gamestream_event_loop_lag_seconds{thread="main"}')).toBe(0.012);
    expect(v('gamestream_etl_task_runs_total{task="dag",status="failed"}')).toBe(1);
    expect(v('gamestream_etl_last_run_success{task="dag"}')).toBe(0);
    expect(v('gamestream_etl_last_success_timestamp_seconds{task="compute_level_metrics"}')).toBe(now / 1000);
    expect(v('gamestream_ingest_requests_total{status="202"}')).toBe(1);
    expect(v('gamestream_ingest_events_total')).toBe(10);
    expect(v('gamestream_ingest_rejects_total{reason="bad_api_key"}')).toBe(1);
    expect(v('gamestream_last_record_timestamp_seconds')).toBe(now / 1000);
    expect(v('gamestream_processor_failed')).toBe(0);

    const s = m.state();
    expect([s.recordsIn, s.eventsWritten, s.deadLetters, s.duplicates, s.lateEvents, s.windowRows]).toEqual([164, 156, 6, 2, 1, 6]);
    m.processorFailed('crash_loop');
    expect(sampleValue(await m.text(), 'gamestream_processor_failed')).toBe(1);
    expect(m.state().fatal?.code).toBe('crash_loop');
  });

  it('keeps labels low-cardinality and uses its own registry', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.sinkRetry('some sink with spaces and {braces}');
    b.kafkaOffsetCommit();
    const ta = await a.text();
    expect(ta).toContain('gamestream_sink_retries_total{sink="other"} 1');
    expect(sampleValue(ta, 'gamestream_kafka_offset_commits_total')).toBe(0);
  });

  it('includes process metrics unless turned off', async () => {
    const t = await new Metrics().text();
    expect(t).toContain('gamestream_process_cpu_seconds_total');
  });
});

describe('CheckpointDeltas', () => {
  it('derives exact per-commit deltas from cumulative checkpoints, replays count zero', () => {
    const d = new CheckpointDeltas([cp(0, 1000, 900, 10)]);
    expect(d.next([cp(0, 1100, 990, 12, 3, 1, 2), cp(1, 40, 39, 1)])).toEqual([
      { partition: 0, recordsIn: 100, eventsWritten: 90, deadLetters: 2, duplicates: 3, lateEvents: 1, windowRows: 2 },
      { partition: 1, recordsIn: 40, eventsWritten: 39, deadLetters: 1, duplicates: 0, lateEvents: 0, windowRows: 0 },
    ]);
    // The same checkpoint again (a replay after a worker restart) adds nothing.
    expect(d.next([cp(0, 1100, 990, 12, 3, 1, 2)])).toEqual([]);
  });

  it('leaves out the offsets a log deleted before they were read (a Kafka topic\'s retention)', () => {
    const gaps = new OffsetGaps();
    const d = new CheckpointDeltas([cp(0, 1000, 900, 10)], gaps);
    // Partition 0 resumed at 1000, its log then started at 5000; partition 1 had no checkpoint and its log starts at 700.
    gaps.add(0, 1000, 5000);
    gaps.add(1, 0, 700);
    expect(d.next([cp(0, 5100, 990, 10), cp(1, 740, 40, 0)]).map((x) => [x.partition, x.recordsIn])).toEqual([[0, 100], [1, 40]]);
    expect(d.next([cp(0, 5200, 1090, 10)]).map((x) => x.recordsIn)).toEqual([100]);
  });

  it('leaves out offsets that hold no record (a transaction marker after every 9 records), and forgets them once passed', () => {
    const gaps = new OffsetGaps();
    const d = new CheckpointDeltas([], gaps);
    let events = 0;
    for (let commit = 1; commit <= 1000; commit++) {
      // Each commit: 10 transactions of 9 records and a marker; the checkpoint is after the last record.
      for (let t = 0; t < 10; t++) gaps.add(0, (commit - 1) * 100 + t * 10 + 9, (commit - 1) * 100 + t * 10 + 10);
      events += 90;
      const [delta] = d.next([cp(0, commit * 100 - 1, events, 0)]);
      expect(delta!.recordsIn).toBe(90);
    }
    // Only the ranges from the previous checkpoint on are kept: a marker per transaction does not pile up.
    expect(gaps.within(0, 0, 1e9)).toBeLessThanOrEqual(20);
    expect(gaps.within(0, 99_899, 1e9)).toBe(gaps.within(0, 0, 1e9));
  });
});

describe('loadObservabilityConfig', () => {
  it('has defaults', () => {
    const c = loadObservabilityConfig({});
    expect(c).toMatchObject({ metricsPort: 9464, metricsHost: '127.0.0.1', alertWebhook: null, alertLagMessages: 100_000, alertDlqRatio: 0.01, alertDlqWindowMs: 60_000, alertNoEventsMs: 3_600_000 });
  });

  it('names every bad variable, its value and what is allowed, hiding the webhook', () => {
    let msg = '';
    try {
      loadObservabilityConfig({ GAMESTREAM_METRICS_PORT: '70000', GAMESTREAM_ALERT_DLQ_RATIO: '2', GAMESTREAM_ALERT_WEBHOOK: 'ftp://secret-token@x' });
    } catch (err) {
      expect((err as { code: string }).code).toBe('config_invalid');
      msg = (err as Error).message;
    }
    expect(msg).toContain('GAMESTREAM_METRICS_PORT="70000" is not valid: expected a port from 0 to 65535');
    expect(msg).toContain('GAMESTREAM_ALERT_DLQ_RATIO="2" is not valid');
    expect(msg).toContain('GAMESTREAM_ALERT_WEBHOOK=<hidden> is not valid');
    expect(msg).not.toContain('secret-token');
    expect(loadObservabilityConfig({ GAMESTREAM_METRICS_PORT: 'off' }).metricsPort).toBeNull();
  });
});
