/**
 * Avro object container files, read block by block: memory holds one block at a time, whatever the file's size.
 * Blocks are split into datums here (on the supervisor thread) with a reader schema that keeps only `user_id`,
 * so the key costs little; workers decode the datums fully.
 *
 * A damaged block (a count or size the file cannot hold, datums that do not decode, a sync marker that does not
 * follow) does not stop the file: it becomes one record holding a prefix of its bytes, which the workers
 * dead-letter (`parse_error`), and reading goes on at the next sync marker. Blocks before and after it are kept.
 */
import { crc32, inflateRawSync, zstdDecompressSync } from 'node:zlib';
import { snappyDecompress } from '@platformatic/wasm-utils';
import avro from 'avsc';
import { REQUIRED_FIELDS } from '../contract/rules.ts';
import { avroWriterType } from '../partition/avro-types.ts';
import { GamestreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { LocalFileSource } from './local-file.ts';
import type { RecordChunk, Source } from './source.ts';

const MAGIC = Buffer.from('Obj\x01', 'latin1');
const HEADER = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
  ],
});
const LONG = avro.Type.forSchema('long');
const encoder = new TextEncoder();
/** The largest header read (schemas are kilobytes), and the largest block accepted. */
const MAX_HEADER = 16 << 20;
const MAX_BLOCK = 256 << 20;
/** How much of a damaged block is kept as its dead letter's raw record. */
const DAMAGED_PREFIX = 1024;
/** Bytes read at a time while looking for the next sync marker after a damaged block. */
const SCAN = 1 << 20;

/** The block codecs read: Avro's own two, and the two Spark and BigQuery exports also write. */
const CODECS = ['null', 'deflate', 'snappy', 'zstandard'];

/** A block's datums; throws when the block does not decompress (or, for snappy, fails its checksum). */
function decompress(codec: string, body: Buffer): Buffer {
  switch (codec) {
    case 'deflate':
      return inflateRawSync(body, { maxOutputLength: MAX_BLOCK });
    case 'snappy': {
      // Snappy's raw block format, then the CRC-32 of the uncompressed datums, big-endian.
      if (body.length < 4) throw new Error('shorter than its checksum');
      // Its first varint is the uncompressed length: checked before anything is allocated for it.
      let size = 0;
      for (let i = 0, shift = 1; i < 5 && i < body.length; i++, shift *= 128) {
        size += (body[i]! & 0x7f) * shift;
        if (!(body[i]! & 0x80)) break;
      }
      if (size > MAX_BLOCK) throw new Error(`it claims ${size} bytes, over the ${MAX_BLOCK}-byte limit`);
      const data = snappyDecompress(body.subarray(0, body.length - 4));
      if (crc32(data) !== body.readUInt32BE(body.length - 4)) throw new Error('its checksum does not match');
      return data;
    }
    case 'zstandard':
      return zstdDecompressSync(body, { maxOutputLength: MAX_BLOCK });
    default:
      return body;
  }
}

/** Its records are decoded from blocks, not byte ranges of the file: it has no `reread`, so batches keep their bytes. */
export class AvroFileSource extends LocalFileSource implements Source {
  readonly format = 'avro' as const;
  readonly rereadFromStart = true;
  avroWriterSchema: string | null = null;
  private readonly log: Logger | null;
  private codec = 'null';
  private sync: Buffer = Buffer.alloc(16);
  private writer!: avro.Type;
  private keyType!: avro.Type;
  private resolver!: ReturnType<avro.Type['createResolver']>;
  private index = 0;
  /** Damaged blocks skipped so far (each one dead-lettered). */
  damagedBlocks = 0;

  constructor(path: string, log: Logger | null = null) {
    super(path, `file:${path}`, 'GAMESTREAM_SOURCE file');
    this.log = log;
  }

