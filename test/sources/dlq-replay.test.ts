/**
 * The dead-letter replay's spool source: records come back whole (line breaks inside them included), each chunk
 * says where it is in the spool, and a batch's records are read again by position for a replay after a worker
 * crash, so the engine need not hold their bytes until durable.
 */
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AvroFileSource } from '../../src/sources/file-avro.ts';
import { ReplaySpoolSource, writeReplaySpool } from '../../src/sources/dlq-replay.ts';
import type { RecordChunk } from '../../src/sources/source.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-spool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Over two 4 MiB reads: records of up to 3 KB, some with line breaks inside, in pages as the claim reads them. */
function letters(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `{"id":"r${i}","user_id":"u${i % 89}","note":"${'z'.repeat((i * 37) % 3000)}${i % 7 === 0 ? '\n"}' : '"}'}`);
}

async function* pages(raws: string[], size: number): AsyncIterable<{ seq: number; raw: string }[]> {
  for (let s = 0; s < raws.length; s += size) yield raws.slice(s, s + size).map((raw, k) => ({ seq: s + k, raw }));
}

describe('ReplaySpoolSource', () => {
  it('hands out every record in seq order, and reads a batch\'s records again from their positions, in any order', async () => {
    const raws = letters(6000);
    const path = join(dir, 'a.spool');
    expect(await writeReplaySpool(path, pages(raws, 500))).toBe(raws.length);
    const src = new ReplaySpoolSource(path, 'dlq-replay:test', 8);
    await src.open();
    const seen: string[] = [];
    let chunks = 0;
    for (let c: RecordChunk | null = await src.next(); c; c = await src.next()) {
      chunks++;
      expect(c.filePos, 'every chunk says where it is in the spool').toBeTypeOf('number');
      expect(Array.from(c.offsets!)).toEqual(Array.from({ length: c.count }, (_, i) => c!.firstIndex + i));
      // Batch layout: record i at into[index[3i+1], index[3i+2]), in reverse order.
      const filePos = new Float64Array(c.count);
      const index = new Int32Array(3 * c.count);
      let at = 0;
      for (let k = 0; k < c.count; k++) {
        const i = c.count - 1 - k;
        const len = c.ends[i] - c.starts[i];
        filePos[k] = c.filePos! + c.starts[i];
        index.set([c.partitions![i], at, at + len], 3 * k);
        at += len;
      }
      const into = new Uint8Array(at);
      await src.reread(filePos, index, into);
      for (let k = 0; k < c.count; k++) {
        const i = c.count - 1 - k;
        expect(Buffer.from(into.subarray(index[3 * k + 1], index[3 * k + 2])).equals(c.data.subarray(c.starts[i], c.ends[i]))).toBe(true);
      }
      for (let i = 0; i < c.count; i++) seen.push(Buffer.from(c.data.subarray(c.starts[i], c.ends[i])).toString('utf8'));
    }
    expect(chunks).toBeGreaterThan(1);
    expect(seen).toEqual(raws);
    expect(src.ended).toBe(true);
    expect(src.progress()).toEqual({ bytesRead: src.progress().totalBytes, totalBytes: expect.any(Number) });
    await src.close();
  });

  it('a spool cut short since it was read is an input_changed error naming the spool', async () => {
    const path = join(dir, 'b.spool');
    await writeReplaySpool(path, pages(letters(10), 10));
    const src = new ReplaySpoolSource(path, 'dlq-replay:test', 8);
    await src.open();
    const c = (await src.next())!;
    truncateSync(path, c.starts[5]);
    const into = new Uint8Array(c.ends[9] - c.starts[9]);
    await expect(src.reread(Float64Array.of(c.filePos! + c.starts[9]), Int32Array.of(0, 0, into.length), into)).rejects.toMatchObject({
      code: 'input_changed', message: expect.stringMatching(/dead-letter replay spool .* is shorter than when it was read/),
    });
    await src.close();
  });

  it('an Avro file\'s records are decoded from blocks, not ranges of the file: its source cannot read them again', () => {
    expect((new AvroFileSource(join(dir, 'none.avro')) as { reread?: unknown }).reread).toBeUndefined();
  });
});
