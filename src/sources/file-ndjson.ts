/** NDJSON files: one record per line. Empty lines are not records and get no number. */
import { open, type FileHandle } from 'node:fs/promises';
import { GamestreamError } from '../errors.ts';
import type { RecordChunk, Source } from './source.ts';

const READ_BYTES = 4 << 20;

export class NdjsonFileSource implements Source {
  readonly name: string;
  readonly format = 'ndjson' as const;
  readonly avroWriterSchema = null;
  readonly partitionedLog = null;
  readonly group = null;
  private readonly path: string;
  private fh: FileHandle | null = null;
  private size = 0;
  private pos = 0;
  private carry: Buffer = Buffer.alloc(0);
  private index = 0;
  private eof = false;

  constructor(path: string) {
    this.path = path;
    this.name = `file:${path}`;
  }

  async open(): Promise<void> {
    try {
      this.fh = await open(this.path, 'r');
      this.size = (await this.fh.stat()).size;
    } catch (err) {
      throw new GamestreamError('input_not_found', `cannot read GAMESTREAM_SOURCE file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async next(): Promise<RecordChunk | null> {
    for (;;) {
      if (this.eof) {
        if (this.carry.length === 0) return null;
        // The last line has no newline: it is still a record.
        const data = this.carry;
        this.carry = Buffer.alloc(0);
        return this.chunk(data, true);
      }
      const buf = Buffer.allocUnsafe(this.carry.length + READ_BYTES);
      this.carry.copy(buf, 0);
      const { bytesRead } = await this.fh!.read(buf, this.carry.length, READ_BYTES, this.pos);
      this.pos += bytesRead;
      if (bytesRead === 0) this.eof = true;
      const data = buf.subarray(0, this.carry.length + bytesRead);
      const lastNl = data.lastIndexOf(10);
      if (lastNl === -1) {
        this.carry = this.eof ? data : Buffer.from(data); // a line longer than one read: keep reading
        continue;
      }
      this.carry = Buffer.from(data.subarray(lastNl + 1));
      const chunk = this.chunk(data.subarray(0, lastNl + 1), false);
      if (chunk.count > 0) return chunk;
    }
  }

  private chunk(data: Buffer, last: boolean): RecordChunk {
    const starts: number[] = [];
    const ends: number[] = [];
    let s = 0;
    for (;;) {
      let nl = data.indexOf(10, s);
      if (nl === -1) {
        if (!last || s >= data.length) break;
        nl = data.length;
      }
      let e = nl;
      if (e > s && data[e - 1] === 13) e--; // CRLF files
      if (e > s) {
        starts.push(s);
        ends.push(e);
      }
      s = nl + 1;
    }
    const firstIndex = this.index;
    this.index += starts.length;
    return { data, starts: Uint32Array.from(starts), ends: Uint32Array.from(ends), count: starts.length, firstIndex, keys: null };
  }

  /** A file never waits for data: nothing to interrupt. */
  interrupt(): void {}

  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: this.pos, totalBytes: this.size };
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }
}
