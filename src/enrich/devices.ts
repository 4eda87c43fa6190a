/**
 * Device model → (category, performance tier), read from a small CSV file:
 *
 *     device_model,category,performance_tier
 *     iPhone 15 Pro,phone,high
 *
 * RFC 4180: quoted fields (with "" for a quote, and commas or line breaks inside), LF or CRLF line ends, an
 * optional UTF-8 byte-order mark and trailing newline. Blank lines are skipped. Empty category/tier cells mean NULL.
 * A later row for the same model replaces an earlier one. Models match exactly (case and spaces count).
 *
 * The table is tiny, so threads share the raw UTF-8 bytes (a SharedArrayBuffer) and each parses its own copy.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GamestreamError } from '../errors.ts';
import { StringMap } from '../string-map.ts';

export interface DeviceInfo {
  readonly category: string | null;
  readonly tier: string | null;
}

export const DEVICE_TABLE_HEADER = ['device_model', 'category', 'performance_tier'] as const;

/** Absolute path of the table shipped in assets/ (this file is src/enrich/devices.ts). */
export function defaultDeviceTablePath(): string {
  return fileURLToPath(new URL('../../assets/devices.csv', import.meta.url));
}

function invalid(sourceName: string, what: string, cause?: unknown): GamestreamError {
  // Named by its setting, with what may go there instead: the file is the operator's to fix.
  return new GamestreamError('device_table_invalid', `device table ${sourceName}: ${what} (GAMESTREAM_DEVICE_TABLE: a CSV with the header device_model,category,performance_tier, default or off)`, { cause });
}

interface CsvRecord {
  fields: string[];
  /** 1-based line on which the record starts. */
  line: number;
}

/** Splits RFC 4180 text into records. Throws with the line number on malformed quoting. */
function* csvRecords(text: string, sourceName: string): Generator<CsvRecord> {
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let atFieldStart = true;
    let endOfRecord = false;
    let blank = true;
    while (!endOfRecord) {
      if (i >= n) {
        fields.push(field);
        break;
      }
      const c = text.charCodeAt(i);
      if (atFieldStart && c === 0x22 /* " */) {
        // Quoted field: runs to the next quote not followed by another quote.
        blank = false;
        const quoteLine = line;
        i++;
        let closed = false;
        while (i < n) {
          const q = text.charCodeAt(i);
          if (q === 0x22) {
            if (text.charCodeAt(i + 1) === 0x22) {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (q === 0x0a) line++;
          field += text[i];
          i++;
        }
        if (!closed) throw invalid(sourceName, `line ${quoteLine}: quoted field is never closed`);
        const next = i < n ? text.charCodeAt(i) : -1;
        if (next !== -1 && next !== 0x2c && next !== 0x0a && next !== 0x0d) {
          throw invalid(sourceName, `line ${line}: unexpected character ${JSON.stringify(text[i])} after a closing quote`);
        }
        atFieldStart = false;
        continue;
      }
      if (c === 0x2c /* , */) {
        blank = false;
        fields.push(field);
        field = '';
        atFieldStart = true;
        i++;
      } else if (c === 0x0a || c === 0x0d) {
        fields.push(field);
        // CRLF counts as one line end; so does a lone CR or LF.
        i += c === 0x0d && text.charCodeAt(i + 1) === 0x0a ? 2 : 1;
        line++;
        endOfRecord = true;
      } else {
        // A quote inside an unquoted field is kept literally (as Python's csv module does).
        blank = false;
        field += text[i];
        atFieldStart = false;
        i++;
      }
    }
    // A blank line is not a record (a line holding just "" is: one empty field).
    if (blank) continue;
    yield { fields, line: startLine };
  }
}

export class DeviceTable {
  readonly sourceName: string;
  /** A lookup for every event, by a model name the record's parse has just made: see StringMap. */
  private readonly rows: StringMap<DeviceInfo>;

  private constructor(rows: StringMap<DeviceInfo>, sourceName: string) {
    this.rows = rows;
    this.sourceName = sourceName;
  }

  /** Parses CSV text; throws a `device_table_invalid` error naming `sourceName` and the line on bad input. */
  static parse(text: string, sourceName: string): DeviceTable {
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const rows = new StringMap<DeviceInfo>();
    let header = true;
    for (const { fields, line } of csvRecords(text, sourceName)) {
      if (header) {
        if (
          fields.length !== DEVICE_TABLE_HEADER.length ||
          fields.some((f, k) => f !== DEVICE_TABLE_HEADER[k])
        ) {
          throw invalid(
            sourceName,
            `line ${line}: header must be exactly "${DEVICE_TABLE_HEADER.join(',')}", got "${fields.join(',')}"`,
          );
        }
        header = false;
        continue;
      }
      if (fields.length !== DEVICE_TABLE_HEADER.length) {
        throw invalid(sourceName, `line ${line}: expected ${DEVICE_TABLE_HEADER.length} columns, got ${fields.length}`);
      }
      const [model, category, tier] = fields as [string, string, string];
      if (model === '') throw invalid(sourceName, `line ${line}: device_model is empty`);
      rows.set(model, Object.freeze({ category: category === '' ? null : category, tier: tier === '' ? null : tier }));
    }
    if (header) throw invalid(sourceName, `file is empty (expected the header "${DEVICE_TABLE_HEADER.join(',')}")`);
    return new DeviceTable(rows, sourceName);
  }

  /** Decodes shared UTF-8 bytes (from `loadDeviceFile`) and parses them. */
  static fromShared(sab: SharedArrayBuffer, sourceName: string): DeviceTable {
    return DeviceTable.parse(decodeUtf8(new Uint8Array(sab), sourceName), sourceName);
  }

  /** Unknown model → null. */
  lookup(model: string): DeviceInfo | null {
    return this.rows.get(model) ?? null;
  }

  get size(): number {
    return this.rows.size;
  }

  models(): IterableIterator<string> {
    return this.rows.keys();
  }
}

export function parseDeviceTable(text: string, sourceName: string): DeviceTable {
  return DeviceTable.parse(text, sourceName);
}

function decodeUtf8(bytes: Uint8Array, sourceName: string): string {
  try {
    // fatal: a mangled file should be reported, not silently turned into U+FFFD model names.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    throw invalid(sourceName, 'not valid UTF-8', err);
  }
}

function validatedShared(bytes: Uint8Array, sourceName: string): SharedArrayBuffer {
  // Parse once here so that a bad file fails on the main thread, before any worker sees it.
  DeviceTable.parse(decodeUtf8(bytes, sourceName), sourceName);
  const sab = new SharedArrayBuffer(bytes.length);
  new Uint8Array(sab).set(bytes);
  return sab;
}

/** Reads and validates a device CSV; returns its UTF-8 bytes in shared memory. */
export function loadDeviceFile(path: string): SharedArrayBuffer {
  const name = resolvePath(path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw invalid(name, `cannot read file: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return validatedShared(bytes, name);
}

export async function loadDeviceFileAsync(path: string): Promise<SharedArrayBuffer> {
  const name = resolvePath(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw invalid(name, `cannot read file: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return validatedShared(bytes, name);
}
