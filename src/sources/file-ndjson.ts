/**
 * NDJSON files: one record per line. Empty lines are not records and get no number.
 *
 * A line over the size limit is never held whole: once the unfinished line passes the limit it is read on in
 * constant memory (its size counted, its SHA-256 hashed, its first bytes kept) and handed on as one stand-in
 * record (src/contract/oversized.ts), so any line costs at most the limit plus one read.
 */
import { createHash, type Hash } from 'node:crypto';
import { encodeStandIn, oversizedPrefixBytes } from '../contract/oversized.ts';
import { scanUserIdKey } from './key-scan.ts';
import { GamestreamError } from '../errors.ts';
import { LocalFileSource } from './local-file.ts';
import type { RecordChunk, Source } from './source.ts';

const READ_BYTES = 4 << 20;
const CR = 13;

/** The line being cut: what is known of it so far. */
interface Cut {
  hash: Hash;
  size: number;
  prefix: Buffer;
  key: Uint8Array | null;
  /** A CR at the end of what was read: part of the line unless the LF follows (CRLF files). */
  cr: boolean;
}

export class NdjsonFileSource extends LocalFileSource implements Source {
  readonly format = 'ndjson' as const;
  readonly avroWriterSchema = null;
  readonly cutsOversized = true;
  readonly rereadFromStart = true;
  private readonly maxLineBytes: number;
  private carry: Buffer = Buffer.alloc(0);
  private index = 0;
  private eof = false;
  private cut: Cut | null = null;
  /** The one buffer a line being cut is read into (what follows its end is copied out). */
  private scratch: Buffer | null = null;
  private readBuf: Buffer | null = null;
  private unfinished = 0;

  constructor(path: string, maxLineBytes = 64 << 20) {
    super(path, `file:${path}`, 'GAMESTREAM_SOURCE file');
    this.maxLineBytes = maxLineBytes;
  }

  /** A gzip file would be read as lines of compressed bytes, every one a dead letter: refused with what to do. */
  override async open(): Promise<void> {
    await super.open();
    const head = Buffer.alloc(2);
    if ((await this.readAt(head, 0)) === 2 && head[0] === 0x1f && head[1] === 0x8b) {
      await this.close();
      throw new GamestreamError('config_invalid', `GAMESTREAM_SOURCE file ${this.path} is gzip-compressed; gamestream reads NDJSON files as they are: decompress it first (gunzip -k ${this.path}) and name the .ndjson file`);
    }
  }

  async next(): Promise<RecordChunk | null> {
    for (;;) {
      // A long line is many reads without a record: shutdown must not wait for its end.
      if (this.interrupted) return null;
      if (this.cut) {
        const done = await this.readCut();
        if (done) return done;
        continue;
      }
      if (this.eof) {
        if (this.carry.length === 0) return null;
        const data = this.carry;
        this.carry = Buffer.alloc(0);
        // The last line has no newline. Whole (it parses), it is a record. Cut short (its writer is not done), it is
        // not read and spends no record number: a fragment read as a record would take a place (partition and
        // offset) that the whole line, read by a later run, does not have, and that run would skip another record.
        if (data.length === 1 && data[0] === CR) return null;
        if (!parses(data)) {
          this.unfinished = data.length;
          return null;
        }
        return this.chunk(data, true, this.pos - data.length);
      }
      // Reads grow with the unfinished line (so it is copied a bounded number of times), up to just past the limit.
      const want = Math.max(READ_BYTES, Math.min(this.carry.length, this.maxLineBytes + 1 - this.carry.length));
      // One read buffer, reused: a chunk's bytes are copied into batches before the next read (Source.next).
      if (!this.readBuf || this.readBuf.length < this.carry.length + want) this.readBuf = Buffer.allocUnsafe(this.carry.length + want);
      const buf = this.readBuf;
      this.carry.copy(buf, 0);
      const { bytesRead } = await this.fh!.read(buf, this.carry.length, want, this.pos);
      this.pos += bytesRead;
      if (bytesRead === 0) this.eof = true;
      const data = buf.subarray(0, this.carry.length + bytesRead);
      const lastNl = data.lastIndexOf(10);
      if (lastNl === -1) {
        if (data.length > this.maxLineBytes) {
          this.startCut(data);
          continue;
        }
        this.carry = this.eof ? data : Buffer.from(data); // a line longer than one read: keep reading
        continue;
      }
      this.carry = Buffer.from(data.subarray(lastNl + 1));
      const chunk = this.chunk(data.subarray(0, lastNl + 1), false, this.pos - data.length);
      if (chunk.count > 0) return chunk;
    }
  }

