// A single NDJSON line of 512 MiB: read in constant memory as one too_large dead letter, SIGTERM honoured while it
// is being read, and the records after it written. 512 MiB is above the memory bound, so a reader that holds the
// line even once fails, and the old reader (which copied the growing line on every read) passes the bound within
// seconds; a 1 GB line shows nothing more and costs twice the disk and time.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../support/daemon.ts';

const LINE_BYTES = 512 * 1024 * 1024;
/** Peak RSS of the daemon (all its threads): its usual footprint and a few reads, far below the line. */
const RSS_BOUND = 400 * 1024 * 1024;
const TIMEOUT = 180_000;

function event(id: string): string {
  return JSON.stringify({ id, user_id: `u-${id}`, timestamp: new Date(Date.now() - 3_600_000).toISOString(), type: 1001, parameters: { level_id: 1 } });
}

/** Writes [event, the long line, two events]; returns the line's SHA-256. */
function writeInput(path: string): string {
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  try {
    writeSync(fd, `${event('before')}\n`);
    const head = Buffer.from('{"id":"long","user_id":"u-long","ip_address":"2001:db8:1:2::3","parameters":{"blob":"');
    const tail = Buffer.from('"}}');
    const block = Buffer.alloc(16 << 20, 'y');
    let left = LINE_BYTES - head.length - tail.length;
    const put = (b: Buffer): void => {
      hash.update(b);
      writeSync(fd, b);
    };
    put(head);
    while (left > 0) {
      const b = left >= block.length ? block : block.subarray(0, left);
      put(b);
      left -= b.length;
    }
    put(tail);
    writeSync(fd, `\n${event('after-1')}\n${event('after-2')}\n`);
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function rssOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function settings(input: string, dir: string, name: string): Record<string, string> {
  return {
    GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, `${name}.duckdb`)}`, GAMESTREAM_ETL: 'off',
    GAMESTREAM_PARTITIONS: '2', GAMESTREAM_WORKERS: '1', GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_DEDUPE_DIR: join(dir, `dedupe-${name}`),
    GAMESTREAM_IDLE_TIMEOUT: '1h', GAMESTREAM_PROGRESS_INTERVAL: '100ms',
  };
}

/** Percent of the input read, from the last progress line. */
function percentRead(stdout: string): number {
  const all = [...stdout.matchAll(/\((\d+)% of input\)/g)];
  return all.length === 0 ? 0 : Number(all[all.length - 1][1]);
}

describe('a 512 MiB line', { timeout: TIMEOUT }, () => {
  let dir: string;
  let input: string;
  let sha256: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gamestream-long-line-'));
    input = join(dir, 'in.ndjson');
    sha256 = writeInput(input);
  }, TIMEOUT);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('SIGTERM while the line is being read: the daemon exits within 5 s', async () => {
    const d = new Daemon(settings(input, dir, 'term'), 'long-line-term');
    try {
      // The line is 99% of the input: a progress line between 1% and 99% is in the middle of it.
      await d.until('reading the long line', () => percentRead(d.stdout) >= 1, 60_000);
      const atSignal = percentRead(d.stdout);
      const sent = Date.now();
      d.child.kill('SIGTERM');
      const code = await Promise.race([d.exited, sleep(5_000).then(() => 'still running' as const)]);
      expect(code, `${Date.now() - sent} ms after SIGTERM at ${atSignal}% read\n${d.report()}`).toBe(0);
    } finally {
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
      await d.exited;
    }
  });

  it(`is read in constant memory (peak RSS under ${RSS_BOUND >> 20} MiB) as one too_large dead letter; the records after it are written`, async () => {
    const d = new Daemon(settings(input, dir, 'full'), 'long-line-full');
    let peak = 0;
    try {
      // Sampled, and killed at once past the bound (a reader holding the line would take the machine's memory).
      while (d.child.exitCode === null && d.child.signalCode === null) {
        peak = Math.max(peak, rssOf(d.child.pid!, 'VmHWM'));
        if (peak > RSS_BOUND) break;
        await sleep(20);
      }
      expect(peak, `peak RSS ${peak >> 20} MiB\n${d.report()}`).toBeLessThan(RSS_BOUND);
      expect(await d.exited, d.report()).toBe(0);
    } finally {
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
      await d.exited;
    }
    const db = await DuckDBInstance.create(join(dir, 'full.duckdb'));
    const c = await db.connect();
    try {
      const ev = await c.runAndReadAll('SELECT event_id FROM events ORDER BY event_id');
      expect(ev.getRows().map((r) => r[0])).toEqual(['after-1', 'after-2', 'before']);
      const dlq = (await c.runAndReadAll('SELECT error_code, error, raw_message FROM events_dlq')).getRowObjects();
      expect(dlq.length).toBe(1);
      expect(dlq[0].error_code).toBe('too_large');
      expect(String(dlq[0].error)).toContain(`record is ${LINE_BYTES} bytes`);
      expect(String(dlq[0].error)).toContain(`sha256 ${sha256}`);
      const raw = String(dlq[0].raw_message);
      expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(64 * 1024);
      expect(raw.startsWith('{"id":"long","user_id":"u-long","ip_address":"2001:db8:1::","parameters":{"blob":"yyy')).toBe(true);
    } finally {
      c.closeSync();
      db.closeSync();
    }
  });
});
