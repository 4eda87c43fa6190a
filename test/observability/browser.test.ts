/**
 * The status page in a real headless Chromium (Debian's `chromium` package, driven by playwright-core): during
 * a run the numbers it shows equal those in /metrics, uPlot draws its charts, and the page asks no host but the
 * daemon for anything. Saves test-artifacts/status-page.png for CI. Needs /usr/bin/chromium
 * (`apt-get install -y chromium`): without it the test fails, it does not skip.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { loadObservabilityConfig } from '../../src/observability/config.ts';
import { startObservability, type Observability } from '../../src/observability/index.ts';
import { captureLogger, sampleValue } from './prom-text.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACT = join(dirname(fileURLToPath(import.meta.url)), '../../test-artifacts/status-page.png');

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
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: this test needs Debian's Chromium. Install it with: apt-get update && apt-get install -y chromium`);
    }
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

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
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
});
