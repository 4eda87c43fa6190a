/**
 * API keys of the tracking server: `app:key` pairs, checked against the `X-Api-Key` header. Keys are kept only
 * as SHA-256 digests, so a lookup's timing says nothing about how much of a guessed key was right, and a heap
 * dump does not contain them. A key is never logged or shown beyond a short prefix.
 */
import { createHash } from 'node:crypto';
import { ValueError } from '../config/parsers.ts';

export interface ApiKeyEntry {
  app: string;
  key: string;
}

const APP_RE = /^[A-Za-z0-9._-]{1,64}$/;
// Visible ASCII only: a header value cannot carry anything else unambiguously.
const KEY_RE = /^[\x21-\x7e]{16,256}$/;

/** The first characters of a key, enough to tell keys apart in a log line. */
export function keyPrefix(key: string): string {
  return key.length >= 12 ? `${key.slice(0, 4)}…` : '…';
}

/** "app:key" → "app:ab12…" for error messages. */
export function redactPair(pair: string): string {
  const i = pair.indexOf(':');
  if (i < 0) return keyPrefix(pair.trim());
  return `${pair.slice(0, i).trim()}:${keyPrefix(pair.slice(i + 1).trim())}`;
}

/**
 * Parses `app:key` items (env entries or file lines). Blank items are skipped, and so are `#` comments in a file.
 * Throws a ValueError saying what is allowed and which item is wrong, with its key redacted.
 */
export function parseKeyPairs(items: readonly string[], kind: 'pair' | 'line'): ApiKeyEntry[] {
  const out: ApiKeyEntry[] = [];
  const rule = 'app:key with the app from A–Z, a–z, 0–9, ".", "_", "-" (up to 64) and a key of 16–256 visible ASCII characters';
  items.forEach((item, i) => {
    const s = item.trim();
    if (s === '' || (kind === 'line' && s.startsWith('#'))) return;
    const colon = s.indexOf(':');
    const app = colon < 0 ? '' : s.slice(0, colon);
    const key = colon < 0 ? '' : s.slice(colon + 1);
    if (!APP_RE.test(app) || !KEY_RE.test(key)) {
      throw new ValueError(`${rule}; ${kind} ${i + 1} (${JSON.stringify(redactPair(s))}) is not`);
    }
    out.push({ app, key });
  });
  return out;
}

function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64');
}

export class ApiKeyStore {
  private readonly apps = new Map<string, string>();

  constructor(entries: readonly ApiKeyEntry[]) {
    for (const e of entries) this.apps.set(digest(e.key), e.app);
  }

  get size(): number {
    return this.apps.size;
  }

  /** The app a header value belongs to, or null for a missing or unknown key. */
  appFor(header: string | string[] | undefined): string | null {
    if (typeof header !== 'string' || header === '' || header.length > 256) return null;
    return this.apps.get(digest(header.trim())) ?? null;
  }
}
