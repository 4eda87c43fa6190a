import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeStandIn } from '../../src/contract/oversized.ts';
import { NdjsonFileSource } from '../../src/sources/file-ndjson.ts';
import type { RecordChunk } from '../../src/sources/source.ts';

const dir = mkdtempSync(join(tmpdir(), 'gamestream-file-ndjson-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function records(path: string, max: number): Promise<{ bytes: Buffer; index: number; key: Uint8Array | null | undefined }[]> {
  const src = new NdjsonFileSource(path, max);
  await src.open();
  const out: { bytes: Buffer; index: number; key: Uint8Array | null | undefined }[] = [];
  for (let c: RecordChunk | null = await src.next(); c; c = await src.next()) {
    for (let i = 0; i < c.count; i++) out.push({ bytes: Buffer.from(c.data.subarray(c.starts[i], c.ends[i])), index: c.firstIndex + i, key: c.keys?.[i] });
  }
  await src.close();
  return out;
}

describe('NdjsonFileSource with a line over the limit', () => {
  const max = 1024;
  const long = `{"user_id":"u-long","blob":"${'z'.repeat(20 << 20)}"}`;

  for (const [name, eol, last] of [['LF', '\n', '\n'], ['CRLF', '\r\n', '\r\n'], ['no newline at the end', '\n', '']] as const) {
    it(`hands on one stand-in with the line's size, hash, prefix and key (${name})`, async () => {
      const path = join(dir, `${name}.ndjson`);
      // Without a newline at the end, the long line is the file's last.
      writeFileSync(path, `{"user_id":"a"}${eol}${long}${last === '' ? '' : `${eol}{"user_id":"b"}${last}`}`);
      const recs = await records(path, max);
      expect(recs.map((r) => r.index)).toEqual(last === '' ? [0, 1] : [0, 1, 2]);
      const stand = decodeStandIn(recs[1].bytes)!;
      expect(stand.size).toBe(long.length);
      expect(stand.sha256).toBe(createHash('sha256').update(long).digest('hex'));
      expect(Buffer.from(stand.prefix).toString()).toBe(long.slice(0, max));
      expect(Buffer.from(recs[1].key!).toString()).toBe('u-long');
      expect(recs[0].bytes.toString()).toBe('{"user_id":"a"}');
    });
  }

  it('a line ending in CR (no LF after it) keeps the CR only when more of the line follows', async () => {
    const path = join(dir, 'cr.ndjson');
    const line = `{"x":"${'q'.repeat((4 << 20) - 7)}\r${'q'.repeat(10)}"}`;
    writeFileSync(path, `${line}\n{"y":1}\n`);
    const recs = await records(path, max);
    expect(recs.length).toBe(2);
    expect(decodeStandIn(recs[0].bytes)!.sha256).toBe(createHash('sha256').update(line).digest('hex'));
    expect(recs[1].bytes.toString()).toBe('{"y":1}');
  });

  it('interrupt() ends a next() in the middle of the line', async () => {
    const path = join(dir, 'interrupt.ndjson');
    writeFileSync(path, `${'w'.repeat(64 << 20)}\n`);
    const src = new NdjsonFileSource(path, max);
    await src.open();
    const pending = src.next();
    src.interrupt();
    expect(await pending).toBe(null);
    expect(src.progress().bytesRead).toBeLessThan(64 << 20);
    await src.close();
  });
});

describe('NdjsonFileSource: a last line without its newline', () => {
  async function read(name: string, text: string): Promise<{ lines: string[]; tail: number }> {
    const path = join(dir, name);
    writeFileSync(path, text);
    const src = new NdjsonFileSource(path);
    await src.open();
    const lines: string[] = [];
    for (let c: RecordChunk | null = await src.next(); c; c = await src.next()) {
      for (let i = 0; i < c.count; i++) lines.push(Buffer.from(c.data.subarray(c.starts[i], c.ends[i])).toString());
    }
    await src.close();
    return { lines, tail: src.unreadTail() };
  }

  it('is a record when it is whole JSON', async () => {
    expect(await read('whole.ndjson', '{"id":"a"}\n{"id":"b"}')).toEqual({ lines: ['{"id":"a"}', '{"id":"b"}'], tail: 0 });
    expect(await read('whole-crlf.ndjson', '{"id":"a"}\r\n{"id":"b"}\r')).toEqual({ lines: ['{"id":"a"}', '{"id":"b"}'], tail: 0 });
    expect(await read('lone-cr.ndjson', '{"id":"a"}\r\n\r')).toEqual({ lines: ['{"id":"a"}'], tail: 0 });
  });

  it('is not read, and spends no record number, when it is cut short (its writer not done)', async () => {
    expect(await read('cut.ndjson', '{"id":"a"}\n{"id":"b","us')).toEqual({ lines: ['{"id":"a"}'], tail: 13 });
  });
});

describe('NdjsonFileSource: what it cannot read', () => {
  it('refuses a gzip file with config_invalid, saying to decompress it, and a directory, saying to name a file', async () => {
    const gz = join(dir, 'events.ndjson.gz');
    writeFileSync(gz, gzipSync('{"id":"a"}\n'));
    await expect(new NdjsonFileSource(gz).open()).rejects.toMatchObject({
      code: 'config_invalid', message: expect.stringContaining(`is gzip-compressed; gamestream reads NDJSON files as they are: decompress it first (gunzip -k ${gz})`),
    });
    await expect(new NdjsonFileSource(dir).open()).rejects.toMatchObject({
      code: 'input_not_found', message: expect.stringContaining(`GAMESTREAM_SOURCE file ${dir} is a directory: name one file`),
    });
  });
});

describe('NdjsonFileSource: reading records again by file position', () => {
  // Over two 4 MiB reads, with CRLF and LF lines, blank lines, a line over the limit and no newline at the end.
  const lines: string[] = [];
  for (let i = 0; i < 40_000; i++) lines.push(`{"user_id":"u${i % 97}","n":${i},"pad":"${'x'.repeat(i % 300)}"}${i % 3 === 0 ? '\r\n' : '\n'}${i % 1000 === 0 ? '\n' : ''}`);
  lines.splice(20_000, 0, `{"user_id":"big","blob":"${'y'.repeat(5 << 20)}"}\n`); // longer than a read: cut
  lines.push('{"user_id":"last"}');
  const path = join(dir, 'reread.ndjson');
  writeFileSync(path, lines.join(''));
  const file = Buffer.concat(lines.map((l) => Buffer.from(l)));

  it('each chunk says where it is in the file, and reread gives back exactly the bytes it handed on', async () => {
    const src = new NdjsonFileSource(path, 4096);
    await src.open();
    let records = 0;
    let standIns = 0;
    for (let c: RecordChunk | null = await src.next(); c; c = await src.next()) {
      if (c.filePos === undefined) {
        // The stand-in for the long line is not in the file: its batch keeps its bytes.
        standIns += c.count;
        continue;
      }
      // Batch layout: record i at into[index[3i+1], index[3i+2]), in another order than the file's.
      const order = Array.from({ length: c.count }, (_, i) => c!.count - 1 - i);
      const filePos = new Float64Array(c.count);
      const index = new Int32Array(3 * c.count);
      let at = 0;
      order.forEach((i, k) => {
        const len = c!.ends[i] - c!.starts[i];
        filePos[k] = c!.filePos! + c!.starts[i];
        index.set([0, at, at + len], 3 * k);
        at += len;
        expect(file.subarray(filePos[k], filePos[k] + len).equals(c!.data.subarray(c!.starts[i], c!.ends[i]))).toBe(true);
      });
      const into = new Uint8Array(at);
      await src.reread!(filePos, index, into);
      order.forEach((i, k) => expect(Buffer.from(into.subarray(index[3 * k + 1], index[3 * k + 2])).equals(c!.data.subarray(c!.starts[i], c!.ends[i]))).toBe(true));
      records += c.count;
    }
    await src.close();
    expect([records, standIns]).toEqual([40_001, 1]);
  });

  it('a file cut short since it was read is an input_changed error that says what happened', async () => {
    const short = join(dir, 'short.ndjson');
    writeFileSync(short, '{"user_id":"a"}\n{"user_id":"b"}\n');
    const src = new NdjsonFileSource(short);
    await src.open();
    const c = (await src.next())!;
    writeFileSync(short, '{"user_id":"a"}\n');
    const into = new Uint8Array(c.ends[1] - c.starts[1]);
    await expect(src.reread!(Float64Array.of(c.filePos! + c.starts[1]), Int32Array.of(0, 0, into.length), into)).rejects.toMatchObject({
      code: 'input_changed', message: expect.stringMatching(/is shorter than when it was read .*changed while the daemon ran/),
    });
    await src.close();
  });
});
