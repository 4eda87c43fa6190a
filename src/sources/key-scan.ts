/**
 * Finds a record's partition key (its first top-level `user_id` string) without parsing the whole record.
 * The main thread routes every record, so this must cost far less than JSON.parse; it usually stops within the
 * first hundred bytes. The exact rule is in docs/SEMANTICS.md ("Partitioning").
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
// "user_id" as bytes
const USER_ID = [0x75, 0x73, 0x65, 0x72, 0x5f, 0x69, 0x64];

/** Result: the key's byte range in `buf`, a decoded key (when it had escapes), or null for no key. */
export interface KeyRange {
  start: number;
  end: number;
  decoded: Uint8Array | null;
}

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** Index just past the closing quote of the string opening at `i` (buf[i] === '"'), or -1. */
function skipString(buf: Uint8Array, i: number, end: number): number {
  for (let j = i + 1; j < end; j++) {
    const b = buf[j];
    if (b === BACKSLASH) j++;
    else if (b === QUOTE) return j + 1;
  }
  return -1;
}

/** Index just past a value starting at `i`, or -1 when the record ends first. */
function skipValue(buf: Uint8Array, i: number, end: number): number {
  const b = buf[i];
  if (b === QUOTE) return skipString(buf, i, end);
  if (b === LBRACE || b === LBRACKET) {
    let depth = 0;
    for (let j = i; j < end; j++) {
      const c = buf[j];
      if (c === QUOTE) {
        j = skipString(buf, j, end) - 1;
        if (j < 0) return -1;
      } else if (c === LBRACE || c === LBRACKET) depth++;
      else if (c === RBRACE || c === RBRACKET) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return -1;
  }
  for (let j = i; j < end; j++) {
    const c = buf[j];
    if (c === COMMA || c === RBRACE || isWs(c)) return j;
  }
  return -1;
}

function isUserIdName(buf: Uint8Array, s: number, e: number): boolean {
  // s..e is the name between its quotes
  if (e - s !== 7) return false;
  for (let k = 0; k < 7; k++) if (buf[s + k] !== USER_ID[k]) return false;
  return true;
}

const encoder = new TextEncoder();

export function scanUserIdKey(buf: Uint8Array, start: number, end: number): KeyRange | null {
  let i = start;
  while (i < end && isWs(buf[i])) i++;
  if (buf[i] !== LBRACE) return null;
  i++;
  for (;;) {
    while (i < end && isWs(buf[i])) i++;
    if (buf[i] !== QUOTE) return null;
    const nameEnd = skipString(buf, i, end);
    if (nameEnd < 0) return null;
    const isKey = isUserIdName(buf, i + 1, nameEnd - 1);
    i = nameEnd;
    while (i < end && isWs(buf[i])) i++;
    if (buf[i] !== COLON) return null;
    i++;
    while (i < end && isWs(buf[i])) i++;
    if (i >= end) return null;
    if (isKey) return readKeyValue(buf, i, end);
    i = skipValue(buf, i, end);
    if (i < 0) return null;
    while (i < end && isWs(buf[i])) i++;
    if (buf[i] !== COMMA) return null;
    i++;
  }
}

function readKeyValue(buf: Uint8Array, i: number, end: number): KeyRange | null {
  if (buf[i] !== QUOTE) return null;
  const close = skipString(buf, i, end);
  if (close < 0) return null;
  const s = i + 1;
  const e = close - 1;
  if (e === s) return null;
  for (let j = s; j < e; j++) {
    if (buf[j] === BACKSLASH) return decodeEscaped(buf, i, close);
  }
  return { start: s, end: e, decoded: null };
}

function decodeEscaped(buf: Uint8Array, open: number, close: number): KeyRange | null {
  let text: string;
  try {
    text = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + open, close - open).toString('utf8')) as string;
  } catch {
    return null;
  }
  if (text === '') return null;
  const decoded = encoder.encode(text);
  return { start: 0, end: decoded.length, decoded };
}
