// The BigQuery warehouse against the real emulator, one method at a time: commits split into many requests
// and parallel streams land exactly once, rows BigQuery cannot take become dead letters, checkpoints and the
// restore state read back as written, and the status view reads the tables.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Checkpoint } from '../../../src/contract/checkpoint.ts';
import type { CommittedId } from '../../../src/sinks/sink.ts';
import { BigQueryWarehouse } from '../../../src/sinks/bigquery/bigquery-warehouse.ts';
import { readBigQueryStatusView } from '../../../src/sinks/bigquery/status-view.ts';
import { emulatorClients, freshDataset, type FreshDataset } from '../../support/bigquery/client.ts';

const ctx = inject('bigquery');
const SOURCE = 'file:/test/input.ndjson';
const T0 = Date.UTC(2026, 10, 20, 10, 0, 0);
let bq: BigQuery;
let dir: string;
const datasets: FreshDataset[] = [];

beforeAll(() => {
  bq = emulatorClients(ctx).bq;
  dir = mkdtempSync(join(tmpdir(), 'gamestream-bqwh-'));
});

afterAll(async () => {
  for (const d of datasets) await d.cleanup().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function warehouse(prefix: string, extra: Partial<ConstructorParameters<typeof BigQueryWarehouse>[0]> = {}): Promise<{ wh: BigQueryWarehouse; id: string }> {
  const d = await freshDataset(bq, prefix);
  datasets.push(d);
  const wh = new BigQueryWarehouse({
    target: { project: ctx.project, dataset: d.id, endpoint: ctx.restEndpoint, writeEndpoint: ctx.writeEndpoint, location: 'US' },
    source: SOURCE,
    tables: { partitionExpirationDays: 365, requirePartitionFilter: true },
    writers: 1, encodeThreads: 1, maxRequestBytes: 8 << 20, timeoutMs: 20_000, retryForMs: 20_000,
    ...extra,
  });
  await wh.open();
  return { wh, id: d.id };
}

function eventLine(i: number, partition: number, userId: string | null = `u${i % 7}`): object {
  const ts = T0 + i * 1000;
  return {
    event_id: `e-${partition}-${i}`, user_id: userId, session_id: 's', event_type: 1001 + (i % 3), event_name: 'level_start', ts_ms: ts,
    event_date: new Date(ts).toISOString().slice(0, 10), event_hour: new Date(ts).getUTCHours(), day_of_week: new Date(ts).getUTCDay(),
    parameters: { level_id: i % 5, note: 'x'.repeat(200) }, platform: 'ios', app_version: '1.0', country: 'DE', region: null, city: null,
    device_model: 'iPhone', device_category: 'phone', device_tier: 'high', source_partition: partition, source_offset: i,
  };
}

function writeLines(name: string, lines: object[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return path;
}

/** A second daemon's warehouse on the same dataset (another writer id), opened. */
async function secondDaemon(id: string, member?: string): Promise<BigQueryWarehouse> {
  const b = new BigQueryWarehouse({
    target: { project: ctx.project, dataset: id, endpoint: ctx.restEndpoint, writeEndpoint: ctx.writeEndpoint, location: 'US' },
    source: SOURCE, tables: { partitionExpirationDays: 365, requirePartitionFilter: true },
    writers: 1, encodeThreads: 0, maxRequestBytes: 8 << 20, timeoutMs: 20_000, retryForMs: 20_000, ...(member ? { member: () => member } : {}),
  });
  await b.open();
  return b;
}

function checkpoint(partition: number, nextOffset: number, events: number, extra: Partial<Checkpoint> = {}): Checkpoint {
  return {
    partition, nextOffset, maxEventMs: T0 + (nextOffset - 1) * 1000, watermarkMs: T0, closedThroughMs: T0 - 60_000,
    provisionalFromMs: null, provisionalToMs: null, events, deadLetters: 0, duplicates: 0, lateEvents: 0, windowRows: 0, ...extra,
  };
}

async function scalar(id: string, sql: string): Promise<number> {
  const [rows] = await bq.query(sql.replaceAll('{ds}', `\`${ctx.project}.${id}\``));
  return Number(Object.values(rows[0] as object)[0]);
}

describe('BigQueryWarehouse', () => {
  it('commits user states with the events and reads them back merged, the earliest of each time winning', async () => {
    const { wh, id } = await warehouse('wh_users');
    try {
      const events = writeLines('users-ev.ndjson', [{ ...eventLine(0, 1, 'a'), is_paying_user: true, days_since_install: 3 }]);
      const first = writeLines('users-1.ndjson', [
        { user_id: 'a', install_ms: null, first_seen_ms: T0, first_paid_ms: null, source_partition: 1 },
        { user_id: 'b', install_ms: T0 - 5000, first_seen_ms: T0 - 5000, first_paid_ms: T0, source_partition: 2 },
      ]);
      await wh.commit({ files: [{ events, dlq: null, agg: null, aggUpdates: null, users: first }], checkpoints: [checkpoint(1, 1, 1)], engineWatermarkMs: null, endOfInput: false });
      const second = writeLines('users-2.ndjson', [{ user_id: 'a', install_ms: T0 + 9000, first_seen_ms: T0 - 1000, first_paid_ms: T0 + 9000, source_partition: 1 }]);
      await wh.commit({ files: [{ events: null, dlq: null, agg: null, aggUpdates: null, users: second }], checkpoints: [checkpoint(1, 2, 1)], engineWatermarkMs: null, endOfInput: false });
      const got = (await wh.readUserStates(['a', 'b', 'nobody'])).sort((x, y) => x.userId.localeCompare(y.userId));
      expect(got).toEqual([
        { userId: 'a', installMs: T0 + 9000, firstSeenMs: T0 - 1000, firstPaidMs: T0 + 9000 },
        { userId: 'b', installMs: T0 - 5000, firstSeenMs: T0 - 5000, firstPaidMs: T0 },
      ]);
      expect(await wh.countUsers()).toBe(2);
      const some: string[] = [];
      await wh.readUserIds({ source: SOURCE, partitions: [2] }, (ids) => some.push(...ids));
      expect(some).toEqual(['b']);
      const [restore] = await wh.loadRestore(SOURCE, [checkpoint(2, 1, 1)], { windowSizeMs: 60_000, usersPerPartition: 5 });
      expect(restore!.users).toEqual([{ userId: 'b', installMs: T0 - 5000, firstSeenMs: T0 - 5000, firstPaidMs: T0 }]);
      expect(await scalar(id, `SELECT UNIX_MILLIS(first_seen_at) FROM {ds}.users WHERE user_id = 'a'`)).toBe(T0 - 1000);
      expect(await scalar(id, `SELECT days_since_install FROM {ds}.events WHERE event_date >= '2000-01-01' AND is_paying_user`)).toBe(3);
    } finally {
      await wh.close();
    }
  });

  it('splits a large commit into many requests over parallel streams, and every row lands exactly once', async () => {
    // 256 KiB requests and three streams: 3,000 rows of ~700 bytes need about eight requests.
    const { wh, id } = await warehouse('wh_split', { maxRequestBytes: 256 * 1024, writers: 3 });
    let requests = 0;
    const lines = Array.from({ length: 3000 }, (_, i) => eventLine(i, 1));
    const file = writeLines('split.ndjson', lines);
    (wh as unknown as { ctx: { onRequest?: () => void } }).ctx.onRequest = () => void requests++;
    // The last record's fingerprint at its largest (2^32 - 1) and the window size: read back as written.
    const written = checkpoint(1, 3000, 3000, { lastRecordHash: 4294967295, windowSizeMs: 60_000 });
    await wh.commit({ files: [{ events: file, dlq: null, agg: null, aggUpdates: null }], checkpoints: [written], engineWatermarkMs: T0, endOfInput: false });
    expect(requests).toBeGreaterThanOrEqual(6);
    expect(await scalar(id, "SELECT COUNT(*) FROM {ds}.events WHERE event_date >= '2000-01-01'")).toBe(3000);
    expect(await scalar(id, "SELECT COUNT(DISTINCT event_id) FROM {ds}.events WHERE event_date >= '2000-01-01'")).toBe(3000);
    const cps = await wh.loadCheckpoints(SOURCE);
    expect(cps.get(1)).toEqual(written);
    await wh.close();
  });

  it('a row BigQuery cannot take goes to events_dlq as warehouse_rejected with the row, and the rest are written', async () => {
    const { wh, id } = await warehouse('wh_reject');
    const file = writeLines('reject.ndjson', [eventLine(0, 2), eventLine(1, 2, null), eventLine(2, 2)]);
    await wh.commit({ files: [{ events: file, dlq: null, agg: null, aggUpdates: null }], checkpoints: [checkpoint(2, 3, 3)], engineWatermarkMs: null, endOfInput: false });
    expect(await scalar(id, "SELECT COUNT(*) FROM {ds}.events WHERE event_date >= '2000-01-01'")).toBe(2);
    const [dlq] = await bq.query(`SELECT error_code, stage, raw_message, source_partition, source_offset FROM \`${ctx.project}.${id}.events_dlq\` WHERE received_at >= '2000-01-01'`);
    expect(dlq).toHaveLength(1);
    const row = dlq[0] as { error_code: string; stage: string; raw_message: string; source_partition: number; source_offset: number };
    expect(row.error_code).toBe('warehouse_rejected');
    expect(row.stage).toBe('warehouse');
    expect(JSON.parse(row.raw_message)).toMatchObject({ event_id: 'e-2-1', user_id: null });
    expect([Number(row.source_partition), Number(row.source_offset)]).toEqual([2, 1]);
    await wh.close();
  });

  it('reports the rows it refused once the commit is durable, not for an attempt that failed first', async () => {
    const refused: [string, number][] = [];
    const { wh, id } = await warehouse('wh_reject_once', { onRejected: (table, n) => refused.push([table, n]) });
    const events = writeLines('reject-once.ndjson', [eventLine(0, 4), eventLine(1, 4, null)]);
    // A dead letter BigQuery cannot take either fails the whole attempt: nothing is committed.
    const badLetter = writeLines('bad-letter.ndjson', [{ error_code: null, error: 'x', stage: 'decode', raw_message: 'x', raw_encoding: 'utf8', source_partition: 4, source_offset: 9, received_at_ms: T0 }]);
    await expect(wh.commit({ files: [{ events, dlq: badLetter, agg: null, aggUpdates: null }], checkpoints: [checkpoint(4, 2, 2)], engineWatermarkMs: null, endOfInput: false }))
      .rejects.toMatchObject({ code: 'warehouse_write_failed' });
    expect(refused).toEqual([]);
    await wh.commit({ files: [{ events, dlq: null, agg: null, aggUpdates: null }], checkpoints: [checkpoint(4, 2, 2)], engineWatermarkMs: null, endOfInput: false });
    expect(refused).toEqual([['events', 1]]);
    expect(await scalar(id, "SELECT COUNT(*) FROM {ds}.events WHERE event_date >= '2000-01-01'")).toBe(1);
    await wh.close();
  });

  it('reads back committed ids for the dedupe index and restores the counts of windows still open, per partition', async () => {
    const { wh, id } = await warehouse('wh_restore');
    // Partition 3: 120 events one second apart from T0; windows before T0+60s are closed.
    const lines = Array.from({ length: 120 }, (_, i) => eventLine(i, 3));
    const file = writeLines('restore.ndjson', lines);
    const cp = checkpoint(3, 120, 120, { maxEventMs: T0 + 119_000, closedThroughMs: T0 + 60_000 });
    await wh.commit({ files: [{ events: file, dlq: null, agg: null, aggUpdates: null }], checkpoints: [cp], engineWatermarkMs: T0 + 60_000, endOfInput: false });
    const [restore] = await wh.loadRestore(SOURCE, [cp], { windowSizeMs: 60_000 });
    // The dedupe index reads back ids by offset range and event time: offsets 10..99 from T0+89s on are 89..99.
    const ids: CommittedId[] = [];
    await wh.readCommittedIds([
      { source: SOURCE, partition: 3, fromOffset: 10, toOffset: 100, anchorMs: T0 + 9_500, minSeenMs: T0 + 89_000 },
      { source: 'other', partition: 3, fromOffset: 0, toOffset: 120, anchorMs: null, minSeenMs: 0 },
    ], (rows) => ids.push(...rows));
    expect(ids.map((r) => r.offset).sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => 89 + i));
    expect(ids[0]).toMatchObject({ source: SOURCE, partition: 3 });
    const byOffset = new Map(ids.map((r) => [r.offset, r]));
    // Seen: the running max of event times from the anchor on (events here are in time order).
    expect(byOffset.get(95)).toMatchObject({ id: (lines[95] as { event_id: string }).event_id, seenMs: T0 + 95_000 });
    // An anchor above the range's event times: every event of it was seen then.
    const anchored: CommittedId[] = [];
    await wh.readCommittedIds([{ source: SOURCE, partition: 3, fromOffset: 0, toOffset: 3, anchorMs: T0 + 200_000, minSeenMs: 0 }], (rows) => anchored.push(...rows));
    expect(anchored.map((r) => r.seenMs)).toEqual([T0 + 200_000, T0 + 200_000, T0 + 200_000]);
    // The warehouse's identity is stable while the dataset lives.
    expect(await wh.identity()).toBe(await wh.identity());
    expect(await wh.committedPositions()).toEqual([{ source: SOURCE, partition: 3, nextOffset: 120, maxEventMs: T0 + 119_000 }]);
    // Open windows: T0+60s..T0+120s, by event type and level, counted exactly.
    const want = new Map<string, number>();
    for (let i = 60; i < 120; i++) {
      const k = `${T0 + 60_000}|${1001 + (i % 3)}|${i % 5}`;
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    const got = new Map(restore!.windows.map((w) => [`${w.windowStart}|${w.eventType}|${w.levelId}`, w.count]));
    expect(got).toEqual(want);
    const view = await readBigQueryStatusView(bq, `\`${ctx.project}.${id}\``, T0 + 3_600_000);
    expect(view.volume24h.events.reduce((a, b) => a + b, 0)).toBe(120);
    await wh.close();
  });

  it('two daemons on one dataset: the watermark view is the lower of their watermarks, and a release hides nothing', async () => {
    const { wh: a, id } = await warehouse('wh_two');
    const b = await secondDaemon(id);
    // The lagging daemon commits first: the newest commit is not the answer.
    await b.commit({ files: [], checkpoints: [checkpoint(1, 10, 10)], engineWatermarkMs: T0 + 60_000, endOfInput: false });
    await a.commit({ files: [], checkpoints: [checkpoint(0, 10, 10)], engineWatermarkMs: T0 + 600_000, endOfInput: false });
    await a.shared.release(SOURCE, [checkpoint(0, 10, 10)]);
    const [rows] = await bq.query(`SELECT UNIX_MILLIS(watermark) AS w, end_of_input FROM \`${ctx.project}.${id}.gamestream_watermarks\``);
    expect(rows).toEqual([{ w: T0 + 60_000, end_of_input: false }]);
    // The released partition is free for b at once; b's own partition needs no wait either.
    let waited = false;
    await b.shared.awaitRelease(SOURCE, [0, 1], { graceMs: 60_000, onWait: () => (waited = true) });
    expect(waited).toBe(false);
    await a.close();
    await b.close();
  });

  it('a run stopped midway and then finished by another run: the watermark view says the input ended, at the later watermark', async () => {
    const { wh: first, id } = await warehouse('wh_rerun');
    // A file run interrupted (Ctrl-C): its last commit has a low watermark and no end of input.
    await first.commit({ files: [], checkpoints: [checkpoint(0, 10, 10)], engineWatermarkMs: T0 + 60_000, endOfInput: false });
    await first.close();
    // The next run of the same source (another writer id) reads it to its end.
    const second = await secondDaemon(id);
    await second.commit({ files: [], checkpoints: [checkpoint(0, 20, 20)], engineWatermarkMs: T0 + 600_000, endOfInput: true });
    const [rows] = await bq.query(`SELECT UNIX_MILLIS(watermark) AS w, end_of_input FROM \`${ctx.project}.${id}.gamestream_watermarks\``);
    expect(rows).toEqual([{ w: T0 + 600_000, end_of_input: true }]);
    // A writer still committing after an end of input (another daemon of a group) still counts.
    const third = await secondDaemon(id, 'member-3');
    await third.commit({ files: [], checkpoints: [checkpoint(1, 5, 5)], engineWatermarkMs: T0 + 120_000, endOfInput: false });
    const [after] = await bq.query(`SELECT UNIX_MILLIS(watermark) AS w, end_of_input FROM \`${ctx.project}.${id}.gamestream_watermarks\``);
    expect(after).toEqual([{ w: T0 + 120_000, end_of_input: false }]);
    await second.close();
    await third.close();
  });

  it('cleans up the commit log: old rows go, each partition keeps its latest, the checkpoints stay the same', async () => {
    // The clean-up the warehouse runs by itself at open must be over before the old rows go in.
    let opened!: () => void;
    const firstCleanUp = new Promise<void>((r) => (opened = r));
    const { wh, id } = await warehouse('wh_compact', { onCompacted: () => opened() });
    await firstCleanUp;
    const old = (partition: number, nextOffset: number, daysAgo: number): Record<string, unknown> => ({
      commit_id: `old-${partition}-${nextOffset}`, source: SOURCE, writer: 'an-earlier-daemon',
      committed_at: new Date(Date.now() - daysAgo * 86_400_000).toISOString(), streams: [], engine_watermark: null,
      end_of_input: false, source_partition: partition, next_offset: nextOffset, max_event_ms: null, watermark_ms: null,
      closed_through_ms: null, events: nextOffset, dead_letters: 0, duplicates: 0, late_events: 0, window_rows: 0,
    });
    // Partition 0: three old rows, then a recent commit. Partition 5: one old row, its latest.
    await bq.dataset(id).table('gamestream_commits').insert([old(0, 10, 5), old(0, 20, 4), old(0, 30, 3), old(5, 7, 6)]);
    await wh.commit({ files: [], checkpoints: [checkpoint(0, 40, 40)], engineWatermarkMs: null, endOfInput: false });
    const before = await wh.loadCheckpoints(SOURCE);
    expect(await wh.compactCommitLog()).toBe(3);
    const [rows] = await bq.query(`SELECT commit_id FROM \`${ctx.project}.${id}.gamestream_commits\` WHERE source_partition IS NOT NULL ORDER BY commit_id`);
    expect((rows as { commit_id: string }[]).map((r) => r.commit_id).filter((c) => c.startsWith('old-'))).toEqual(['old-5-7']);
    expect(await wh.loadCheckpoints(SOURCE)).toEqual(before);
    await wh.close();
  });

  it('a commit record that lands after another daemon claimed the partition ranks below its rows and is not made visible', async () => {
    const { wh: a, id } = await warehouse('wh_late', { member: () => 'member-a' });
    const b = await secondDaemon(id, 'member-b');
    // What the daemon's ownership does at a commit point: stop when another daemon claimed the partition since.
    const fenceOf = (wh: BigQueryWarehouse) => async (): Promise<void> => {
      const taken = await wh.shared.fencedPartitions(SOURCE, [4]);
      if (taken.length > 0) throw new Error(`fenced: ${taken.join(',')}`);
    };
    await a.shared.claim(SOURCE, [4]);
    expect((await a.loadCheckpoints(SOURCE, [4])).get(4)).toBeUndefined();
    await a.shared.resumeFrom(SOURCE, [checkpoint(4, 0, 0)]);
    await a.commit({ files: [], checkpoints: [checkpoint(4, 10, 10)], engineWatermarkMs: null, endOfInput: false, fence: fenceOf(a) });
    // b takes the partition over at offset 10; a, stalled, then appends its next record (offsets 10–29), which
    // lands after b's claim.
    await b.shared.claim(SOURCE, [4]);
    expect((await b.loadCheckpoints(SOURCE, [4])).get(4)?.nextOffset).toBe(10);
    const events = writeLines('late.ndjson', Array.from({ length: 20 }, (_, i) => eventLine(10 + i, 4)));
    const late = await a.commit({
      files: [{ events, dlq: null, agg: null, aggUpdates: null }], checkpoints: [checkpoint(4, 30, 30)], engineWatermarkMs: null, endOfInput: false, fence: fenceOf(a),
    }).then(() => 'committed', (e: Error) => e.message);
    expect(late).toBe('fenced: 4');
    const visible = (): Promise<number> => scalar(id, `SELECT COUNT(*) FROM {ds}.events WHERE event_date >= '2000-01-01' AND source_partition = 4`);
    expect(await visible()).toBe(0);
    // Until b records where it resumes, the late record is the partition's latest row with a position. Contested by
    // b's claim, it is neither finished by a daemon that did not claim the partition (a start of a group daemon)
    // nor counted by the dedupe index's positions beyond the commit before it.
    await b.loadCheckpoints(SOURCE, []);
    expect(await visible()).toBe(0);
    expect((await b.committedPositions()).find((p) => p.partition === 4)?.nextOffset).toBe(10);
    await b.shared.resumeFrom(SOURCE, [checkpoint(4, 10, 10)]);
    expect(await b.shared.fencedPartitions(SOURCE, [4])).toEqual([]);
    // The late record is in the log, further than b's rows, yet b's rows stay the partition's latest everywhere.
    const [log] = await bq.query(`SELECT next_offset, claim_epoch FROM \`${ctx.project}.${id}.gamestream_commits\` WHERE source_partition = 4 AND next_offset = 30`);
    expect(log).toEqual([{ next_offset: 30, claim_epoch: 1 }]);
    expect((await b.loadCheckpoints(SOURCE, [4])).get(4)?.nextOffset).toBe(10);
    expect((await b.committedPositions()).find((p) => p.partition === 4)?.nextOffset).toBe(10);
    const [view] = await bq.query(`SELECT next_offset FROM \`${ctx.project}.${id}.gamestream_checkpoints\` WHERE source_partition = 4`);
    expect(view).toEqual([{ next_offset: 10 }]);
    // b's own next commit is the latest, read by anyone.
    await b.commit({ files: [], checkpoints: [checkpoint(4, 20, 20)], engineWatermarkMs: null, endOfInput: false, fence: fenceOf(b) });
    expect((await a.loadCheckpoints(SOURCE, [])).get(4)?.nextOffset).toBe(20);
    await a.close();
    await b.close();
  });

  it('another daemon\'s claim row at this daemon\'s epoch does not fence it; a row with a position there does', async () => {
    const { wh: a, id } = await warehouse('wh_rival', { member: () => 'member-a' });
    await a.shared.claim(SOURCE, [6]);
    await a.shared.resumeFrom(SOURCE, [checkpoint(6, 0, 0)]);
    // Another daemon's claim at the same epoch, landed after a's check: that daemon stopped at its own check.
    const row = (extra: Record<string, unknown>): Record<string, unknown> => ({
      commit_id: `rival-${Object.keys(extra).length}`, source: SOURCE, writer: 'a-rival', committed_at: new Date().toISOString(), streams: [],
      engine_watermark: null, end_of_input: false, source_partition: 6, claim_epoch: 1, ...extra,
    });
    await bq.dataset(id).table('gamestream_commits').insert([row({})]);
    expect(await a.shared.fencedPartitions(SOURCE, [6])).toEqual([]);
    // A row with a position at that epoch is a rival that went on writing: a stops.
    await bq.dataset(id).table('gamestream_commits').insert([row({ next_offset: 5 })]);
    expect(await a.shared.fencedPartitions(SOURCE, [6])).toEqual([6]);
    await a.close();
  });

  it('a partition whose last writer is still a member of the consumer group is held, however old its last commit', async () => {
    const { wh: a, id } = await warehouse('wh_member', { member: () => 'member-a' });
    const b = await secondDaemon(id, 'member-b');
    await a.commit({ files: [], checkpoints: [checkpoint(2, 10, 10)], engineWatermarkMs: null, endOfInput: false });
    // Grace 0: by age alone the partition would be free at once; but member-a is in the group.
    const held = await b.shared.awaitRelease(SOURCE, [2], {
      graceMs: 0, liveMembers: async () => new Set(['member-a', 'member-b']),
      onWait: (holders) => { throw new Error(`held: ${holders.join('; ')}`); },
    }).catch((e: Error) => e.message);
    expect(held).toMatch(/^held: partition 2 \(last written by /);
    // While the group cannot say who is in it (its coordinator moving), the partition is held: unknown is not gone.
    let asked = 0;
    const waits: string[] = [];
    await b.shared.awaitRelease(SOURCE, [2], {
      graceMs: 0, liveMembers: async () => {
        if (++asked === 1) throw new Error('COORDINATOR_LOAD_IN_PROGRESS');
        return new Set(['member-b']);
      },
      onWait: (holders) => waits.push(...holders),
    });
    expect(asked).toBe(2);
    expect(waits).toEqual([expect.stringContaining('the consumer group cannot say who is in it now (COORDINATOR_LOAD_IN_PROGRESS)')]);
    // Once the group no longer lists member-a, it is free, however recent its commit.
    let waited = false;
    await b.shared.awaitRelease(SOURCE, [2], { graceMs: 3_600_000, liveMembers: async () => new Set(['member-b']), onWait: () => (waited = true) });
    expect(waited).toBe(false);
    await a.close();
    await b.close();
  });
});

