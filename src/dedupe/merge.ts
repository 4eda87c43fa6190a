/**
 * Merging runs into one (compaction), dropping entries that have left the horizon. Reads each input a chunk at a
 * time, so memory stays at a few chunks however large the runs are, and pauses between chunks so the thread
 * that runs it keeps serving its other work.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ENTRY_WORDS, entryH32, entryOrigin, entryPartition, entrySeen } from './entries.ts';
import { RunReader, RunWriter, type RunStats } from './run-file.ts';

const CHUNK = 4096;

class Cursor {
  private readonly run: RunReader;
  readonly buf = new Int32Array(CHUNK * ENTRY_WORDS);
  private next = 0; // next entry of the run to read into buf
  private n = 0; // entries in buf
  pos = 0; // current entry in buf
  h = 0; // its h32

  constructor(run: RunReader) {
    this.run = run;
  }

  /** Moves to the next entry; false at the end of the run. */
  advance(): boolean {
    this.pos++;
    if (this.pos >= this.n) {
      const left = this.run.count - this.next;
      if (left <= 0) return false;
      this.n = Math.min(CHUNK, left);
      this.run.readEntries(this.next, this.n, this.buf);
      this.next += this.n;
      this.pos = 0;
    }
    this.h = entryH32(this.buf, this.pos * ENTRY_WORDS);
    return true;
  }

  start(): boolean {
    this.pos = -1;
    return this.advance();
  }
}

/** True when cursor a's entry sorts before b's: (h32, key words unsigned). */
function before(a: Cursor, b: Cursor): boolean {
  if (a.h !== b.h) return a.h < b.h;
  const x = a.pos * ENTRY_WORDS;
  const y = b.pos * ENTRY_WORDS;
  for (let j = 0; j < 4; j++) {
    const u = a.buf[x + j]! >>> 0;
    const v = b.buf[y + j]! >>> 0;
    if (u !== v) return u < v;
  }
  return false;
}

/**
 * Writes the entries of `inputs` seen at or after `keepFrom(origin, partition)` of their own source partition, in
 * index order, to a new run at `path`. Resolves to its stats (count 0: nothing was left; the file is then an
 * empty run), or to null when `cancelled` said so between chunks (nothing is written then).
 */
export async function mergeRuns(inputs: string[], path: string, keepFrom: (origin: number, partition: number) => number, cancelled: () => boolean = () => false): Promise<RunStats | null> {
  const readers: RunReader[] = [];
  let writer: RunWriter | null = null;
  try {
    for (const p of inputs) readers.push(new RunReader(p));
    writer = new RunWriter(path);
    let live = readers.map((r) => new Cursor(r)).filter((c) => c.start());
    const out = new Int32Array(CHUNK * ENTRY_WORDS);
    let n = 0;
    while (live.length > 0) {
      let min = live[0]!;
      for (let i = 1; i < live.length; i++) if (before(live[i]!, min)) min = live[i]!;
      const at = min.pos * ENTRY_WORDS;
      if (entrySeen(min.buf, at) >= keepFrom(entryOrigin(min.buf, at), entryPartition(min.buf, at))) {
        for (let j = 0, to = n * ENTRY_WORDS; j < ENTRY_WORDS; j++) out[to + j] = min.buf[at + j]!;
        if (++n === CHUNK) {
          writer.append(out, 0, n);
          n = 0;
          await yieldToLoop();
          if (cancelled()) {
            writer.abort();
            return null;
          }
        }
      }
      if (!min.advance()) live = live.filter((c) => c !== min);
    }
    if (n > 0) writer.append(out, 0, n);
    return writer.finish();
  } catch (err) {
    writer?.abort();
    throw err;
  } finally {
    for (const r of readers) r.close();
  }
}
