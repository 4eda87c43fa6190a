import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GamestreamError } from '../../src/errors.ts';
import { RowBuffer, writeFlush } from '../../src/sinks/row-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-row-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;

/** Rows of about 1 KiB, with non-ASCII text so that bytes and UTF-16 lengths differ. */
function rows(n: number, tag: string): object[] {
  return Array.from({ length: n }, (_, i) => ({ tag, i, text: `é✓${'x'.repeat(1000)}${i}` }));
}

const ndjson = (list: object[]): string => list.map((r) => `${JSON.stringify(r)}\n`).join('');

describe('RowBuffer', () => {
  it('keeps rows in memory until writeTo without a spill path', () => {
    const buf = new RowBuffer();
    const list = rows(6000, 'mem'); // about 6 MiB: more than one 4 MiB chunk
    for (const r of list) buf.push(r);
    expect(readdirSync(dir)).toEqual([]);
    const f = join(dir, 'mem.ndjson');
    expect(buf.writeTo(f)).toBe(6000);
    expect(readFileSync(f, 'utf8')).toBe(ndjson(list));
    expect(buf.rows).toBe(0);
    expect(buf.pendingBytes).toBe(0);
    rmSync(f);
  });

  it('writes each full chunk out before the flush, and writeTo renames that file with the rest appended', () => {
    let n = 0;
    const buf = new RowBuffer(() => join(dir, `spill-${++n}.partial`));
    const list = rows(10_000, 'spill'); // about 10 MiB: two chunks written out before the flush
    for (const r of list) buf.push(r);
    const partial = join(dir, 'spill-1.partial');
    // The worker holds one chunk, not the flush's rows: the others are in the spill file already.
    // Two chunks, each filled to within one row's worst case (three bytes per UTF-16 unit) of 4 MiB.
    expect(statSync(partial).size).toBeGreaterThanOrEqual(8 * MiB - 2 * 3 * 1100);
    expect(buf.pendingBytes).toBe(Buffer.byteLength(ndjson(list)));
    const f = join(dir, 'spill.ndjson');
    expect(buf.writeTo(f)).toBe(10_000);
    expect(existsSync(partial)).toBe(false);
    expect(readFileSync(f, 'utf8')).toBe(ndjson(list));
    rmSync(f);

    // The next flush starts a new file, and a flush within one chunk never opens one.
    const small = rows(10, 'small');
    for (const r of small) buf.push(r);
    const g = join(dir, 'small.ndjson');
    expect(buf.writeTo(g)).toBe(10);
    expect(readFileSync(g, 'utf8')).toBe(ndjson(small));
    expect(n).toBe(1);
    rmSync(g);
  });

  it('takes a row larger than a chunk between spilled chunks', () => {
    const own = mkdtempSync(join(dir, 'big-'));
    let n = 0;
    const buf = new RowBuffer(() => join(own, `big-${++n}.partial`));
    const list = [...rows(3000, 'before'), { tag: 'big', text: 'ü'.repeat(3 * MiB) }, ...rows(3000, 'after')];
    for (const r of list) buf.push(r);
    const f = join(own, 'big.ndjson');
    expect(buf.writeTo(f)).toBe(list.length);
    expect(readFileSync(f, 'utf8')).toBe(ndjson(list));
    expect(n).toBe(1);
    expect(readdirSync(own)).toEqual(['big.ndjson']);
    rmSync(f);
  });

  describe('a full spool', () => {
    // Writes to /dev/full fail with ENOSPC, as on a /dev/shm that has no room left.
    const FULL = '/dev/full';
    const spoolFull = (fn: () => unknown): GamestreamError => {
      try {
        fn();
      } catch (err) {
        return err as GamestreamError;
      }
      throw new Error('expected the write to fail');
    };

    it('says which folder is full and what fixes it when a spilled chunk cannot be written', () => {
      const buf = new RowBuffer(() => FULL);
      const err = spoolFull(() => {
        for (const r of rows(6000, 'full')) buf.push(r);
      });
      expect(err.code).toBe('spool_full');
      expect(err.retryable).toBe(true);
      expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(err.message).toMatch(/^the spool folder \/dev is full \(ENOSPC writing full; \d+ MiB of \d+ MiB free\)/);
      for (const fix of ['GAMESTREAM_SPOOL_DIR', '--shm-size', 'GAMESTREAM_MAX_UNCOMMITTED_BYTES']) expect(err.message).toContain(fix);
    });

    it('says so when the flush writes its rows, and leaves other errors as they are', () => {
      const buf = new RowBuffer();
      for (const r of rows(10, 'full')) buf.push(r);
      expect(spoolFull(() => buf.writeTo(FULL)).code).toBe('spool_full');
      const missing = spoolFull(() => buf.writeTo(join(dir, 'no-such-folder', 'x.ndjson')));
      expect((missing as unknown as NodeJS.ErrnoException).code).toBe('ENOENT');
    });
  });

  describe('writeFlush', () => {
    it('writes a file for each table with rows, named by the base and the table', () => {
      const own = mkdtempSync(join(dir, 'flush-'));
      const tables = { events: new RowBuffer(), dlq: new RowBuffer(), agg: new RowBuffer(), aggUpdates: new RowBuffer(), users: new RowBuffer() };
      tables.events.push({ e: 1 });
      tables.aggUpdates.push({ a: 1 });
      const base = join(own, 'w0-1-2-3');
      expect(writeFlush(base, tables)).toEqual({ events: `${base}.events.ndjson`, dlq: null, agg: null, aggUpdates: `${base}.agg-updates.ndjson`, users: null });
      expect(readFileSync(`${base}.agg-updates.ndjson`, 'utf8')).toBe('{"a":1}\n');
    });

    it('leaves none of its files when one cannot be written', () => {
      const own = mkdtempSync(join(dir, 'flush-'));
      const tables = { events: new RowBuffer(), dlq: new RowBuffer(), agg: new RowBuffer(), aggUpdates: new RowBuffer(), users: new RowBuffer() };
      for (const t of Object.values(tables)) t.push({ x: 1 });
      // The third table's file cannot be written, as on a full spool.
      const full = Object.assign(new Error('the spool folder is full'), { code: 'spool_full' });
      tables.agg.writeTo = () => {
        throw full;
      };
      expect(() => writeFlush(join(own, 'w0-1-2-3'), tables)).toThrow(full);
      expect(readdirSync(own)).toEqual([]);
    });
  });
});
