/** Cron, the sensor and the scheduler on a fake clock. */
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCron, nextAfter } from '../../src/etl/cron.ts';
import { dayReadiness, waitForData } from '../../src/etl/sensor.ts';
import { dueDays, startScheduler } from '../../src/etl/scheduler.ts';
import { daysWithRuns, lastSuccessfulDay, successfulDays } from '../../src/etl/dag.ts';
import { ensureEtlTables } from '../../src/etl/warehouse.ts';
import { loadEtlConfig } from '../../src/etl/config.ts';
import { silentLog, testConfig } from './support/config.ts';
import { FakeClock, waitFor } from './support/fakes.ts';
import { generateDay, insertEvents, openTestWarehouse, setWatermark, type TestWarehouse } from './support/world.ts';

const iso = (d: Date): string => d.toISOString();
const at = (s: string): number => Date.parse(s);

describe('cron', () => {
  it('fires at the right UTC times', () => {
    const daily = parseCron('0 2 * * *');
    expect(iso(nextAfter(daily, at('2026-11-20T01:59:59.999Z')))).toBe('2026-11-20T02:00:00.000Z');
    expect(iso(nextAfter(daily, at('2026-11-20T02:00:00.000Z')))).toBe('2026-11-21T02:00:00.000Z');
    expect(iso(nextAfter(daily, at('2026-12-31T23:00:00Z')))).toBe('2027-01-01T02:00:00.000Z');
    const steps = parseCron('*/15 9-17/4 * * 1-5');
    expect(iso(nextAfter(steps, at('2026-11-20T09:50:00Z')))).toBe('2026-11-20T13:00:00.000Z'); // Friday
    expect(iso(nextAfter(steps, at('2026-11-20T17:46:00Z')))).toBe('2026-11-23T09:00:00.000Z'); // to Monday
    const lists = parseCron('5,35 0 1,15 * *');
    expect(iso(nextAfter(lists, at('2026-11-01T00:35:00Z')))).toBe('2026-11-15T00:05:00.000Z');
    // Both day fields restricted: either matches (13th, or any Friday).
    const either = parseCron('0 0 13 * 5');
    expect(iso(nextAfter(either, at('2026-11-10T00:00:00Z')))).toBe('2026-11-13T00:00:00.000Z');
    expect(iso(nextAfter(either, at('2026-11-13T00:00:00Z')))).toBe('2026-11-20T00:00:00.000Z');
    expect(iso(nextAfter(parseCron('0 0 29 2 *'), at('2026-03-01T00:00:00Z')))).toBe('2028-02-29T00:00:00.000Z');
    expect(iso(nextAfter(parseCron('0 12 * * 7'), at('2026-11-20T00:00:00Z')))).toBe('2026-11-22T12:00:00.000Z');
  });

  it('rejects bad expressions, and the env var names variable, value and what is allowed', () => {
    for (const bad of ['0 2 * *', '60 * * * *', '* 24 * * *', '*/0 * * * *', 'a * * * *', '5-1 * * * *']) expect(() => parseCron(bad)).toThrow();
    expect(() => loadEtlConfig({ GAMESTREAM_ETL_SCHEDULE: '0 25 * * *', GAMESTREAM_ETL_RETRIES: 'x' })).toThrow(
      /GAMESTREAM_ETL_SCHEDULE="0 25 \* \* \*" is not valid: expected a 5-field cron[\s\S]*GAMESTREAM_ETL_RETRIES="x" is not valid: expected a whole number/,
    );
  });

  it('catch-up lists the days due since the last success', () => {
    const cfg = loadEtlConfig({});
    expect(dueDays(cfg, '2026-11-17', at('2026-11-20T01:00:00Z'))).toEqual(['2026-11-18']);
    expect(dueDays(cfg, '2026-11-17', at('2026-11-20T02:00:00Z'))).toEqual(['2026-11-18', '2026-11-19']);
    expect(dueDays(cfg, null, at('2026-11-20T03:00:00Z'))).toEqual(['2026-11-19']);
    expect(dueDays(cfg, '2026-11-19', at('2026-11-20T03:00:00Z'))).toEqual([]);
    // Days without any run before the last success (it was run by hand while the daemon was down) are due too;
    // a day that ran, whatever its outcome, is not.
    expect(dueDays(cfg, '2026-11-19', at('2026-11-20T03:00:00Z'), new Set(['2026-11-14', '2026-11-16', '2026-11-19']))).toEqual(['2026-11-15', '2026-11-17', '2026-11-18']);
    // Only within the 14 days before the last done day: a run a month back does not open a month of holes.
    expect(dueDays(cfg, '2026-11-19', at('2026-11-20T03:00:00Z'), new Set(['2026-10-01', '2026-11-19']))).toEqual([]);
    // Far behind: the newest days, up to yesterday, not the oldest.
    const far = dueDays(cfg, '2024-01-01', at('2026-11-20T03:00:00Z'));
    expect(far).toHaveLength(366);
    expect(far.at(-1)).toBe('2026-11-19');
  });
});

