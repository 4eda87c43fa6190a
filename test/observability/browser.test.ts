/**
 * The status page in a real headless Chromium (Debian's `chromium` package, driven by playwright-core): during
 * a run the numbers it shows equal those in /metrics, uPlot draws its charts, and the page asks no host but the
 * daemon for anything; and at 800 and 1400 px wide nothing in it overflows its box, no chart label is cut off or
 * drawn over another, no text lies on other text and every chart series can be seen. Saves
 * test-artifacts/status-page*.png for CI. Needs /usr/bin/chromium (`apt-get install -y chromium`): without it the
 * tests fail, they do not skip.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { loadObservabilityConfig } from '../../src/observability/config.ts';
import { startObservability, type Observability } from '../../src/observability/index.ts';
import type { WarehouseView } from '../../src/observability/status.ts';
import { CANVAS_TEXT_RECORDER, LAYOUT_AUDIT } from './page-layout.ts';
import { captureLogger, sampleValue } from './prom-text.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '../../test-artifacts');
const ARTIFACT = join(ARTIFACTS, 'status-page.png');

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: this test needs Debian's Chromium. Install it with: apt-get update && apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Sum of all samples of one metric (all label sets). */
function sum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') || line.startsWith(name + ' ')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** The bits of the DOM the in-page callbacks use (the project's TS config has no DOM lib). */
interface PageCanvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}
interface PageDocument {
  getElementById(id: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): Iterable<PageCanvas>;
}

/** A number as the page prints it ("5,880", "20", "2.00% of records") back to a number. */
const num = (s: string): number => Number(s.replace(/,/g, '').replace(/%.*$/, '').trim());

let browser: Browser | null = null;
let obs: Observability | null = null;
afterEach(async () => {
  await browser?.close();
  await obs?.stop();
  browser = null;
  obs = null;
});

