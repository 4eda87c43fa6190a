/**
 * An Avro file whose schema lacks fields every event needs is refused at the start, naming them, instead of
 * being read to the end with every record dead-lettered; records that are bad one by one still are.
 */
import { closeSync, createWriteStream, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { crc32, zstdCompressSync } from 'node:zlib';
import { snappyCompress } from '@platformatic/wasm-utils';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { bigLongWriter } from '../support/big-long.ts';
import { runEngine } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-avro-src-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An Avro container file of `datums`: `schema` as avsc reads it, or a type of the test's own (longs as BigInts). */
async function writeFile(path: string, schema: Schema | avro.Type, datums: Record<string, unknown>[], blockSize?: number, encoderOptions?: Record<string, unknown>): Promise<void> {
  const type = avro.Type.isType(schema) ? schema : avro.Type.forSchema(schema);
  const encoder = new avro.streams.BlockEncoder(type as unknown as Schema, { ...(blockSize ? { blockSize } : {}), ...encoderOptions } as never);
  const out = createWriteStream(path);
  encoder.pipe(out);
  for (const d of datums) encoder.write(d);
  encoder.end();
  await once(out, 'close');
}

const run = (path: string) => runEngine({
  GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_WORKERS: '1', GAMESTREAM_SOURCE: `file:${path}`, GAMESTREAM_ETL: 'off',
  GAMESTREAM_WAREHOUSE: `duckdb:${path}.duckdb`,
}, 60_000);

describe('an Avro file source', () => {
  it('refuses a schema without the required fields at the start, naming them', async () => {
    const path = join(dir, 'renamed.avro');
    const schema = { type: 'record', name: 'Other', fields: [{ name: 'id', type: 'string' }, { name: 'uid', type: 'string' }, { name: 'ts', type: 'long' }] } as Schema;
    await writeFile(path, schema, Array.from({ length: 50 }, (_, i) => ({ id: `e${i}`, uid: `u${i}`, ts: Date.now() })));
    const r = await run(path);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/user_id, timestamp, type/);
    expect(r.stderr).toContain(path);
  });

  it('still reads a file with the required fields, dead-lettering only the bad records', async () => {
    const path = join(dir, 'good.avro');
    const schema = {
      type: 'record', name: 'GameEvent', fields: [
        { name: 'id', type: 'string' }, { name: 'user_id', type: ['null', 'string'], default: null },
        { name: 'timestamp', type: 'long' }, { name: 'type', type: 'int' },
      ],
    } as Schema;
    const now = Date.now();
    const datums = Array.from({ length: 20 }, (_, i) => ({ id: `g${i}`, user_id: i < 3 ? null : { string: `u${i}` }, timestamp: now, type: 1001 }));
    await writeFile(path, schema, datums.map((d) => ({ ...d, user_id: d.user_id === null ? null : (d.user_id as { string: string }).string })));
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/events 17, dead letters 3/);
  });

  const SCHEMA = {
    type: 'record', name: 'GameEvent', fields: [
      { name: 'id', type: 'string' }, { name: 'user_id', type: 'string' }, { name: 'timestamp', type: 'long' }, { name: 'type', type: 'int' },
    ],
  } as Schema;
  const datum = (i: number) => ({ id: `d${i}`, user_id: `user-${i % 7}`, timestamp: Date.now(), type: 1001 });
  /** Where each block starts: after the header, and after every sync marker (the file's last 16 bytes). */
  function blockStarts(buf: Buffer): number[] {
    const sync = buf.subarray(buf.length - 16);
    const out: number[] = [];
    for (let i = buf.indexOf(sync); i >= 0 && i + 16 < buf.length; i = buf.indexOf(sync, i + 16)) out.push(i + 16);
    return out;
  }
  const totals = (stdout: string) => /events ([\d,]+), dead letters ([\d,]+)/.exec(stdout)?.slice(1).map((x) => Number(x.replace(/,/g, '')));

  it('dead-letters a damaged block and keeps the blocks before and after it', async () => {
    const path = join(dir, 'damaged.avro');
    await writeFile(path, SCHEMA, Array.from({ length: 300 }, (_, i) => datum(i)), 600);
    const buf = readFileSync(path);
    const starts = blockStarts(buf);
    expect(starts.length).toBeGreaterThan(3);
    // Garbage over the middle block's datums (its count and size stay), so its datums do not decode.
    const mid = starts[Math.floor(starts.length / 2)]!;
    buf.fill(0xff, mid + 4, mid + 200);
    writeFileSync(path, buf);
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    const [events, dead] = totals(r.stdout)!;
    expect(dead).toBe(1);
    expect(events).toBeGreaterThan(200);
    expect(events).toBeLessThan(300);
    expect(r.stderr).toMatch(/damaged Avro block/);
    // The summary says records were lost, not only the log.
    expect(r.stdout).toContain(`1 damaged Avro block(s) in ${path}: their records are lost`);
  });

  it('writes the intact blocks of a truncated file and dead-letters the cut one', async () => {
    const path = join(dir, 'truncated.avro');
    await writeFile(path, SCHEMA, Array.from({ length: 500 }, (_, i) => datum(i)), 1000);
    const whole = readFileSync(path);
    const starts = blockStarts(whole);
    // Cut in the middle of a block past the half: the blocks before it are intact.
    const cutBlock = starts.findIndex((s) => s > whole.length / 2);
    truncateSync(path, starts[cutBlock]! + 40);
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    const [events, deadLetters] = totals(r.stdout)!;
    expect(deadLetters).toBe(1);
    expect(events).toBeGreaterThan(100);
    expect(events).toBeLessThan(500);
    expect(r.stderr).toContain('damaged Avro block');
  });

  it('treats a block count of 2^40 as damage, not as an allocation', async () => {
    const path = join(dir, 'huge-count.avro');
    await writeFile(path, SCHEMA, Array.from({ length: 10 }, (_, i) => datum(i)));
    const buf = readFileSync(path);
    const first = blockStarts(buf)[0] ?? buf.indexOf(buf.subarray(buf.length - 16)) + 16;
    const header = buf.subarray(0, blockStarts(buf).length ? first : buf.length);
    const sync = buf.subarray(buf.length - 16);
    const zigzag = (n: bigint): Buffer => {
      let v = n << 1n;
      const out: number[] = [];
      while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
      out.push(Number(v));
      return Buffer.from(out);
    };
    // The file's own header, then a block claiming 2^40 datums in 10 bytes, then the original blocks.
    const rest = buf.subarray(header.length);
    writeFileSync(path, Buffer.concat([header, zigzag(1n << 40n), zigzag(10n), Buffer.alloc(10, 1), sync, rest]));
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    expect(totals(r.stdout)).toEqual([10, 1]);
  });

  it('reads a file over 2 GiB in bounded memory (a sparse tail of zeros, dead-lettered as one damaged block)', async () => {
    const path = join(dir, 'big.avro');
    await writeFile(path, SCHEMA, Array.from({ length: 100 }, (_, i) => datum(i)));
    truncateSync(path, 2 ** 31 + (64 << 20));
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    expect(totals(r.stdout)).toEqual([100, 1]);
    const rss = Number(/peak RSS (\d+) MB/.exec(r.stdout)?.[1]);
    expect(rss).toBeLessThan(1024);
  });

  it('keeps the block of a datum with a 64-bit long, which validation then judges as it would in JSON', async () => {
    const path = join(dir, 'big-long.avro');
    const schema = {
      type: 'record', name: 'GameEvent', fields: [
        { name: 'id', type: 'string' }, { name: 'user_id', type: ['string', 'long'] }, { name: 'timestamp', type: 'long' }, { name: 'type', type: 'int' },
        { name: 'client_ts_ns', type: 'long' },
      ],
    } as Schema;
    const now = BigInt(Date.now());
    // One block: the middle datum's user_id is 2^60, and every datum has a nanosecond stamp beyond 2^53.
    await writeFile(path, bigLongWriter(schema), Array.from({ length: 3 }, (_, i) => (
      { id: `b${i}`, user_id: i === 1 ? { long: 2n ** 60n } : { string: `u${i}` }, timestamp: now, type: 1001, client_ts_ns: now * 1_000_000n })));
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    expect(totals(r.stdout)).toEqual([2, 1]);
    expect(r.stderr).not.toContain('damaged Avro block');
  });

  it('reads a file whose schema has a union default that is not its first branch', async () => {
    const path = join(dir, 'union-default.avro');
    const schema = {
      type: 'record', name: 'GameEvent', fields: [
        { name: 'id', type: 'string' }, { name: 'user_id', type: 'string' }, { name: 'timestamp', type: 'long' }, { name: 'type', type: 'int' },
        { name: 'campaign', type: ['string', 'null'] },
      ],
    } as Schema;
    // avsc refuses to write with a default of null there, so the file is written without it and its header changed.
    await writeFile(path, schema, Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, user_id: `u${i}`, timestamp: Date.now(), type: 1001, campaign: 'spring' })));
    const buf = readFileSync(path);
    // The header's schema: a zig-zag length after the key avro.schema, then its JSON; written again with the default.
    const zig = (n: number): Buffer => { const o: number[] = []; let v = n * 2; while (v >= 0x80) { o.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); } o.push(v); return Buffer.from(o); };
    const key = buf.indexOf('avro.schema') + 'avro.schema'.length;
    let len = 0;
    let p = key;
    for (let shift = 1; ; shift *= 128) { const b = buf[p++]!; len += (b & 0x7f) * shift; if (!(b & 0x80)) break; }
    len /= 2;
    const written = JSON.parse(buf.subarray(p, p + len).toString()) as { fields: { name: string; default?: unknown }[] };
    written.fields.find((f) => f.name === 'campaign')!.default = null;
    const after = JSON.stringify(written);
    expect(() => avro.Type.forSchema(written as Schema)).toThrow(/default/);
    writeFileSync(path, Buffer.concat([buf.subarray(0, key), zig(after.length), Buffer.from(after), buf.subarray(p + len)]));
    const r = await run(path);
    expect(r.code, r.stderr).toBe(0);
    expect(totals(r.stdout)).toEqual([5, 0]);
  });

  it('reads the snappy and zstandard codecs as Spark and BigQuery write them, and refuses others naming the ones it reads', async () => {
    const codecs = {
      // Avro's snappy: the raw snappy block, then the CRC-32 of the uncompressed bytes, big-endian.
      snappy: (buf: Buffer, cb: (err: Error | null, out?: Buffer) => void) => {
        const sum = Buffer.alloc(4);
        sum.writeUInt32BE(crc32(buf));
        cb(null, Buffer.concat([snappyCompress(buf), sum]));
      },
      zstandard: (buf: Buffer, cb: (err: Error | null, out?: Buffer) => void) => cb(null, zstdCompressSync(buf)),
    };
    for (const codec of ['snappy', 'zstandard'] as const) {
      const path = join(dir, `${codec}.avro`);
      await writeFile(path, SCHEMA, Array.from({ length: 100 }, (_, i) => datum(i)), 800, { codec, codecs });
      const r = await run(path);
      expect(r.code, `${codec}: ${r.stderr}`).toBe(0);
      expect(totals(r.stdout), codec).toEqual([100, 0]);
    }
    // A snappy block whose checksum does not match is a damaged block, like one that does not inflate.
    const bad = join(dir, 'snappy-bad.avro');
    const buf = readFileSync(join(dir, 'snappy.avro'));
    const first = blockStarts(buf)[0]!;
    const sync = buf.subarray(buf.length - 16);
    const blockEnd = buf.indexOf(sync, first);
    buf[blockEnd - 1] ^= 0xff; // the first block's checksum
    writeFileSync(bad, buf);
    const damaged = await run(bad);
    expect(damaged.code, damaged.stderr).toBe(0);
    expect(damaged.stderr).toMatch(/damaged Avro block/);
    expect(totals(damaged.stdout)![1]).toBe(1);
    // Garbage inside a snappy block's compressed bytes: that block is damaged, the blocks after it are read.
    const garbled = join(dir, 'snappy-garbled.avro');
    const g = readFileSync(join(dir, 'snappy.avro'));
    const gFirst = blockStarts(g)[0]!;
    g.fill(0xfe, gFirst + 8, gFirst + 60);
    writeFileSync(garbled, g);
    const afterGarbage = await run(garbled);
    expect(afterGarbage.code, afterGarbage.stderr).toBe(0);
    const [kept, lost] = totals(afterGarbage.stdout)!;
    expect(lost).toBe(1);
    expect(kept).toBeGreaterThan(50);
    expect(kept).toBeLessThan(100);
    // bzip2: refused at the start with exit code 2, naming the codecs it reads.
    const bz = join(dir, 'bzip2.avro');
    await writeFile(bz, SCHEMA, Array.from({ length: 10 }, (_, i) => datum(i)));
    const plain = readFileSync(bz).toString('latin1');
    expect(plain).toContain('avro.codec\x08null');
    writeFileSync(bz, Buffer.from(plain.replace('avro.codec\x08null', 'avro.codec\x0Abzip2'), 'latin1'));
    const refused = await run(bz);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/Avro codec bzip2 is not supported \(null, deflate, snappy, zstandard\)/);
  });
});
