/**
 * Avro object container files. Blocks are split into datums here (on the supervisor thread) with a reader
 * schema that keeps only `user_id`, so the key costs little; workers decode the datums fully.
 */
import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { REQUIRED_FIELDS } from '../contract/rules.ts';
import { GamestreamError } from '../errors.ts';
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

export class AvroFileSource implements Source {
  readonly name: string;
  readonly format = 'avro' as const;
  avroWriterSchema: string | null = null;
  readonly partitionedLog = null;
  readonly group = null;
  private readonly path: string;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private codec = 'null';
  private sync: Buffer = Buffer.alloc(16);
  private writer!: avro.Type;
  private keyType!: avro.Type;
  private resolver!: ReturnType<avro.Type["createResolver"]>;
  private index = 0;

  constructor(path: string) {
    this.path = path;
    this.name = `file:${path}`;
  }

  async open(): Promise<void> {
    try {
      // Whole-file read: container files are block-structured and a block must be whole to decode.
      this.buf = await readFile(this.path);
    } catch (err) {
      throw new GamestreamError('input_not_found', `cannot read GAMESTREAM_SOURCE file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (this.buf.length < 4 || !this.buf.subarray(0, 4).equals(MAGIC)) {
      throw new GamestreamError('input_not_found', `${this.path} is not an Avro object container file (bad magic bytes)`);
    }
    const h = HEADER.decode(this.buf, 0);
    if (h.offset < 0) throw new GamestreamError('input_not_found', `${this.path}: truncated Avro header`);
    const header = h.value as { meta: Record<string, Buffer>; sync: Buffer };
    this.pos = h.offset;
    this.sync = header.sync;
    this.codec = header.meta['avro.codec']?.toString() ?? 'null';
    if (this.codec !== 'null' && this.codec !== 'deflate') {
      throw new GamestreamError('input_not_found', `${this.path}: Avro codec ${this.codec} is not supported (null or deflate)`);
    }
    const schemaJson = header.meta['avro.schema']?.toString();
    if (!schemaJson) throw new GamestreamError('input_not_found', `${this.path}: Avro header has no schema`);
    this.avroWriterSchema = schemaJson;
    this.writer = avro.Type.forSchema(JSON.parse(schemaJson) as avro.Schema, { wrapUnions: true });
    // A schema without a field every event needs would dead-letter every record, one by one, to the end.
    const fields = new Set(((this.writer as unknown as { fields?: { name: string }[] }).fields ?? []).map((f) => f.name));
    const absent = REQUIRED_FIELDS.filter((f) => !fields.has(f));
    if (absent.length > 0) {
      throw new GamestreamError('config_invalid',
        `GAMESTREAM_SOURCE file ${this.path}: its Avro schema has no field ${absent.join(', ')}, which every event needs (${REQUIRED_FIELDS.join(', ')}; schemas/game-event.avsc is the full schema); nothing was read. Write the file with those fields, or convert it`);
    }
    const userIdField = (this.writer as unknown as { fields?: { name: string; type: avro.Type }[] }).fields?.find((f) => f.name === 'user_id');
    this.keyType = avro.Type.forSchema(
      {
        type: 'record',
        name: (this.writer as unknown as { name?: string }).name ?? 'GameEvent',
        fields: userIdField ? [{ name: 'user_id', type: userIdField.type.schema() as avro.Schema }] : [],
      },
      { wrapUnions: true },
    );
    this.resolver = this.keyType.createResolver(this.writer);
  }

  async next(): Promise<RecordChunk | null> {
    if (this.pos >= this.buf.length) return null;
    const count = LONG.decode(this.buf, this.pos);
    const size = count.offset > 0 ? LONG.decode(this.buf, count.offset) : { value: -1, offset: -1 };
    const n = count.value as number;
    const len = size.value as number;
    if (count.offset < 0 || size.offset < 0 || n < 0 || len < 0 || size.offset + len + 16 > this.buf.length) {
      throw new GamestreamError('parse_error', `${this.path}: truncated or corrupt Avro block at byte ${this.pos}`);
    }
    const raw = this.buf.subarray(size.offset, size.offset + len);
    if (!this.buf.subarray(size.offset + len, size.offset + len + 16).equals(this.sync)) {
      throw new GamestreamError('parse_error', `${this.path}: Avro sync marker mismatch after the block at byte ${this.pos}`);
    }
    this.pos = size.offset + len + 16;
    const data = this.codec === 'deflate' ? inflateRawSync(raw) : raw;
    const starts = new Uint32Array(n);
    const ends = new Uint32Array(n);
    const keys: (Uint8Array | null)[] = new Array(n);
    let p = 0;
    for (let i = 0; i < n; i++) {
      const r = this.keyType.decode(data, p, this.resolver);
      if (r.offset < 0) throw new GamestreamError('parse_error', `${this.path}: Avro block holds fewer datums than its count`);
      starts[i] = p;
      ends[i] = r.offset;
      p = r.offset;
      const uid = unwrap((r.value as { user_id?: unknown }).user_id);
      keys[i] = typeof uid === 'string' && uid !== '' ? encoder.encode(uid) : null;
    }
    const firstIndex = this.index;
    this.index += n;
    return { data, starts, ends, count: n, firstIndex, keys };
  }

  /** A file never waits for data: nothing to interrupt. */
  interrupt(): void {}

  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: this.pos, totalBytes: this.buf.length };
  }

  async close(): Promise<void> {
    this.buf = Buffer.alloc(0);
  }
}

function unwrap(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const k = Object.keys(v);
  return k.length === 1 ? (v as Record<string, unknown>)[k[0]] : v;
}