describe('status page in headless Chromium', () => {
  it('shows the numbers in /metrics, draws uPlot charts and loads nothing from elsewhere', { timeout: 20_000 }, async () => {
    let now = 1_700_000_000_000;
    const { log } = captureLogger();
    obs = await startObservability({
      config: loadObservabilityConfig({ GAMESTREAM_METRICS_PORT: '0' }), log, now: () => now, defaultMetrics: false,
      health: () => ({ source: { ok: true, detail: 'consuming' }, warehouse: { ok: true, detail: 'open' } }),
    });
    const o = obs;
    const url = o.server!.url;
    // One commit per second over two partitions: 1000 records, 980 events, 20 dead letters each.
    const commits = (n: number) => {
      for (let i = 0; i < n; i++) {
        now += 1000;
        o.metrics.recordCommit({
          durationMs: 12,
          partitions: [
            { partition: 3, recordsIn: 600, eventsWritten: 585, deadLetters: 15, duplicates: 1, lateEvents: 0, windowRows: 2 },
            { partition: 5, recordsIn: 400, eventsWritten: 395, deadLetters: 5, duplicates: 0, lateEvents: 1, windowRows: 1 },
          ],
          deadLettersByCode: { parse_error: 14, schema_error: 6 },
        });
        o.status.sample();
      }
    };
    commits(4);
    o.metrics.setLag(3, 777);
    o.metrics.setLag(5, 1234);

    browser = await launch();
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.addInitScript({ content: CANVAS_TEXT_RECORDER });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });

    const text = (sel: string) => page.locator(sel).innerText();
    /** Scrapes /metrics, waits until the page shows the same events total, then compares all the numbers. */
    const check = async () => {
      const m = await (await fetch(`${url}/metrics`)).text();
      const eventsWritten = sum(m, 'gamestream_events_written_total');
      const deadLetters = sum(m, 'gamestream_dead_letters_total');
      const recordsIn = sum(m, 'gamestream_records_in_total');
      const lag = sum(m, 'gamestream_kafka_consumer_lag');
      const started = sampleValue(m, 'gamestream_start_time_seconds')!;
      const lastRecord = sampleValue(m, 'gamestream_last_record_timestamp_seconds')!;
      // The page polls every 2 s; wait for the poll that sees this state.
      await page.waitForFunction((want) => (globalThis as unknown as { document: PageDocument }).document.getElementById('total-eventsWritten')?.textContent?.replace(/,/g, '') === want, String(eventsWritten), { timeout: 8000 });
      expect(num(await text('#total-eventsWritten'))).toBe(eventsWritten);
      expect(num(await text('#total-deadLetters'))).toBe(deadLetters);
      expect(num(await text('#total-recordsIn'))).toBe(recordsIn);
      expect(num(await text('#lag'))).toBe(lag);
      // Commits came at a steady rate since the start, so the DLQ rate is the total over the elapsed time …
      expect(num(await text('#dlq'))).toBe(deadLetters / (lastRecord - started));
      // … and the DLQ share is dead letters over records in.
      expect(num(await text('#dlqr'))).toBeCloseTo((deadLetters / recordsIn) * 100, 2);
      return { eventsWritten, deadLetters, lag };
    };

    await page.goto(url + '/', { waitUntil: 'load' });
    const first = await check();
    expect(first).toEqual({ eventsWritten: 3920, deadLetters: 80, lag: 2011 });

    // The run goes on while the page is open: more commits, the lag drops.
    commits(3);
    o.metrics.setLag(3, 40);
    o.metrics.setLag(5, 2);
    const second = await check();
    expect(second).toEqual({ eventsWritten: 6860, deadLetters: 140, lag: 42 });

    // uPlot drew both charts (a canvas each, with the points of the history) with the legend values set.
    await expect.poll(() => page.locator('#chart-events .uplot canvas').count()).toBe(1);
    await expect.poll(() => page.locator('#chart-dlq .uplot canvas').count()).toBe(1);
    const drawn = await page.evaluate(() => [...(globalThis as unknown as { document: PageDocument }).document.querySelectorAll('#chart-events .uplot canvas, #chart-dlq .uplot canvas')].map((cv) => {
      const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let painted = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
      return { w: cv.width, h: cv.height, painted };
    }));
    expect(drawn).toHaveLength(2);
    for (const d of drawn) {
      expect(d.w).toBeGreaterThan(300);
      expect(d.h).toBeGreaterThan(100);
      expect(d.painted).toBeGreaterThan(500);
    }
    expect(await page.locator('#chart-dlq .u-legend').innerText()).toContain('dead letters / s');
    expect(await page.locator('#chart-events .note').innerText()).toBe('');
    // No warehouse reader in this process: the 24 h chart is there, empty, and says it has not been read.
    await expect.poll(() => page.locator('#chart-volume .uplot canvas').count()).toBe(1);
    expect(await page.locator('#volat').innerText()).toBe('not read yet');

    // Early in a run, with few samples and no warehouse read, the layout holds too.
    expect(await page.evaluate(LAYOUT_AUDIT)).toEqual([]);

    await mkdir(dirname(ARTIFACT), { recursive: true });
    await page.screenshot({ path: ARTIFACT, fullPage: true });
    expect(existsSync(ARTIFACT)).toBe(true);

    // Only the daemon was asked for anything: the page, uPlot's two files, api/status.
    const port = String(o.server!.port);
    for (const r of requests) {
      const u = new URL(r);
      expect(['http:', 'data:', 'blob:'], r).toContain(u.protocol);
      if (u.protocol === 'http:') {
        expect(['127.0.0.1', 'localhost', '[::1]'], r).toContain(u.hostname);
        expect(u.port, r).toBe(port);
      }
    }
    const paths = new Set(requests.map((r) => new URL(r).pathname));
    expect(paths).toEqual(new Set(['/', '/assets/uPlot.min.css', '/assets/uPlot.iife.min.js', '/api/status']));
    expect(problems).toEqual([]);
  });

  it('lays out at 800 and 1400 px: nothing overflows or is clipped, no label lies on another, every series shows', { timeout: 30_000 }, async () => {
    // A day of a busy game: 20k records/s over 64 partitions and two workers, tens of millions of events an hour,
    // every quality check the ETL has (long names, large values), and a run of `gamestream etl` in etl_runs.
    let now = Date.UTC(2026, 10, 27, 14, 30);
    const HOUR = 3_600_000;
    const volume: WarehouseView['volume24h'] = { t: [], events: [] };
    for (let h = Math.floor((now - 24 * HOUR) / HOUR) * HOUR; h <= now; h += HOUR) {
      volume.t.push(h / 1000);
      volume.events.push(Math.round(72_000_000 + 20_000_000 * Math.sin(h / HOUR / 4)));
    }
    const check = (name: string, status: string, value: number | null, threshold: number | null) => ({ name, status, value, threshold });
    const view: WarehouseView = {
      volume24h: volume,
      checks: {
        date: '2026-11-26',
        items: [
          check('dlq_rate', 'failed', 0.0123, 0.01), check('has_data', 'passed', 812, 1), check('no_null_level_id', 'passed', 0, 0),
          check('null_rate_country', 'passed', 0.0042, 0.01), check('null_rate_device_category', 'passed', 0.0051, 0.01),
          check('pass_rate_in_range', 'passed', 0, 0), check('revenue_matches_user_metrics', 'passed', 0, 0),
          check('volume_drop_in_app_purchase_completed', 'warning', 1_234_567, 1_987_654.3), check('volume_drop_level_complete', 'passed', 612_345_678, 401_234_567.8),
          check('volume_drop_type_4004', 'passed', 98_765, 50_000), check('volume_vs_7d_mean', 'skipped: no history', 1_728_000_000, null),
        ],
      },
      etlRuns: { last: { day: '2026-11-26', status: 'success', startedAtMs: now - 5 * HOUR, endedAtMs: now - 5 * HOUR + 754_000 }, lastSuccessAtMs: now - 5 * HOUR + 754_000 },
      readAt: new Date(now).toISOString(),
    };
    const { log } = captureLogger();
    obs = await startObservability({
      config: loadObservabilityConfig({ GAMESTREAM_METRICS_PORT: '0' }), log, now: () => now, defaultMetrics: false,
      health: () => ({ source: { ok: true, detail: 'consuming' }, warehouse: { ok: true, detail: 'open' } }), warehouse: async () => view,
    });
    const o = obs;
    await o.status.readWarehouse();
    // Five minutes of commits every 2.05 s, sampled every 2 s.
    let last = now;
    for (let sample = 1; sample <= 150; sample++) {
      const at = Date.UTC(2026, 10, 27, 14, 30) + sample * 2000;
      for (let c = last + 2050; c <= at; c += 2050) {
        now = c;
        const n = Math.round((c - last) * 20 / 64);
        o.metrics.recordCommit({
          durationMs: 300,
          partitions: Array.from({ length: 64 }, (_, p) => ({ partition: p, recordsIn: n, eventsWritten: n - 1, deadLetters: 1, duplicates: 0, lateEvents: 0, windowRows: 3 })),
          deadLettersByCode: { schema_error: 64 },
        });
        last = c;
      }
      now = at;
      o.status.sample();
    }
    for (let p = 0; p < 64; p++) o.metrics.setLag(p, p === 38 ? 120_345 : p === 5 ? 90_001 : p * 3);
    o.metrics.setMailboxDepth(0, 28);
    o.metrics.setMailboxDepth(1, 41);
    o.metrics.setEngineWatermark(now - 4200);

    browser = await launch();
    await mkdir(ARTIFACTS, { recursive: true });
    const found: Record<number, string[]> = {};
    const said: Record<number, object> = {};
    for (const width of [800, 1400]) {
      const page = await browser.newPage({ viewport: { width, height: 900 } });
      await page.addInitScript({ content: CANVAS_TEXT_RECORDER });
      await page.goto(o.server!.url + '/', { waitUntil: 'load' });
      await page.waitForFunction(() => (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body.dataset.generatedAt !== undefined);
      await expect.poll(() => page.locator('.uplot canvas').count()).toBe(3);
      await page.screenshot({ path: join(ARTIFACTS, `status-page-${width}.png`), fullPage: true });
      found[width] = (await page.evaluate(LAYOUT_AUDIT)) as string[];
      // What an operator reads: words, not the API's field names.
      const text = await page.locator('main').innerText();
      found[width].push(...[...text.matchAll(/\b[a-z]+[A-Z][A-Za-z]*\b/g)].map((m) => `field name on the page: ${m[0]}`));
      // Lag per partition, batches queued per worker, the last ETL run from etl_runs, checks in words with their limits.
      const [lag, workers, etl, etlDay, etlAt, check] = await page.evaluate((ids) => {
        const doc = (globalThis as unknown as { document: { querySelector(s: string): { innerText: string } | null } }).document;
        return ids.map((sel) => doc.querySelector(sel)?.innerText ?? null);
      }, ['#lagtop', '#mailbox', '#etl', '#etlday', '#etlat', '#checks tr']);
      said[width] = { lag, workers, etl: [etl, etlDay, etlAt], check: check?.replace(/\s+/g, ' ') };
      await page.close();
    }
    expect.soft(found).toEqual({ 800: [], 1400: [] });
    for (const width of [800, 1400]) {
      expect(said[width]).toEqual({
        lag: 'most behind:\npartition 38: 120,345\npartition 5: 90,001\npartition 63: 189',
        workers: 'batches queued:\nworker 0: 28\nworker 1: 41',
        etl: ['success', 'for day 2026-11-26', 'ended 2026-11-27 09:42:34 UTC, took 12.6 min'],
        check: "dead letters, share of the day's records dlq_rate failed 1.23% (limit 1%)",
      });
    }
  });
});
