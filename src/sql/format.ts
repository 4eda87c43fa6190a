/**
 * A query result as text: a table for a person at a terminal, NDJSON (one object a row) or CSV (RFC 4180, a
 * header line) for programs.
 */
import type { SqlCell, SqlResult } from './result.ts';

export const SQL_FORMATS = ['table', 'ndjson', 'csv'] as const;
export type SqlFormat = (typeof SQL_FORMATS)[number];

/** Longest line of a cell in a table; longer ones end in "…" (NDJSON and CSV carry everything). */
const MAX_CELL = 80;

function text(v: SqlCell): string {
  if (v === null) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * Text for a terminal: control characters other than line breaks as `\u001b`-style escapes. Stored records come
 * from game clients, and an escape sequence in one (`\x1b]0;…\x07`, `\x1b[2J`) must not retitle or clear the
 * operator's terminal, nor a carriage return overwrite what is shown.
 */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function table(r: SqlResult): string {
  const numeric = r.columns.map((_, i) => r.rows.length > 0 && r.rows.every((row) => row[i] === null || typeof row[i] === 'number'));
  // A cell may hold several lines (EXPLAIN's plan): each is a line of its own in the row.
  const cells = r.rows.map((row) => row.map((v) => printable(text(v).replace(/\n+$/, '')).split('\n').map((l) => (l.length > MAX_CELL ? `${l.slice(0, MAX_CELL - 1)}…` : l))));
  const widths = r.columns.map((c, i) => Math.max(c.name.length, ...cells.map((row) => Math.max(...row[i]!.map((l) => l.length)))));
  const line = (vals: string[]): string => vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(r.columns.map((c) => c.name)), line(widths.map((w) => '-'.repeat(w)))];
  for (const row of cells) {
    const height = Math.max(1, ...row.map((c) => c.length));
    for (let k = 0; k < height; k++) out.push(line(row.map((c) => c[k] ?? '')));
  }
  const n = r.rows.length;
  out.push(`(${n} row${n === 1 ? '' : 's'}${r.truncated ? `, cut at ${r.limits.maxRows}` : ''}; ${(r.elapsedMs / 1000).toFixed(2)} s)`);
  return `${out.join('\n')}\n`;
}

/**
 * The names of a row's keys: a query may name two columns alike (`SELECT e.user_id, u.user_id`), and an object
 * keeps one value a key, so a repeated name gets a suffix, as DuckDB names such columns in a table it creates
 * (`user_id`, `user_id_1`), skipping names the result has already.
 */
function keyNames(names: string[]): string[] {
  const taken = new Set(names);
  const used = new Set<string>();
  return names.map((n) => {
    if (!used.has(n)) {
      used.add(n);
      return n;
    }
    let k = 1;
    while (taken.has(`${n}_${k}`) || used.has(`${n}_${k}`)) k++;
    used.add(`${n}_${k}`);
    return `${n}_${k}`;
  });
}

function ndjson(r: SqlResult): string {
  const keys = keyNames(r.columns.map((c) => c.name));
  return r.rows.map((row) => `${JSON.stringify(Object.fromEntries(keys.map((k, i) => [k, row[i] ?? null])))}\n`).join('');
}

function csvField(v: SqlCell): string {
  if (v === null) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function csv(r: SqlResult): string {
  const lines = [r.columns.map((c) => csvField(c.name)).join(','), ...r.rows.map((row) => row.map(csvField).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

export function formatResult(r: SqlResult, format: SqlFormat): string {
  return format === 'table' ? table(r) : format === 'csv' ? csv(r) : ndjson(r);
}