describe('with a warehouse', () => {
  let t: TestWarehouse;
  const D = '2026-11-20';
  beforeAll(async () => {
    t = await openTestWarehouse();
    await ensureEtlTables(t.wh);
    await insertEvents(t, generateDay(D, 5));
  });
  afterAll(() => t.close());

  it('the sensor decides completeness from watermarks and events', async () => {
    await setWatermark(t, at('2026-11-21T00:00:30Z'), false);
    expect((await dayReadiness(t.wh, D, { allowedLatenessMs: 60_000, nowMs: Date.now() })).complete).toBe(false); // within the allowed lateness
    await setWatermark(t, at('2026-11-21T00:01:00Z'), false);
    expect((await dayReadiness(t.wh, D, { allowedLatenessMs: 60_000, nowMs: Date.now() })).complete).toBe(true);
    expect((await dayReadiness(t.wh, '2026-11-19', { allowedLatenessMs: 60_000, nowMs: Date.now() })).complete).toBe(false); // no events that day
    await setWatermark(t, at('2026-11-19T23:59:55Z'), true); // a file that ended just after midnight
    expect((await dayReadiness(t.wh, D, { allowedLatenessMs: 60_000, nowMs: Date.now() })).complete).toBe(true);
    await setWatermark(t, at('2026-11-18T12:00:00Z'), true, 'file:/other'); // ended before D: no evidence
    await t.conn.run(`DELETE FROM gamestream_watermarks WHERE source <> 'file:/other'`);
    expect((await dayReadiness(t.wh, D, { allowedLatenessMs: 60_000, nowMs: Date.now() })).complete).toBe(false);
    await t.conn.run(`DELETE FROM gamestream_watermarks`);
  });

  it('the sensor waits for the watermark, and times out when the day never completes', async () => {
    const clock = new FakeClock(at('2026-11-21T02:00:00Z'));
    // Queries take real time: wait until the sensor sleeps again before moving the clock on.
    const tick = async (c: FakeClock, to: string): Promise<void> => {
      await c.advanceTo(at(to));
      await waitFor(() => c.pending() === 1);
    };
    await setWatermark(t, at('2026-11-20T23:00:00Z'), false);
    let pokes = 0;
    const p = waitForData(t.wh, D, { pokeIntervalMs: 300_000, timeoutMs: 3_600_000, allowedLatenessMs: 60_000, clock, onPoke: () => pokes++ });
    await waitFor(() => clock.pending() === 1);
    await tick(clock, '2026-11-21T02:05:00Z');
    await tick(clock, '2026-11-21T02:10:00Z');
    expect(pokes).toBe(3); // at 02:00, 02:05, 02:10
    await setWatermark(t, at('2026-11-21T00:02:00Z'), false);
    await clock.advanceTo(at('2026-11-21T02:15:00Z'));
    expect((await p).complete).toBe(true);
    expect(pokes).toBe(4);

    await setWatermark(t, at('2026-11-20T23:00:00Z'), false);
    const c2 = new FakeClock(at('2026-11-21T02:00:00Z'));
    let outcome = 'waiting';
    const timedOut = waitForData(t.wh, D, { pokeIntervalMs: 300_000, timeoutMs: 3_600_000, allowedLatenessMs: 60_000, clock: c2 })
      .then(() => (outcome = 'completed'), (e: { code: string }) => (outcome = e.code));
    await waitFor(() => c2.pending() === 1);
    for (let m = 5; m <= 55; m += 5) await tick(c2, `2026-11-21T02:${String(m).padStart(2, '0')}:00Z`);
    expect(outcome).toBe('waiting'); // still waiting at 02:55
    await c2.advanceTo(at('2026-11-21T03:00:00Z'));
    await timedOut;
    expect(outcome).toBe('etl_sensor_timeout');
    expect(c2.now()).toBe(at('2026-11-21T03:00:00Z'));
  });

  it('the timeout counts from the end of the day plus the allowed lateness: a lateness of hours waits for the day, not fails it', async () => {
    // 6 h of lateness: D can be complete from 06:00 the next day; the run fires at 02:00 with a 1 h timeout.
    await setWatermark(t, at('2026-11-21T01:50:00Z'), false);
    const clock = new FakeClock(at('2026-11-21T02:00:00Z'));
    let outcome = 'waiting';
    const waited = waitForData(t.wh, D, { pokeIntervalMs: 1_800_000, timeoutMs: 3_600_000, allowedLatenessMs: 6 * 3_600_000, clock })
      .then((r) => (outcome = r.complete ? 'complete' : 'incomplete'), (e: { code: string; message: string }) => (outcome = `${e.code}: ${e.message}`));
    await waitFor(() => clock.pending() === 1);
    for (const hm of ['02:30', '03:00', '03:30', '04:00', '04:30', '05:00', '05:30', '06:00']) {
      await clock.advanceTo(at(`2026-11-21T${hm}:00Z`));
      await waitFor(() => clock.pending() === 1 || outcome !== 'waiting');
    }
    expect(outcome).toBe('waiting'); // past 03:00, the old deadline, and still waiting for the source
    await setWatermark(t, at('2026-11-21T06:05:00Z'), false);
    await clock.advanceTo(at('2026-11-21T06:30:00Z'));
    await waited;
    expect(outcome).toBe('complete');

    // Never complete: it gives up one timeout after ready at (07:00), naming the deadline and the setting.
    await setWatermark(t, at('2026-11-21T01:50:00Z'), false);
    const c2 = new FakeClock(at('2026-11-21T02:00:00Z'));
    let failed = '';
    const given = waitForData(t.wh, D, { pokeIntervalMs: 1_800_000, timeoutMs: 3_600_000, allowedLatenessMs: 6 * 3_600_000, clock: c2 })
      .catch((e: { code: string; message: string }) => (failed = `${e.code}: ${e.message}`));
    await waitFor(() => c2.pending() === 1);
    while (failed === '') {
      await c2.advanceTo(c2.now() + 1_800_000);
      await waitFor(() => c2.pending() === 1 || failed !== '');
    }
    await given;
    expect(c2.now()).toBe(at('2026-11-21T07:00:00Z'));
    expect(failed).toMatch(/^etl_sensor_timeout: day 2026-11-20 not complete by 2026-11-21T07:00:00.000Z \(GAMESTREAM_ETL_SENSOR_TIMEOUT, 60 min,/);
  });

  it('a sensor given the deadline the scheduler already waited out says at once what the day lacks, unless it is complete', async () => {
    await setWatermark(t, at('2026-11-20T23:00:00Z'), false);
    const clock = new FakeClock(at('2026-11-21T04:00:00Z'));
    await expect(waitForData(t.wh, D, { pokeIntervalMs: 300_000, timeoutMs: 3_600_000, allowedLatenessMs: 60_000, clock, deadlineMs: at('2026-11-21T03:00:00Z') }))
      .rejects.toMatchObject({ code: 'etl_sensor_timeout', message: expect.stringContaining('watermark 2026-11-20T23:00:00.000Z') });
    expect(clock.now()).toBe(at('2026-11-21T04:00:00Z'));
    await setWatermark(t, at('2026-11-21T00:02:00Z'), false);
    expect((await waitForData(t.wh, D, { pokeIntervalMs: 300_000, timeoutMs: 3_600_000, allowedLatenessMs: 60_000, clock, deadlineMs: at('2026-11-21T03:00:00Z') })).complete).toBe(true);
    await t.conn.run('DELETE FROM gamestream_watermarks');
  });

  it('a day is done when its latest run succeeded: a forced rerun that failed undoes it', async () => {
    const row = (run: string, day: string, status: string, startedAt: string) =>
      t.conn.run(`INSERT INTO etl_runs (run_id, date, task, attempt, status, started_at) VALUES ('${run}', DATE '${day}', 'dag', 1, '${status}', TIMESTAMP '${startedAt}')`);
    await row('r1', '2026-10-01', 'success', '2026-10-02 02:00:00');
    await row('r2', '2026-10-01', 'failed', '2026-10-03 09:00:00');
    await row('r3', '2026-10-02', 'failed', '2026-10-03 02:00:00');
    await row('r4', '2026-10-02', 'success', '2026-10-03 10:00:00');
    await row('r5', '2026-10-03', 'success', '2026-10-04 02:00:00');
    try {
      expect([...(await successfulDays(t.wh, '2026-10-01', '2026-10-03'))].sort()).toEqual(['2026-10-02', '2026-10-03']);
      expect(await lastSuccessfulDay(t.wh)).toBe('2026-10-03');
      expect([...(await daysWithRuns(t.wh, '2026-10-02'))].sort()).toEqual(['2026-10-02', '2026-10-03']);
    } finally {
      await t.conn.run(`DELETE FROM etl_runs WHERE run_id IN ('r1', 'r2', 'r3', 'r4', 'r5')`);
    }
  });

  it('stop() waits for a query the catch-up has under way, so the caller may close the connection right after', async () => {
    // A warehouse whose every query hangs until released: the catch-up's "last successful day" is one of them.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let started = 0;
    let finished = 0;
    const slow = {
      ...t.wh,
      ensureTables: async () => undefined,
      query: async (sql: string) => {
        started++;
        await gate;
        const rows = await t.wh.query(sql);
        finished++;
        return rows;
      },
    };
    const s = startScheduler({ warehouse: slow, log: silentLog, clock: new FakeClock(at('2026-11-22T01:00:00Z')), config: testConfig(join(t.dir, 'f'), { GAMESTREAM_ETL_CATCHUP: 'on' }) });
    await waitFor(() => started > 0);
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped, 'stop() returned while a query was still running').toBe(false);
    release();
    await stopping;
    expect(finished).toBe(started);
  });

  it('the scheduler fires at 02:00 UTC for the previous day, catching up first', async () => {
    await setWatermark(t, at('2026-11-23T00:00:00Z'), false);
    await insertEvents(t, generateDay('2026-11-21', 6));
    const clock = new FakeClock(at('2026-11-22T01:00:00Z'));
    const s = startScheduler({
      warehouse: t.wh, log: silentLog, clock,
      config: testConfig(join(t.dir, 'f'), { GAMESTREAM_ETL_CATCHUP: 'on', GAMESTREAM_ETL_MAX_NULL_RATE: '1' }),
    });
    try {
      // No success yet: catch-up runs only the latest due day, 2026-11-20 (fired 2026-11-21 02:00).
      await waitFor(() => s.state().lastResult?.date === '2026-11-20');
      expect(s.state().nextFireAt).toBe('2026-11-22T02:00:00.000Z');
      await clock.advanceTo(at('2026-11-22T01:59:00Z'));
      expect(s.state().running).toBe(null);
      expect(s.state().lastResult?.date).toBe('2026-11-20');
      await clock.advanceTo(at('2026-11-22T02:00:00Z'));
      await waitFor(() => s.state().lastResult?.date === '2026-11-21');
      expect(s.state().lastResult?.status).toBe('success');
      expect(s.state().nextFireAt).toBe('2026-11-23T02:00:00.000Z');
      const runs = await t.wh.query(`SELECT strftime(date, '%Y-%m-%d') AS d, strftime(started_at, '%H:%M') AS hm
        FROM etl_runs WHERE task = 'dag' ORDER BY started_at`);
      expect(runs).toEqual([{ d: '2026-11-20', hm: '01:00' }, { d: '2026-11-21', hm: '02:00' }]);
    } finally {
      await s.stop();
    }
  });
});

