/**
 * Where row files become Storage Write API rows: a piscina pool of `threads` threads, or the calling thread when
 * `threads` is 0. Encoding is about 6–7 µs a row, all CPU; on the supervisor thread it would cap a daemon's
 * BigQuery rate near 160k rows/s and delay everything else the supervisor does (routing, commits, metrics).
 * The task is stateless (files in, bytes out), which is what a pool suits; the partition actors, which keep
 * state, have their fixed worker threads instead.
 */
import { Piscina } from 'piscina';
import { encodeBlock, mapperOf, type EncodedBlock, type EncodeTask } from './encode-task.ts';
import { readLines, type EncodedRows, type RowObject } from './rows.ts';

const TASK_FILE = new URL('./encode-task.ts', import.meta.url).href;

export class EncodePool {
  private readonly pool: Piscina<EncodeTask, EncodedBlock> | null;

  constructor(threads: number) {
    this.pool = threads > 0
      ? new Piscina({ filename: TASK_FILE, minThreads: threads, maxThreads: threads, idleTimeout: Infinity })
      : null;
  }

  async encode(task: EncodeTask): Promise<EncodedRows> {
    if (task.paths.length === 0) return { rows: [], objectAt: () => ({}), bytes: 0, bad: [] };
    const block = this.pool ? await this.pool.run(task) : encodeBlock(task);
    return fromBlock(block, task);
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}

/** Rows as views into the block's buffer; the mapped rows are rebuilt from the files only when asked for. */
function fromBlock(block: EncodedBlock, task: EncodeTask): EncodedRows {
  const n = block.ends.length;
  const rows = new Array<Uint8Array>(n);
  let start = 0;
  for (let i = 0; i < n; i++) {
    rows[i] = block.data.subarray(start, block.ends[i]);
    start = block.ends[i]!;
  }
  const map = mapperOf(task);
  let texts: string[] | null = null;
  const lineObject = (line: number): RowObject => {
    texts ??= readLines(task.paths);
    const parsed = JSON.parse(texts[line]!) as RowObject;
    try {
      return map(parsed);
    } catch {
      return parsed; // the row the mapper refused, as the worker wrote it
    }
  };
  return {
    rows,
    bytes: start,
    bad: block.bad.map((b) => ({ row: lineObject(b.line), reason: b.reason })),
    objectAt: (i) => lineObject(block.lines[i]!),
  };
}
