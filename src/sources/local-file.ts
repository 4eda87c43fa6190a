/**
 * What every source over a local file shares (an NDJSON or Avro file, a dead-letter replay's spool): the open file,
 * its size and read position for progress, interrupt and close, whole reads at a position, and reading records
 * again by their position in the file.
 *
 * A source whose records are byte ranges of its file (NDJSON lines, spool records) says where each chunk starts
 * (RecordChunk.filePos) and implements Source.reread with readRanges: the engine then keeps only positions once a
 * worker has read a batch, and reads the bytes back for a replay after a worker crash. Avro's records are decoded
 * from blocks, not ranges of the file, so the Avro source has no reread and its batches keep their bytes until
 * durable.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { GamestreamError } from '../errors.ts';

export abstract class LocalFileSource {
  readonly name: string;
  readonly partitionedLog = null;
  readonly group = null;
  protected readonly path: string;
  /** How errors name the file, e.g. "GAMESTREAM_SOURCE file". */
  private readonly described: string;
  protected fh: FileHandle | null = null;
  protected size = 0;
  /** Bytes read so far (the next read's position, for most sources). */
  protected pos = 0;
  protected interrupted = false;

  constructor(path: string, name: string, described: string) {
    this.path = path;
    this.name = name;
    this.described = described;
  }

  async open(): Promise<void> {
    let dir = false;
    try {
      this.fh = await open(this.path, 'r');
      const st = await this.fh.stat();
      this.size = st.size;
      dir = st.isDirectory();
    } catch (err) {
      throw new GamestreamError('input_not_found', `cannot read ${this.described} ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (dir) {
      await this.close();
      throw new GamestreamError('input_not_found', `${this.described} ${this.path} is a directory: name one file (each file is a source of its own; run them one after another)`);
    }
  }

  /** Fills `buf` from position `at`; fewer bytes only at the end of the file. Returns how many were read. */
  protected async readAt(buf: Uint8Array, at: number): Promise<number> {
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await this.fh!.read(buf, got, buf.length - got, at + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got;
  }

  /**
   * Source.reread for a source whose records are byte ranges of its file: puts a batch's records back into `into`,
   * from their positions in the file (`filePos`, one per record) to their places in the batch (`index`: [partition,
   * start, end] per record). A batch's records come from one chunk (the router seals at each chunk's end), so one
   * read covers them.
   */
  protected async readRanges(filePos: Float64Array, index: Int32Array, into: Uint8Array): Promise<void> {
    if (filePos.length === 0) return;
    let from = Infinity;
    let to = 0;
    for (let i = 0; i < filePos.length; i++) {
      from = Math.min(from, filePos[i]);
      to = Math.max(to, filePos[i] + index[3 * i + 2] - index[3 * i + 1]);
    }
    const span = Buffer.allocUnsafe(to - from);
    const got = await this.readAt(span, from);
    if (got < span.length) {
      throw new GamestreamError('input_changed', `${this.described} ${this.path} is shorter than when it was read (${from + got} bytes, at least ${to} before): it was changed while the daemon ran; replace a file only while no daemon reads it`);
    }
    for (let i = 0; i < filePos.length; i++) {
      const s = filePos[i] - from;
      into.set(span.subarray(s, s + index[3 * i + 2] - index[3 * i + 1]), index[3 * i + 1]);
    }
  }

  /** Shutdown: a source in the middle of a long read stops at its next one. */
  interrupt(): void {
    this.interrupted = true;
  }

  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: this.pos, totalBytes: this.size };
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }
}
