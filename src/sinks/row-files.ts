/**
 * Workers hand the warehouse files of rows, not objects: DuckDB's native reader loads a file in its own
 * threads, far faster than row-by-row appends on the one thread that owns the database.
 *
 * Rows are NDJSON objects. V8's JSON.stringify builds a row in about a quarter of the time that
 * concatenating quoted CSV fields takes (measured in bench/micro), the `parameters` object is embedded as-is
 * instead of being encoded twice, and DuckDB reads both formats at about the same cost.
 */
import { closeSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FlushFiles } from '../contract/checkpoint.ts';
import { mib, roomOf } from '../dirs.ts';
import { GamestreamError } from '../errors.ts';

const CHUNK = 4 << 20;

/**
 * Accumulates one table's rows as UTF-8 bytes in fixed chunks. Each row is encoded as soon as it is pushed:
 * holding row strings until the flush would promote them to the old generation and make GC a large cost.
 *
 * With a spill path, each full chunk is written out at once to a file that `writeTo` then renames, and the
 * chunk takes the next rows: a worker holds one chunk per table instead of a whole flush's rows (up to
 * GAMESTREAM_FLUSH_ROWS of them, over 100 MB), which the spool holds in any case once the flush writes them.
 */
export class RowBuffer {
  private chunks: Buffer[] = [];
  private cur: Buffer = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  private total = 0;
  /** Names a new file for the rows of the next flush; null: rows stay in memory until `writeTo`. */
  private readonly spillPath: (() => string) | null;
  private spill: { fd: number; path: string } | null = null;
  rows = 0;

  constructor(spillPath: (() => string) | null = null) {
    this.spillPath = spillPath;
  }

  push(row: object): void {
    this.pushLine(JSON.stringify(row));
  }

  pushLine(line: string): void {
    const worst = line.length * 3 + 1;
    if (this.pos + worst > this.cur.length) this.nextChunk(worst);
    this.pos += this.cur.write(line, this.pos, 'utf8');
    this.cur[this.pos++] = 10;
    this.rows++;
  }

  private nextChunk(worst: number): void {
    const size = Math.max(CHUNK, worst);
    if (this.pos > 0) {
      if (this.spillPath) this.spillOut(this.cur.subarray(0, this.pos));
      else this.chunks.push(this.cur.subarray(0, this.pos));
    }
    this.total += this.pos;
    // A spilled chunk is on disk: the same buffer takes the next rows unless a larger row needs a larger one.
    if (!this.spillPath || this.cur.length !== size) this.cur = Buffer.allocUnsafe(size);
    this.pos = 0;
  }

  private spillOut(bytes: Buffer): void {
    if (!this.spill) {
      const path = this.spillPath!();
      this.spill = { fd: spoolWrite(path, () => openSync(path, 'w')), path };
    }
    const { fd, path } = this.spill;
    spoolWrite(path, () => writeAll(fd, bytes));
  }

  /** Writes the buffered rows to `path` and empties the buffer; returns the row count written. */
  writeTo(path: string): number {
    if (this.spill) {
      const { fd, path: partial } = this.spill;
      this.spill = null;
      try {
        spoolWrite(partial, () => writeAll(fd, this.cur.subarray(0, this.pos)));
      } finally {
        closeSync(fd);
      }
      renameSync(partial, path);
    } else {
      if (this.pos > 0) this.chunks.push(this.cur.subarray(0, this.pos));
      const fd = spoolWrite(path, () => openSync(path, 'w'));
      try {
        spoolWrite(path, () => {
          for (const c of this.chunks) writeAll(fd, c);
        });
      } finally {
        closeSync(fd);
      }
      this.chunks = [];
    }
    const rows = this.rows;
    if (!this.spillPath || this.cur.length !== CHUNK) this.cur = Buffer.allocUnsafe(CHUNK);
    this.pos = 0;
    this.total = 0;
    this.rows = 0;
    return rows;
  }

  get pendingBytes(): number {
    return this.total + this.pos;
  }
}

/** A flush's tables, each written to `<base>.<suffix>.ndjson` when it has rows. */
const FLUSH_SUFFIXES: Record<keyof FlushFiles, string> = { events: 'events', dlq: 'dlq', agg: 'agg', aggUpdates: 'agg-updates', users: 'users' };

/**
 * Writes a flush's buffered rows, one file per table that has rows; the files, null for a table without rows. All
 * or none: when one cannot be written (a full spool), those written are removed before the error goes on, since
 * the thread then dies, its rows are replayed, and its files would take the room the replay needs.
 */
export function writeFlush(base: string, tables: Record<keyof FlushFiles, Pick<RowBuffer, 'rows' | 'writeTo'>>): FlushFiles {
  const files: Required<FlushFiles> = { events: null, dlq: null, agg: null, aggUpdates: null, users: null };
  try {
    for (const key of Object.keys(FLUSH_SUFFIXES) as (keyof FlushFiles)[]) {
      if (tables[key].rows > 0) tables[key].writeTo((files[key] = `${base}.${FLUSH_SUFFIXES[key]}.ndjson`));
    }
  } catch (err) {
    for (const f of Object.values(files)) if (f !== null) rmSync(f, { force: true });
    throw err;
  }
  return files;
}

/** Errors of a file system out of room: the spool's, not the daemon's, so they get a message that says what to do. */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Runs a write of a spool file; a full file system becomes `spool_full`, naming the folder, its free space and
 * the settings that fix it. Retryable: the worker's restart tries again, and commits free room meanwhile.
 */
function spoolWrite<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!NO_ROOM.has(code)) throw err;
    const dir = dirname(path);
    const room = roomOf(dir);
    throw new GamestreamError('spool_full',
      `the spool folder ${dir} is full (${code} writing ${basename(path)}${room ? `; ${mib(room.free)} of ${mib(room.size)} free` : ''}). Row files wait there for their commit: the rows `
      + 'of up to GAMESTREAM_MAX_UNCOMMITTED_BYTES of records, about 1.5 times as many bytes. Point GAMESTREAM_SPOOL_DIR at a folder with '
      + 'more room (one on disk will do), give /dev/shm more (docker run --shm-size), or lower GAMESTREAM_MAX_UNCOMMITTED_BYTES',
      { retryable: true, cause: err });
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
}

/** Names a table's spill files: `table` → a new path for each flush's spilled chunks. */
export type SpillFiles = (table: string) => () => string;

/** The start of every spill file name of a worker, whichever of its threads wrote it. */
const spillNameStart = (workerIndex: number): string => `w${workerIndex}-${process.pid}-t`;

/** A worker thread's spill files: their names are unique to the thread, so a restarted worker never reuses one. */
export function spillFiles(spoolDir: string, workerIndex: number, threadId: number): SpillFiles {
  const prefix = join(spoolDir, `${spillNameStart(workerIndex)}${threadId}`);
  let n = 0;
  return (table) => () => `${prefix}-${++n}.${table}.partial`;
}

/**
 * Removes the spill files a worker's earlier thread left when it died before its flush (its rows are replayed
 * from the source). Only the worker's new thread calls it, before it takes any rows.
 */
export function removeSpills(spoolDir: string, workerIndex: number): void {
  const start = spillNameStart(workerIndex);
  for (const name of readdirSync(spoolDir)) {
    if (name.startsWith(start) && name.endsWith('.partial')) rmSync(join(spoolDir, name), { force: true });
  }
}
