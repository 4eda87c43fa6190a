/**
 * `gamestream dlq replay` runs dead letters through the pipeline again after a fix, each letter once, marking
 * what became of it; kill -9 in the middle of a replay loses nothing and stores nothing twice. On a DuckDB
 * warehouse the real daemon wrote, the replay run as the real CLI in a child process.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { emulatorClients, freshDataset } from '../support/bigquery/client.ts';
import { describeRun, firstChunkThenClose, runEngine, runWithKills } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-dlq-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sql(path: string, q: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(path);
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(q)).getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

const event = (id: string, user: string, tsMs: number, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ id, user_id: user, session_id: `s-${user}`, timestamp: new Date(tsMs).toISOString(), type: 1001, name: 'session_start', platform: 'ios', ...extra });

/** Before the fix: events 30 minutes ahead of the clock are dead letters with a 1-minute tolerance. */
const strict = (input: string, wh: string): Record<string, string> => ({
  GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: `duckdb:${wh}`, GAMESTREAM_WORKERS: '1', GAMESTREAM_ETL: 'off',
  GAMESTREAM_PARTITIONS: '4', GAMESTREAM_FUTURE_TOLERANCE: '1m',
});
/** The fix: a 2-hour tolerance. GAMESTREAM_SOURCE names the file still; replay ignores it. */
const fixed = (input: string, wh: string): Record<string, string> => ({ ...strict(input, wh), GAMESTREAM_FUTURE_TOLERANCE: '2h' });

const dlq = (env: Record<string, string>, ...args: string[]) => runEngine(env, 100_000, undefined, 'SIGKILL', ['dlq', ...args]);

/** `n` events from 5 minutes ahead of the clock on, `stepMs` apart, stored as dead letters by a strict run: what a replay takes. */
async function futureLetters(name: string, n: number, stepMs: number): Promise<{ input: string; wh: string }> {
  const now = Date.now();
  const lines = Array.from({ length: n }, (_, i) => event(`${name}${i}`, `u${i % 97}`, now + 5 * 60_000 + i * stepMs));
  const input = join(dir, `${name}.ndjson`);
  writeFileSync(input, lines.join('\n') + '\n');
  const wh = join(dir, `${name}.duckdb`);
  const first = await runEngine(strict(input, wh), 100_000);
  expect(first.code, describeRun(first)).toBe(0);
  expect((await sql(wh, 'SELECT count(*) AS n FROM events_dlq'))[0]!.n).toBe(n);
  return { input, wh };
}

