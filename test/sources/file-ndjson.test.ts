import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
