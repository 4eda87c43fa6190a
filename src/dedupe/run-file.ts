/**
 * A run: an immutable file of dedupe entries (entries.ts) sorted by (h32, key), written once and read with
 * positioned reads, never loaded whole. The index is a set of runs (manifest.ts); a lookup reads one block of
 * each run it has to ask.
 *
 *   header   64 bytes: "GSIDRUN1", entry count, min and max event time, block size in entries
 *   entries  count × 32 bytes, in index order
 *   fence    one uint32 per block: the h32 of the block's first entry
 *
 * A reader keeps only the fence in memory: 4 bytes per 128 entries (about 31 KB per million ids).
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ENTRY_BYTES, ENTRY_WORDS, entryH32, entrySeen } from './entries.ts';

const MAGIC = 'GSIDRUN1';
const HEADER_BYTES = 64;
/** Entries per block: one 4 KiB read. */
export const BLOCK_ENTRIES = 128;
const BLOCK_BYTES = BLOCK_ENTRIES * ENTRY_BYTES;

export interface RunStats {
  count: number;
  minSeenMs: number;
  maxSeenMs: number;
}

function writeAll(fd: number, buf: Uint8Array, position: number): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off, position + off);
}

/**
 * Writes a run from entries given in index order, in as many pieces as the caller likes, through a temporary
 * name: a reader never sees half a file, and a crash leaves only a stray temporary (removed at the next open).
 */
export class RunWriter {
  readonly path: string;
  private readonly tmp: string;
  private fd: number;
  private count = 0;
  private minSeen = Infinity;
  private maxSeen = -Infinity;
  private fence: number[] = [];

  constructor(path: string) {
    this.path = path;
    this.tmp = `${path}.tmp`;
    this.fd = openSync(this.tmp, 'w');
    writeAll(this.fd, Buffer.alloc(HEADER_BYTES), 0);
  }

  /** Appends `n` entries (packed words from `from`), which must sort after everything appended so far. */
  append(words: Int32Array, from: number, n: number): void {
    for (let i = 0; i < n; i++) {
      const at = (from + i) * ENTRY_WORDS;
      const ts = entrySeen(words, at);
      if (ts < this.minSeen) this.minSeen = ts;
      if (ts > this.maxSeen) this.maxSeen = ts;
      if ((this.count + i) % BLOCK_ENTRIES === 0) this.fence.push(entryH32(words, at));
    }
    writeAll(this.fd, new Uint8Array(words.buffer, words.byteOffset + from * ENTRY_BYTES, n * ENTRY_BYTES), HEADER_BYTES + this.count * ENTRY_BYTES);
    this.count += n;
  }

  /** Writes the fence and the header, then gives the file its name. `durable`: fsync first. */
  finish(durable = false): RunStats {
    const fence = Uint32Array.from(this.fence);
    writeAll(this.fd, new Uint8Array(fence.buffer), HEADER_BYTES + this.count * ENTRY_BYTES);
    const stats: RunStats = { count: this.count, minSeenMs: this.count > 0 ? this.minSeen : 0, maxSeenMs: this.count > 0 ? this.maxSeen : 0 };
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    header.writeDoubleLE(stats.count, 8);
    header.writeDoubleLE(stats.minSeenMs, 16);
    header.writeDoubleLE(stats.maxSeenMs, 24);
    header.writeUInt32LE(BLOCK_ENTRIES, 32);
    writeAll(this.fd, header, 0);
    if (durable) fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    renameSync(this.tmp, this.path);
    return stats;
  }

  /** Gives up: the temporary file goes. */
  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.tmp, { force: true });
  }
}

/** Writes a whole sorted entry array as a run at `path`. */
export function writeRun(path: string, sorted: Int32Array, durable = false): RunStats {
  const w = new RunWriter(path);
  try {
    w.append(sorted, 0, sorted.length / ENTRY_WORDS);
    return w.finish(durable);
  } catch (err) {
    w.abort();
    throw err;
  }
}

/** Called for each entry whose key matches; returning true ends the lookup (a duplicate was found). */
export type EntryVisitor = (words: Int32Array, at: number) => boolean;

/** Positioned reads of one run. Not thread-safe: one reader per thread. */
export class RunReader implements RunStats {
  readonly path: string;
  readonly count: number;
  readonly minSeenMs: number;
  readonly maxSeenMs: number;
  private fd: number;
  private readonly fence: Uint32Array;
  private readonly block = new Int32Array(BLOCK_ENTRIES * ENTRY_WORDS);
  private readonly blockBytes = new Uint8Array(this.block.buffer);

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'r');
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      if (readSync(this.fd, header, 0, HEADER_BYTES, 0) !== HEADER_BYTES || header.toString('latin1', 0, 8) !== MAGIC) {
        throw new Error(`${path} is not a dedupe run file`);
      }
      this.count = header.readDoubleLE(8);
      this.minSeenMs = header.readDoubleLE(16);
      this.maxSeenMs = header.readDoubleLE(24);
      const blocks = Math.ceil(this.count / BLOCK_ENTRIES);
      const size = HEADER_BYTES + this.count * ENTRY_BYTES + blocks * 4;
      if (header.readUInt32LE(32) !== BLOCK_ENTRIES || fstatSync(this.fd).size !== size) {
        throw new Error(`${path} is cut short or damaged (expected ${size} bytes)`);
      }
      this.fence = new Uint32Array(blocks);
      readSync(this.fd, new Uint8Array(this.fence.buffer), 0, blocks * 4, HEADER_BYTES + this.count * ENTRY_BYTES);
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** Visits the entries with this key, in index order, until `visit` returns true; returns whether it did. */
  find(h: number, k0: number, k1: number, k2: number, k3: number, visit: EntryVisitor): boolean {
    const fence = this.fence;
    // The first block that may hold h: the last one whose first h32 is below h (equal keys may start there).
    let lo = 0;
    let hi = fence.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fence[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    for (let b = Math.max(0, lo - 1); b < fence.length && fence[b]! <= h; b++) {
      const n = this.readBlock(b);
      const w = this.block;
      // The block is sorted too: start at its first entry with an h32 of at least h.
      let i = 0;
      for (let top = n; i < top; ) {
        const mid = (i + top) >>> 1;
        if (entryH32(w, mid * ENTRY_WORDS) < h) i = mid + 1;
        else top = mid;
      }
      for (; i < n; i++) {
        const at = i * ENTRY_WORDS;
        if (entryH32(w, at) !== h) return false;
        if (w[at] === k0 && w[at + 1] === k1 && w[at + 2] === k2 && w[at + 3] === k3 && visit(w, at)) return true;
      }
    }
    return false;
  }

  private readBlock(b: number): number {
    const n = Math.min(BLOCK_ENTRIES, this.count - b * BLOCK_ENTRIES);
    const bytes = n * ENTRY_BYTES;
    const got = readSync(this.fd, this.blockBytes, 0, bytes, HEADER_BYTES + b * BLOCK_BYTES);
    if (got !== bytes) throw new Error(`short read in ${this.path}`);
    return n;
  }

  /** Reads entries [from, from + n) into `into` (packed words); for merging and rebuilding the filter. */
  readEntries(from: number, n: number, into: Int32Array): void {
    const bytes = n * ENTRY_BYTES;
    const view = new Uint8Array(into.buffer, into.byteOffset, bytes);
    for (let off = 0; off < bytes; ) {
      const got = readSync(this.fd, view, off, bytes - off, HEADER_BYTES + from * ENTRY_BYTES + off);
      if (got === 0) throw new Error(`short read in ${this.path}`);
      off += got;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