describe('gamestream dlq replay on DuckDB', () => {
  it('counts each letter it cannot replay under one reason: a too_large record that is not UTF-8 is not binary too', async () => {
    const input = join(dir, 'not-replayable.ndjson');
    const big = Buffer.concat([Buffer.from('{"id":"big","blob":"'), Buffer.alloc(3000, 0xff), Buffer.from('"}')]);
    writeFileSync(input, Buffer.concat([Buffer.from(`${event('ok', 'u1', Date.now())}\n`), big, Buffer.from('\n'), Buffer.from([0x7b, 0xfe, 0x7d, 0x0a])]));
    const wh = join(dir, 'not-replayable.duckdb');
    const env = { ...strict(input, wh), GAMESTREAM_MAX_EVENT_BYTES: '1KiB' };
    const first = await runEngine(env, 100_000);
    expect(first.code, describeRun(first)).toBe(0);
    expect(await sql(wh, `SELECT error_code, raw_encoding, count(*) AS n FROM events_dlq GROUP BY ALL ORDER BY 1`)).toEqual([
      { error_code: 'parse_error', raw_encoding: 'base64', n: 1 }, { error_code: 'too_large', raw_encoding: 'base64', n: 1 },
    ]);
    const dry = await dlq(env, 'replay', '--dry-run');
    expect(dry.code, describeRun(dry)).toBe(0);
    expect(dry.stdout).toContain('not replayable: 1 too_large');
    expect(dry.stdout).toContain('not replayable: 1 binary records');
  });


  it('stores the letters a fix makes valid, marks each with its outcome, and never replays a letter twice', async () => {
    const now = Date.now();
    const ahead = now + 30 * 60_000;
    const lines = [
      ...Array.from({ length: 20 }, (_, i) => event(`e${i}`, `u${i % 5}`, now - 60_000 + i)),
      ...Array.from({ length: 5 }, (_, i) => event(`f${i}`, `u${i}`, ahead + i, { ip_address: '203.0.113.7' })),
      event('e3', 'u3', ahead + 99), // a copy of an event already stored, sent with a clock ahead
      '{"id":"p1","user_id":"u1","ip_address":"203.0.113.7","timestamp":', // stays broken
      '{"id":"p2","user_id":"u2","timestamp":"2026-13-45T00:00:00Z","type":1001}',
    ];
    const input = join(dir, 'a.ndjson');
    writeFileSync(input, lines.join('\n') + '\n');
    const wh = join(dir, 'a.duckdb');
    const first = await runEngine(strict(input, wh), 100_000);
    expect(first.code, describeRun(first)).toBe(0);
    expect(await sql(wh, `SELECT error_code, count(*) AS n FROM events_dlq GROUP BY 1 ORDER BY 1`)).toEqual([
      { error_code: 'future_timestamp', n: 6 }, { error_code: 'invalid_timestamp', n: 1 }, { error_code: 'parse_error', n: 1 },
    ]);

    const dry = await dlq(fixed(input, wh), 'replay', '--dry-run');
    expect(dry.code, describeRun(dry)).toBe(0);
    expect(dry.stdout).toContain('8 dead letter(s) since');
    expect((await sql(wh, 'SELECT count(*) AS n FROM dlq_replays'))[0]!.n, 'a dry run claims nothing').toBe(0);

    const r = await dlq(fixed(input, wh), 'replay');
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(/done: 5 stored, 2 dead letter\(s\) again \((invalid_timestamp 1, parse_error 1|parse_error 1, invalid_timestamp 1)\), 1 duplicate/);
    const replaySource = /as source (dlq-replay:\S+)/.exec(r.stdout)![1]!;

    // The five fixed events are stored once, under the replay's source; the copy of e3 is not stored again.
    expect(await sql(wh, `SELECT event_id, source FROM events WHERE event_id LIKE 'f%' ORDER BY 1`)).toEqual(
      Array.from({ length: 5 }, (_, i) => ({ event_id: `f${i}`, source: replaySource })));
    expect((await sql(wh, `SELECT count(*) AS n FROM events WHERE event_id = 'e3'`))[0]!.n).toBe(1);
    // Each original letter has one outcome; the broken ones are dead letters again, with their new letter's code.
    expect(await sql(wh, `SELECT r.error_code AS was, o.outcome, o.error_code AS now FROM dlq_replays r
      JOIN dlq_replay_outcomes o USING (replay_id, seq) ORDER BY 1, 2, 3`)).toEqual([
      { was: 'future_timestamp', outcome: 'duplicate', now: null },
      ...Array.from({ length: 5 }, () => ({ was: 'future_timestamp', outcome: 'stored', now: null })),
      { was: 'invalid_timestamp', outcome: 'dead_letter', now: 'invalid_timestamp' },
      { was: 'parse_error', outcome: 'dead_letter', now: 'parse_error' },
    ]);
    // Masked addresses stay masked: the letter that failed again holds the masked one, as the original did
    // (the five future events' letters and p1's, then p1's new letter).
    expect((await sql(wh, `SELECT count(*) AS n FROM events_dlq WHERE raw_message LIKE '%203.0.113.7%'`))[0]!.n).toBe(0);
    expect((await sql(wh, `SELECT count(*) AS n FROM events_dlq WHERE raw_message LIKE '%203.0.113.0%'`))[0]!.n).toBe(7);

    // show marks each letter; stats counts the replayed ones.
    const shown = await dlq(fixed(input, wh), 'show', '--code', 'future_timestamp');
    expect(shown.stdout.match(/: stored at /g)?.length, shown.stdout).toBe(5);
    expect(shown.stdout.match(/: duplicate at /g)?.length).toBe(1);
    const stats = await dlq(fixed(input, wh), 'stats');
    expect(stats.stdout).toMatch(/future_timestamp +validate +6 +6 +file:/);

    // Again: the original letters were replayed and are not claimed again; only the two new letters are.
    const again = await dlq(fixed(input, wh), 'replay', '--source', `file:${input}`);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.stdout).toContain('0 dead letter(s) since');
    expect(again.stdout).toContain('8 matching were replayed before');
    expect((await sql(wh, 'SELECT count(DISTINCT replay_id) AS n FROM dlq_replays'))[0]!.n).toBe(1);

    // A letter claimed by a replay cut short before its outcome (as a kill leaves it) is not counted as replayed.
    await sql(wh, `DELETE FROM dlq_replay_outcomes WHERE seq = (SELECT min(c.seq) FROM dlq_replays c JOIN events_dlq d
      ON c.letter_source = d.source AND c.letter_partition = d.source_partition AND c.letter_offset = d.source_offset
      AND c.letter_received_at = d.received_at WHERE d.error_code = 'future_timestamp')`);
    expect((await dlq(fixed(input, wh), 'stats')).stdout).toMatch(/future_timestamp +validate +6 +5 +file:/);
  }, 240_000);

  it('counts every replayed event in its window, letters of an earlier hour received after those of a later one too', async () => {
    // Letters in replay order (by when they were received): first events 100 minutes ahead, then events 30 minutes
    // ahead, from another file; the second hour is over an hour behind the first in every replay partition.
    const now = Date.now();
    const later = Array.from({ length: 40 }, (_, i) => event(`late${i}`, `u${i % 7}`, now + 100 * 60_000 + i * 1000));
    const earlier = Array.from({ length: 40 }, (_, i) => event(`early${i}`, `u${i % 7}`, now + 30 * 60_000 + i * 1000));
    const wh = join(dir, 'hours.duckdb');
    for (const [name, lines] of [['hours-1', later], ['hours-2', earlier]] as const) {
      const input = join(dir, `${name}.ndjson`);
      writeFileSync(input, lines.join('\n') + '\n');
      const run = await runEngine(strict(input, wh), 100_000);
      expect(run.code, describeRun(run)).toBe(0);
    }
    expect((await sql(wh, 'SELECT count(*) AS n FROM events_dlq'))[0]!.n).toBe(80);
    const r = await dlq(fixed(join(dir, 'hours-1.ndjson'), wh), 'replay');
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toContain('done: 80 stored');
    const replaySource = /as source (dlq-replay:\S+)/.exec(r.stdout)![1]!;
    // Every stored event is in a window of the replay's source: none of them is late.
    expect(await sql(wh, `SELECT (SELECT sum(event_count) FROM events_agg_1min WHERE source = '${replaySource}') AS counted,
      (SELECT count(*) FROM events WHERE source = '${replaySource}') AS stored`)).toEqual([{ counted: 80, stored: 80 }]);
  }, 240_000);

  it('a reader that stops early (| head) does not cut the replay short: it finishes, exit 0, every letter marked', async () => {
    const n = 5000;
    const { input, wh } = await futureLetters('h', n, 150);
    // Progress lines every 100 ms: the replay writes again and again after the reader has gone.
    const env = { ...fixed(input, wh), GAMESTREAM_PROGRESS_INTERVAL: '100ms', GAMESTREAM_BATCH_RECORDS: '200', GAMESTREAM_FLUSH_INTERVAL: '200ms' };
    const { first, code, stderr } = await firstChunkThenClose(['dlq', 'replay'], { PATH: process.env.PATH, ...env });
    expect(first).not.toBe('');
    expect(code, stderr).toBe(0);
    expect(await sql(wh, 'SELECT outcome, count(*) AS n FROM dlq_replay_outcomes GROUP BY 1')).toEqual([{ outcome: 'stored', n }]);
  }, 120_000);

  it('kill -9 again and again during a replay: the next replay finishes it; every letter is stored once and marked once', async () => {
    const n = 20_000;
    // Spread over 50 minutes, so windows close and the workers commit as the replay goes.
    const { input, wh } = await futureLetters('k', n, 150);

    // Small batches, frequent flushes and progress lines: each kill lands with some of the replay committed. The
    // smallest bound on uncommitted bytes keeps each commit to about a third of the replay: with 4 MiB the first
    // commit held some 16,000 of the 20,000 letters, so the second run could finish before a kill landed.
    const env = {
      ...fixed(input, wh), GAMESTREAM_BATCH_RECORDS: '200', GAMESTREAM_FLUSH_INTERVAL: '200ms', GAMESTREAM_PROGRESS_INTERVAL: '100ms',
      GAMESTREAM_MAX_UNCOMMITTED_BYTES: '1MiB', GAMESTREAM_MAX_EVENT_BYTES: '64KiB',
      // Its own temporary folder, to see what the killed runs left there; Node's compile cache, which would go there
      // too, elsewhere.
      TMPDIR: mkdtempSync(join(dir, 'tmp-')),
      NODE_COMPILE_CACHE: join(dir, 'compile-cache'),
    };
    const { kills, last } = await runWithKills(env, 100_000, 20, n / 10, ['dlq', 'replay']);
    expect(last.code, describeRun(last)).toBe(0);
    expect(kills, 'the replay was never killed mid-run').toBeGreaterThanOrEqual(2);
    expect(last.stdout).toMatch(new RegExp(`done: ${n.toLocaleString('en-US')} stored, 0 dead letter\\(s\\) again, 0 duplicate`));

    expect(await sql(wh, `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events`)).toEqual([{ n, ids: n }]);
    expect(await sql(wh, `SELECT count(*) AS n, count(DISTINCT seq) AS seqs, count(DISTINCT replay_id) AS replays FROM dlq_replays`))
      .toEqual([{ n, seqs: n, replays: 1 }]);
    expect(await sql(wh, `SELECT outcome, count(*) AS n FROM dlq_replay_outcomes GROUP BY 1`)).toEqual([{ outcome: 'stored', n }]);
    const again = await dlq(env, 'replay');
    expect(again.stdout).toContain('0 dead letter(s) since');
    // The killed runs' spools (a copy of the letters) went with the next run that started.
    expect(readdirSync(env.TMPDIR)).toEqual([]);
  }, 300_000);

  it('a worker thread that crashes during a replay: its batches not yet durable are read again from the spool, each letter stored once', async () => {
    const n = 5000;
    const { input, wh } = await futureLetters('c', n, 600);

    // Small batches and a slow commit, so the crash finds batches the worker has read (their bytes let go) that
    // are not durable yet: only the spool can give them back.
    const env = {
      ...fixed(input, wh), GAMESTREAM_BATCH_RECORDS: '100', GAMESTREAM_FLUSH_INTERVAL: '200ms', GAMESTREAM_TEST_COMMIT_DELAY: '300ms',
      GAMESTREAM_TEST_CRASH_WORKER: '0:20',
    };
    const r = await dlq(env, 'replay');
    expect(r.code, describeRun(r)).toBe(0);
    const replayed = /worker 0 crashed .*replayed (\d+) batch\(es\) that were not yet durable \((\d+) read again from the source\)/.exec(r.stdout + r.stderr);
    expect(replayed, describeRun(r)).not.toBeNull();
    expect(Number(replayed![2])).toBeGreaterThan(0);
    expect(r.stdout).toMatch(new RegExp(`done: ${n.toLocaleString('en-US')} stored, 0 dead letter\\(s\\) again, 0 duplicate`));
    expect(await sql(wh, `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events`)).toEqual([{ n, ids: n }]);
    expect(await sql(wh, `SELECT outcome, count(*) AS n FROM dlq_replay_outcomes GROUP BY 1`)).toEqual([{ outcome: 'stored', n }]);
  }, 240_000);
});