  /** Bytes of a last line that had no newline and did not parse, so it was not read (0: none). */
  unreadTail(): number {
    return this.unfinished;
  }

  /** The unfinished line (it starts at a line start) passed the limit: from here on it is only hashed. */
  private startCut(line: Buffer): void {
    const k = scanUserIdKey(line, 0, line.length);
    const key = k ? Buffer.from(k.decoded ?? line.subarray(k.start, k.end)) : null;
    this.cut = { hash: createHash('sha256'), size: 0, prefix: Buffer.from(line.subarray(0, oversizedPrefixBytes(this.maxLineBytes))), key, cr: false };
    this.carry = Buffer.alloc(0);
    this.feed(line);
  }

  private feed(part: Buffer): void {
    const c = this.cut!;
    if (part.length === 0) return; // a CR held back stays undecided
    if (c.cr) {
      c.hash.update(Buffer.of(CR));
      c.size++;
      c.cr = false;
    }
    if (part.length > 0 && part[part.length - 1] === CR) {
      c.cr = true;
      part = part.subarray(0, part.length - 1);
    }
    c.hash.update(part);
    c.size += part.length;
  }

  /** Reads on through the line being cut; its stand-in once its end is found, else null. */
  private async readCut(): Promise<RecordChunk | null> {
    const buf = (this.scratch ??= Buffer.allocUnsafe(READ_BYTES));
    const { bytesRead } = await this.fh!.read(buf, 0, READ_BYTES, this.pos);
    this.pos += bytesRead;
    if (bytesRead === 0) this.eof = true;
    const data = buf.subarray(0, bytesRead);
    const nl = data.indexOf(10);
    this.feed(nl === -1 ? data : data.subarray(0, nl));
    if (nl === -1 && !this.eof) return null;
    // The line ends here (a CR just before the LF, or at the end of the file, is not part of it).
    if (nl !== -1) this.carry = Buffer.from(data.subarray(nl + 1));
    const c = this.cut!;
    this.cut = null;
    this.scratch = null;
    const record = encodeStandIn({ size: c.size, sha256: c.hash.digest('hex'), prefix: c.prefix });
    const firstIndex = this.index++;
    return { data: record, starts: Uint32Array.of(0), ends: Uint32Array.of(record.length), count: 1, firstIndex, keys: [c.key] };
  }

  reread(filePos: Float64Array, index: Int32Array, into: Uint8Array): Promise<void> {
    return this.readRanges(filePos, index, into);
  }

  /** `filePos`: where data[0] is in the file. */
  private chunk(data: Buffer, last: boolean, filePos: number): RecordChunk {
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
      if (e > s && data[e - 1] === CR) e--; // CRLF files
      if (e > s) {
        starts.push(s);
        ends.push(e);
      }
      s = nl + 1;
    }
    const firstIndex = this.index;
    this.index += starts.length;
    return { data, starts: Uint32Array.from(starts), ends: Uint32Array.from(ends), count: starts.length, firstIndex, keys: null, filePos };
  }

}

/** Whether a line is whole JSON: a line cut short is not (a JSON object has no complete prefix). */
function parses(line: Buffer): boolean {
  try {
    JSON.parse(line.toString());
    return true;
  } catch {
    return false;
  }
}