describe('the scheduler over a daemon\'s life', () => {
  it('a machine suspended over several firings runs the day of each, in order', async () => {
    const t = await openTestWarehouse();
    try {
      await ensureEtlTables(t.wh);
      // The source ended: days without events are dropped with a line each, which shows which days were due.
      await setWatermark(t, at('2026-11-20T00:00:00Z'), true);
      const lines: string[] = [];
      const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
      const clock = new FakeClock(at('2026-11-22T03:00:00Z'));
      const s = startScheduler({ warehouse: t.wh, log, clock, config: testConfig(join(t.dir, 'f'), { GAMESTREAM_ETL_CATCHUP: 'off' }) });
      try {
        await waitFor(() => clock.pending() === 1);
        // Suspended from Sunday 03:00 to Wednesday 10:00: the firings of Monday, Tuesday and Wednesday 02:00 passed.
        await clock.jumpTo(at('2026-11-25T10:00:00Z'));
        const dropped = () => lines.map((l) => /ETL (\d{4}-\d{2}-\d{2}) not run/.exec(l)?.[1]).filter((d) => d !== undefined);
        await waitFor(() => dropped().length >= 3);
        expect(dropped()).toEqual(['2026-11-22', '2026-11-23', '2026-11-24']);
        expect(s.state().nextFireAt).toBe('2026-11-26T02:00:00.000Z');
      } finally {
        await s.stop();
      }
    } finally {
      await t.close();
    }
  });

  it('in the daemon, tables that cannot be made at start are tried again, not given up on until a restart', async () => {
    const t = await openTestWarehouse();
    try {
      let calls = 0;
      const flaky = {
        ...t.wh,
        ensureTables: async () => {
          if (++calls <= 2) throw Object.assign(new Error('503 Service Unavailable'), { code: 503 });
          await ensureEtlTables(t.wh);
        },
      };
      const clock = new FakeClock(at('2026-11-22T01:00:00Z'));
      const s = startScheduler({ warehouse: flaky, log: silentLog, clock, retryTables: true, config: testConfig(join(t.dir, 'f'), { GAMESTREAM_ETL_CATCHUP: 'off' }) });
      try {
        await waitFor(() => calls === 1);
        await clock.advanceTo(at('2026-11-22T01:00:01Z'));
        await waitFor(() => calls === 2);
        await clock.advanceTo(at('2026-11-22T01:00:03Z'));
        await waitFor(() => calls === 3);
        // Made on the third try: a day runs (and fails for want of events, not for want of tables).
        const r = await s.runDay('2026-11-20');
        expect(r.status).toBe('failed');
        expect(r.status === 'failed' && r.tasks.wait_for_data).toBe('failed');
      } finally {
        await s.stop();
      }
    } finally {
      await t.close();
    }
  });

  it('a schedule that never fires (February 30th) is refused at start, naming the variable', () => {
    expect(() => loadEtlConfig({ GAMESTREAM_ETL_SCHEDULE: '0 2 30 2 *' })).toThrow(/GAMESTREAM_ETL_SCHEDULE="0 2 30 2 \*" is not valid: expected a cron expression that fires: this one names no day that exists/);
  });
});