  private async read(at: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.size - at)));
    return buf.subarray(0, await this.readAt(buf, at));
  }

  override async open(): Promise<void> {
    await super.open();
    let head = await this.read(0, 64 << 10);
    if (head.length < 4 || !head.subarray(0, 4).equals(MAGIC)) {
      throw new GamestreamError('input_not_found', `${this.path} is not an Avro object container file (bad magic bytes)`);
    }
    let h = tryDecode(HEADER, head, 0);
    while ((!h || h.offset < 0) && head.length < Math.min(this.size, MAX_HEADER)) {
      head = await this.read(0, Math.min(head.length * 4, MAX_HEADER));
      h = tryDecode(HEADER, head, 0);
    }
    if (!h || h.offset < 0) throw new GamestreamError('input_not_found', `${this.path}: truncated or unreadable Avro header`);
    const header = h.value as { meta: Record<string, Buffer>; sync: Buffer };
    this.pos = h.offset;
    this.sync = Buffer.from(header.sync);
    this.codec = header.meta['avro.codec']?.toString() ?? 'null';
    if (!CODECS.includes(this.codec)) {
      throw new GamestreamError('config_invalid', `GAMESTREAM_SOURCE file ${this.path}: its Avro codec ${this.codec} is not supported (${CODECS.join(', ')}); nothing was read. Write the file with one of those (Spark: spark.sql.avro.compression.codec)`);
    }
    const schemaJson = header.meta['avro.schema']?.toString();
    if (!schemaJson) throw new GamestreamError('input_not_found', `${this.path}: Avro header has no schema`);
    this.avroWriterSchema = schemaJson;
    try {
      this.writer = avroWriterType(schemaJson);
    } catch (err) {
      throw new GamestreamError('config_invalid', `GAMESTREAM_SOURCE file ${this.path}: the schema in its Avro header is not valid Avro (${(err as Error).message.slice(0, 200)}); nothing was read. Write the file with a valid schema`, { cause: err });
    }
    // A schema without a field every event needs would dead-letter every record, one by one, to the end.
    const fields = new Set(((this.writer as unknown as { fields?: { name: string }[] }).fields ?? []).map((f) => f.name));
    const absent = REQUIRED_FIELDS.filter((f) => !fields.has(f));
    if (absent.length > 0) {
      throw new GamestreamError('config_invalid',
        `GAMESTREAM_SOURCE file ${this.path}: its Avro schema has no field ${absent.join(', ')}, which every event needs (${REQUIRED_FIELDS.join(', ')}; schemas/game-event.avsc is the full schema); nothing was read. Write the file with those fields, or convert it`);
    }
    const userIdField = (this.writer as unknown as { fields?: { name: string; type: avro.Type }[] }).fields?.find((f) => f.name === 'user_id');
    this.keyType = avroWriterType({
      type: 'record',
      name: (this.writer as unknown as { name?: string }).name ?? 'GameEvent',
      fields: userIdField ? [{ name: 'user_id', type: userIdField.type.schema() as avro.Schema }] : [],
    } as avro.Schema);
    this.resolver = this.keyType.createResolver(this.writer);
  }

  async next(): Promise<RecordChunk | null> {
    if (this.pos >= this.size) return null;
    const at = this.pos;
    // A block starts with its datum count and byte size (two varints of at most 10 bytes each).
    const lead = await this.read(at, 20);
    const count = tryDecode(LONG, lead, 0);
    const size = count && count.offset > 0 ? tryDecode(LONG, lead, count.offset) : null;
    const n = Number(count?.value ?? -1);
    const len = Number(size?.value ?? -1);
    const bodyAt = at + (size?.offset ?? 0);
    // Every datum of an event takes at least one byte, so a count above the size is damage too.
    if (!count || !size || size.offset < 0 || n < 0 || len < 0 || len > MAX_BLOCK || n > len || bodyAt + len + 16 > this.size) {
      return this.damaged(at, 'its count or size does not fit the file');
    }
    const block = await this.read(bodyAt, len + 16);
    if (!block.subarray(len).equals(this.sync)) return this.damaged(at, 'no sync marker follows it');
    let data: Buffer;
    try {
      data = decompress(this.codec, block.subarray(0, len));
    } catch (err) {
      return this.damaged(at, `it does not decompress (${this.codec}: ${(err as Error).message})`);
    }
    const starts = new Uint32Array(n);
    const ends = new Uint32Array(n);
    const keys: (Uint8Array | null)[] = new Array(n);
    let p = 0;
    for (let i = 0; i < n; i++) {
      const r = tryDecode(this.keyType, data, p, this.resolver);
      if (!r || r.offset < 0 || r.offset > data.length) return this.damaged(at, `datum ${i} of ${n} does not decode`);
      starts[i] = p;
      ends[i] = r.offset;
      p = r.offset;
      const uid = unwrap((r.value as { user_id?: unknown }).user_id);
      keys[i] = typeof uid === 'string' && uid !== '' ? encoder.encode(uid) : null;
    }
    this.pos = bodyAt + len + 16;
    const firstIndex = this.index;
    this.index += n;
    return { data, starts, ends, count: n, firstIndex, keys };
  }

  /**
   * One record holding the start of the damaged block (the workers dead-letter it), then on from the next sync
   * marker, or to the end of the file when there is none.
   */
  private async damaged(at: number, why: string): Promise<RecordChunk> {
    this.damagedBlocks++;
    const prefix = await this.read(at, DAMAGED_PREFIX);
    let next = this.size;
    for (let from = at + 1; from < this.size; from += SCAN - 15) {
      const window = await this.read(from, SCAN);
      const i = window.indexOf(this.sync);
      if (i >= 0) {
        next = from + i + 16;
        break;
      }
      if (window.length < SCAN) break;
    }
    this.log?.warn({ file: this.path, at, resumeAt: next, why }, 'damaged Avro block: its records are lost, its start is dead-lettered, and reading goes on at the next sync marker');
    this.pos = next;
    const firstIndex = this.index++;
    return { data: prefix, starts: Uint32Array.of(0), ends: Uint32Array.of(prefix.length), count: 1, firstIndex, keys: [null] };
  }

  lostNote(): string | null {
    if (this.damagedBlocks === 0) return null;
    return `${this.damagedBlocks} damaged Avro block(s) in ${this.path}: their records are lost, each block dead-lettered as one parse_error holding its first ${DAMAGED_PREFIX} bytes (the log says where each was)`;
  }

  /** A file never waits for data: nothing to interrupt. */
  override interrupt(): void {}

  override async close(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = null;
  }
}

/** avsc throws on some garbage (reading past the end, bad union indices) instead of answering offset -1. */
function tryDecode(type: avro.Type, buf: Buffer, pos: number, resolver?: ReturnType<avro.Type['createResolver']>): { value: unknown; offset: number } | null {
  try {
    return resolver ? type.decode(buf, pos, resolver) : type.decode(buf, pos);
  } catch {
    return null;
  }
}

function unwrap(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const k = Object.keys(v);
  return k.length === 1 ? (v as Record<string, unknown>)[k[0]] : v;
}