describe('gamestream dlq replay on BigQuery', () => {
  const ctx = inject('bigquery');

  it('replays after a fix, exactly once through a kill -9 after its first commit record, and marks each letter', async () => {
    const { bq } = emulatorClients(ctx);
    const ds = await freshDataset(bq, 'dlq_replay');
    try {
      const now = Date.now();
      const lines = [
        ...Array.from({ length: 10 }, (_, i) => event(`e${i}`, `u${i % 3}`, now - 60_000 + i)),
        ...Array.from({ length: 40 }, (_, i) => event(`f${i}`, `u${i % 7}`, now + 30 * 60_000 + i * 1000, { ip_address: '203.0.113.7' })),
        '{"id":"p1","user_id":"u1","ip_address":"203.0.113.7","timestamp":',
      ];
      const input = join(dir, 'bq.ndjson');
      writeFileSync(input, lines.join('\n') + '\n');
      // BigQuery's require_partition_filter is on (the default): every read of events and events_dlq must bound it.
      const strictBq = {
        ...strict(input, join(dir, 'unused.duckdb')), GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${ds.id}`,
        GAMESTREAM_BIGQUERY_ENDPOINT: ctx.restEndpoint, GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: ctx.writeEndpoint,
        GAMESTREAM_DEDUPE_DIR: join(dir, `dedupe-${ds.id}`), GAMESTREAM_BATCH_RECORDS: '10', GAMESTREAM_FLUSH_INTERVAL: '100ms',
      };
      const first = await runEngine(strictBq, 100_000);
      expect(first.code, describeRun(first)).toBe(0);
      const fixedBq = { ...strictBq, GAMESTREAM_FUTURE_TOLERANCE: '2h' };

      // The replay kills itself with SIGKILL once its first commit record landed; the next one finishes it.
      const killed = await dlq({ ...fixedBq, GAMESTREAM_TEST_KILL_AFTER_COMMIT_RECORD: '1' }, 'replay');
      expect(killed.signal, describeRun(killed)).toBe('SIGKILL');
      const dry = await dlq(fixedBq, 'replay', '--dry-run');
      expect(dry.stdout).toMatch(/did not finish: `gamestream dlq replay` finishes it before it claims other letters/);
      const r = await dlq(fixedBq, 'replay');
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.stdout).toContain('did not finish: finishing it first');
      expect(r.stdout).toContain('done: 40 stored, 1 dead letter(s) again (parse_error 1), 0 duplicate');

      const q = async (text: string): Promise<Record<string, unknown>[]> =>
        (await bq.query(text.replaceAll('{ds}', `\`${ctx.project}.${ds.id}\``)))[0] as Record<string, unknown>[];
      expect(await q(`SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM {ds}.events WHERE event_date >= '2000-01-01'`))
        .toEqual([{ n: 50, ids: 50 }]);
      expect(await q(`SELECT outcome, count(*) AS n FROM {ds}.dlq_replay_outcomes GROUP BY 1 ORDER BY 1`))
        .toEqual([{ outcome: 'dead_letter', n: 1 }, { outcome: 'stored', n: 40 }]);
      expect(await q(`SELECT count(*) AS n FROM {ds}.events_dlq WHERE received_at >= '2000-01-01' AND raw_message LIKE '%203.0.113.7%'`))
        .toEqual([{ n: 0 }]);

      const shown = await dlq(fixedBq, 'show', '--code', 'future_timestamp', '--limit', '100');
      expect(shown.stdout.match(/: stored at /g)?.length, shown.stdout).toBe(40);
      const again = await dlq(fixedBq, 'replay', '--code', 'future_timestamp');
      expect(again.stdout).toContain('40 matching were replayed before');
    } finally {
      await ds.cleanup().catch(() => undefined);
    }
  }, 240_000);
});
