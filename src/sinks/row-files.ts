/**
 * Workers turn rows into CSV text and hand the warehouse a file, not objects: DuckDB's native CSV reader loads
 * it in its own threads, far faster than row-by-row appends on the one thread that owns the database.
 * Format: no header, `,` separated, strings always quoted with `""` escapes, NULL as an empty unquoted field.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export function q(s: string | null): string {
  if (s === null) return '';
  return s.indexOf('"') === -1 ? `"${s}"` : `"${s.replaceAll('"', '""')}"`;
}

export function n(v: number | null): string {
  return v === null ? '' : String(v);
}

/** Accumulates one table's CSV lines. Strings are joined once per flush to keep appends cheap. */
export class CsvBuffer {
  private parts: string[] = [];
  private chunk = '';
  rows = 0;
  bytes = 0;

  push(line: string): void {
    this.chunk += line;
    this.chunk += '\n';
    this.rows++;
    if (this.chunk.length > 1 << 20) {
      this.bytes += this.chunk.length;
      this.parts.push(this.chunk);
      this.chunk = '';
    }
  }

  /** Writes the buffered lines to `path` and empties the buffer; returns the row count written. */
  writeTo(path: string): number {
    if (this.chunk.length > 0) this.parts.push(this.chunk);
    const fd = openSync(path, 'w');
    try {
      for (const part of this.parts) writeSync(fd, part);
    } finally {
      closeSync(fd);
    }
    const rows = this.rows;
    this.parts = [];
    this.chunk = '';
    this.rows = 0;
    this.bytes = 0;
    return rows;
  }

  get pendingChars(): number {
    return this.bytes + this.chunk.length;
  }
}