describe('completeness rules', () => {
  let t: TestWarehouse;
  const D = '2026-11-24';
  const A = 'kafka:live';
  const B = 'file:/late.ndjson';
  const opts = (now: string, ownSource: string | null = null) => ({ allowedLatenessMs: 60_000, nowMs: at(now), ownSource });
  beforeAll(async () => {
    t = await openTestWarehouse();
    await ensureEtlTables(t.wh);
    await insertEvents(t, generateDay(D, 8), A);
  });
  afterAll(() => t.close());

  it('a day is not complete before it is over plus the allowed lateness, whatever the watermarks say', async () => {
    await setWatermark(t, at('2026-11-24T05:20:00Z'), true, A); // a run that ended at 05:20 on D
    const early = await dayReadiness(t.wh, D, opts('2026-11-24T05:20:00Z'));
    expect(early).toMatchObject({ complete: false, noData: false, wallClockReady: false, watermarkReady: true });
    expect(early.waitingFor.join('\n')).toMatch(/the wall clock to pass 2026-11-25T00:01:00.000Z/);
    expect((await dayReadiness(t.wh, D, opts('2026-11-25T00:00:59Z'))).complete).toBe(false);
    expect((await dayReadiness(t.wh, D, opts('2026-11-25T00:01:00Z'))).complete).toBe(true);
  });

  it('every source must have ended or passed the day: one behind holds it, and the sensor says which', async () => {
    await setWatermark(t, at('2026-11-25T01:00:00Z'), false, A);
    await setWatermark(t, at('2026-11-24T22:00:00Z'), false, B); // still running, two hours short
    const r = await dayReadiness(t.wh, D, opts('2026-11-25T03:00:00Z'));
    expect(r).toMatchObject({ complete: false, wallClockReady: true, watermarkReady: false });
    expect(r.sources.find((s) => s.source === A)).toMatchObject({ ready: true });
    expect(r.sources.find((s) => s.source === B)).toMatchObject({ ready: false, watermarkMs: at('2026-11-24T22:00:00Z'), behindMs: 2 * 3_600_000 + 60_000 });
    expect(r.waitingFor).toEqual([`source ${B}: watermark 2026-11-24T22:00:00.000Z, 2 h 1 min short of 2026-11-25T00:01:00.000Z`]);
    await setWatermark(t, at('2026-11-24T22:00:00Z'), true, B); // it ended: it brings nothing more
    expect((await dayReadiness(t.wh, D, opts('2026-11-25T03:00:00Z'))).complete).toBe(true);
    // The daemon's own source before its first commit counts as running.
    const own = await dayReadiness(t.wh, D, opts('2026-11-25T03:00:00Z', 'kafka:own'));
    expect(own.complete).toBe(false);
    expect(own.waitingFor).toEqual(['source kafka:own: no watermark yet']);
    // An earlier run of the daemon's own source ended (a nightly run of a file that keeps growing): this run is
    // still reading it, so only its watermark counts.
    const ownEnded = await dayReadiness(t.wh, D, opts('2026-11-25T03:00:00Z', B));
    expect(ownEnded.complete).toBe(false);
    expect(ownEnded.waitingFor).toEqual([`source ${B}: watermark 2026-11-24T22:00:00.000Z, 2 h 1 min short of 2026-11-25T00:01:00.000Z`]);
  });

  it('a day without events that no source can still reach fails at once, without waiting for the timeout', async () => {
    const clock = new FakeClock(at('2026-11-27T02:00:00Z'));
    const none = '2026-11-23';
    await expect(waitForData(t.wh, none, { pokeIntervalMs: 300_000, timeoutMs: 3_600_000, allowedLatenessMs: 60_000, clock }))
      .rejects.toMatchObject({ code: 'etl_no_data', message: expect.stringMatching(/day 2026-11-23 has no events in the warehouse and no more can come/) });
    expect(clock.now()).toBe(at('2026-11-27T02:00:00Z'));
    // A day a running source has not reached yet may still get events: that one waits.
    await setWatermark(t, at('2026-11-26T12:00:00Z'), false, A);
    const r = await dayReadiness(t.wh, '2026-11-26', opts('2026-11-27T02:00:00Z'));
    expect(r).toMatchObject({ complete: false, noData: false });
    expect(r.waitingFor).toContain('events dated 2026-11-26: none yet');
  });

  it('the scheduler waits for its own source, runs a day once it is complete, and does not run a day without data', async () => {
    await t.conn.run('DELETE FROM gamestream_watermarks');
    const clock = new FakeClock(at('2026-11-25T02:00:00Z'));
    const waits: ({ day: string; waitingFor: string[] } | null)[] = [];
    const events: string[] = [];
    const s = startScheduler({
      warehouse: t.wh, log: silentLog, clock, ownSource: A,
      onWait: (w) => {
        waits.push(w);
        events.push(w ? `waits ${w.day}` : 'wait over');
      },
      onTask: (r) => events.push(`task ${r.task}`),
      config: testConfig(join(t.dir, 'f'), { GAMESTREAM_ETL_CATCHUP: 'on', GAMESTREAM_ETL_POKE_INTERVAL: '5m', GAMESTREAM_ETL_SENSOR_TIMEOUT: '1h', GAMESTREAM_ETL_MAX_NULL_RATE: '1' }),
    });
    const s2cfg = loadEtlConfig({});
    const waitingNow = (): string => (s.state().waiting ? `${s.state().waiting!.day}: ${s.state().waiting!.waitingFor.join('; ')}` : '');
    try {
      // Catch-up: the 24th is due and has events, so it runs; its sensor waits, because the daemon's own
      // source has not committed anything yet. The state (and the status page) says so.
      await waitFor(() => waitingNow() === `${D}: source ${A}: no watermark yet`);
      await setWatermark(t, at('2026-11-25T00:30:00Z'), false, A);
      await clock.advanceTo(at('2026-11-25T02:05:00Z'));
      await waitFor(() => s.state().lastResult?.date === D);
      expect(s.state().lastResult?.status).toBe('success');
      expect(s.state().waiting).toBe(null);
      // The wait was over before the day's first computation, not only when its run ended.
      const firstCompute = events.findIndex((e) => e.startsWith('task compute_'));
      expect(firstCompute, events.join('\n')).toBeGreaterThan(0);
      expect(events.slice(events.indexOf('task wait_for_data'), firstCompute), events.join('\n')).toContain('wait over');
      // The 25th has no events. Due at 02:00 on the 26th, it waits while the source has not passed it…
      await clock.advanceTo(at('2026-11-26T02:00:00Z'));
      await waitFor(() => waitingNow().startsWith('2026-11-25: '));
      expect(waitingNow()).toContain('events dated 2026-11-25: none yet');
      // …and once the source is past it, it is dropped without a run.
      await setWatermark(t, at('2026-11-26T00:30:00Z'), false, A);
      await clock.advanceTo(at('2026-11-26T02:05:00Z'));
      await waitFor(() => s.state().waiting === null);
      expect(s.state().running).toBe(null);
      expect(s.state().queued).toEqual([]);
      const dagRuns = () => t.wh.query(`SELECT strftime(date, '%Y-%m-%d') AS d, status, error FROM etl_runs WHERE task = 'dag' ORDER BY started_at, status`);
      await waitFor(async () => (await dagRuns()).some((r) => r.status === 'skipped'));
      const runs = await dagRuns();
      // The day without events is recorded as skipped, so a later start's catch-up does not look at it again.
      expect(runs).toEqual([{ d: D, status: 'success', error: null }, { d: '2026-11-25', status: 'skipped', error: 'no events, and no source can still bring any' }]);
      // Once a later day is done (the 26th, say), the 25th is no hole to look at again at each start.
      const ran = new Set([...(await daysWithRuns(t.wh, '2026-11-10')), '2026-11-26']);
      expect(dueDays(s2cfg, '2026-11-26', at('2026-11-28T03:00:00Z'), ran)).toEqual(['2026-11-27']);
    } finally {
      await s.stop();
    }
    expect(waits.filter((w) => w !== null).map((w) => w!.day)).toEqual(expect.arrayContaining([D, '2026-11-25']));
  });
});
