/** An NDJSON source from memory for the in-process supervisor tests, and the small traffic they run on. */
import type { RecordChunk, Source } from '../../src/sources/source.ts';

export const T0 = Date.UTC(2026, 10, 20, 10);

/** Records packed into one chunk, back to back, as a source hands them over. */
export function chunkOf(records: readonly (string | Uint8Array)[], firstIndex = 0): RecordChunk {
  const bufs = records.map((r) => (typeof r === 'string' ? Buffer.from(r) : r));
  const starts = new Uint32Array(bufs.length);
  const ends = new Uint32Array(bufs.length);
  for (let i = 0, pos = 0; i < bufs.length; i++) {
    starts[i] = pos;
    pos += bufs[i]!.length;
    ends[i] = pos;
  }
  return { data: Buffer.concat(bufs), starts, ends, count: bufs.length, firstIndex, keys: null };
}

/** NDJSON records from memory, handed out in chunks of 50 as a file source would; `delayMs` before each chunk. */
export class MemorySource implements Source {
  readonly name: string;
  readonly format = 'ndjson';
  readonly avroWriterSchema = null;
  readonly partitionedLog = null;
  readonly group = null;
  private at = 0;
  private readonly lines: string[];
  private readonly delayMs: number;

  constructor(lines: string[], o: { name?: string; delayMs?: number } = {}) {
    this.lines = lines;
    this.name = o.name ?? 'memory:test';
    this.delayMs = o.delayMs ?? 0;
  }

  async open(): Promise<void> {}

  async next(): Promise<RecordChunk | null> {
    if (this.at >= this.lines.length) return null;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const chunk = chunkOf(this.lines.slice(this.at, this.at + 50), this.at);
    this.at += chunk.count;
    return chunk;
  }

  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: 0, totalBytes: null };
  }

  interrupt(): void {}
  async close(): Promise<void> {}
}

/** 600 events of 12 users a second apart, every 50th a resend of the one before, every 97th broken. */
export function traffic(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 600; i++) {
    if (i % 97 === 96) out.push('{"broken": ');
    else if (i % 50 === 49) out.push(out[out.length - 1]!);
    else out.push(JSON.stringify({ id: `e-${i}`, user_id: `u${i % 12}`, timestamp: new Date(T0 + i * 1000).toISOString(), type: 1001, name: 'level_start', parameters: { level_id: i % 4 } }));
  }
  return out;
}
