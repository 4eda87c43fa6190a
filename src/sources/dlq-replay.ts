/**
 * The source of a dead-letter replay (`gamestream dlq replay`, replay/store.ts): the claimed letters' raw
 * records, spooled to a local file in replay order before the engine starts (the engine holds the warehouse while
 * it runs). Record seq is stored at offset seq of the partition its user_id places it in, as the router would
 * place it, so the warehouse's checkpoints resume a replay exactly after a crash: the spool is written again from
 * the same claimed rows, in the same order.
 *
 * Spool file: each record as a 4-byte little-endian length, then its bytes. Records are whole: raw messages
 * hold no line structure to rely on (a JSON record may contain a line break).
 */
import { open } from 'node:fs/promises';
import { GamestreamError } from '../errors.ts';
import { LocalFileSource } from './local-file.ts';
import { partitionOfRecord } from './partitioner.ts';
import type { RecordChunk, Source } from './source.ts';

const READ_BYTES = 4 << 20;

/** Writes the spool: `pages` yields records in seq order, from seq 0, with no gaps. */
export async function writeReplaySpool(path: string, pages: AsyncIterable<{ seq: number; raw: string }[]>): Promise<number> {
  const fh = await open(path, 'w');
  let next = 0;
  try {
    for await (const page of pages) {
      const parts: Buffer[] = [];
      for (const r of page) {
        if (r.seq !== next) throw new GamestreamError('internal', `replay spool: record ${r.seq} came where ${next} was due`);
        next++;
        const body = Buffer.from(r.raw, 'utf8');
        const head = Buffer.allocUnsafe(4);
        head.writeUInt32LE(body.length, 0);
        parts.push(head, body);
      }
      await fh.write(Buffer.concat(parts));
    }
  } finally {
    await fh.close();
  }
  return next;
}

/** Its records are byte ranges of the spool, so a batch's bytes are let go once read and read again for a replay. */
export class ReplaySpoolSource extends LocalFileSource implements Source {
  readonly format = 'ndjson' as const;
  readonly avroWriterSchema = null;
  private readonly partitions: number;
  private seq = 0;
  /** True once every record was handed out (not merely stopped by interrupt()). */
  ended = false;

  constructor(path: string, name: string, partitions: number) {
    super(path, name, 'the dead-letter replay spool');
    this.partitions = partitions;
  }

  reread(filePos: Float64Array, index: Int32Array, into: Uint8Array): Promise<void> {
    return this.readRanges(filePos, index, into);
  }

  async next(): Promise<RecordChunk | null> {
    if (this.interrupted) return null;
    if (this.pos >= this.size) {
      this.ended = true;
      return null;
    }
    // Whole records only: the first one sets the least to read.
    const head = Buffer.allocUnsafe(4);
    await this.fh!.read(head, 0, 4, this.pos);
    const want = Math.min(this.size - this.pos, Math.max(READ_BYTES, 4 + head.readUInt32LE(0)));
    const data = Buffer.allocUnsafe(want);
    const { bytesRead } = await this.fh!.read(data, 0, want, this.pos);
    const starts: number[] = [];
    const ends: number[] = [];
    let p = 0;
    while (p + 4 <= bytesRead) {
      const len = data.readUInt32LE(p);
      if (p + 4 + len > bytesRead) break;
      starts.push(p + 4);
      ends.push(p + 4 + len);
      p += 4 + len;
    }
    if (starts.length === 0) throw new GamestreamError('internal', `replay spool ${this.path} is cut short at byte ${this.pos}`);
    const count = starts.length;
    const chunk: RecordChunk = {
      data: data.subarray(0, p), starts: Uint32Array.from(starts), ends: Uint32Array.from(ends), count, firstIndex: this.seq, keys: null, filePos: this.pos,
    };
    const partitions = new Int32Array(count);
    const offsets = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      partitions[i] = partitionOfRecord(chunk, i, this.partitions);
      offsets[i] = this.seq + i;
    }
    this.seq += count;
    this.pos += p;
    chunk.partitions = partitions;
    chunk.offsets = offsets;
    return chunk;
  }
}
