/**
 * The partition key of an NDJSON record, by the rule in docs/SEMANTICS.md ("Partitioning"), written
 * independently of the engine: a tiny tokenizer that walks the top-level members until `user_id`.
 */

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

class Cursor {
  i = 0;
  readonly b: Uint8Array;
  constructor(b: Uint8Array) {
    this.b = b;
  }
  ws(): void {
    while (this.i < this.b.length && WS.has(this.b[this.i])) this.i++;
  }
  peek(): number | undefined {
    return this.b[this.i];
  }
  /** A string token starting at the cursor; returns [contentStart, contentEnd, hasEscape] or null. */
  string(): [number, number, boolean] | null {
    if (this.peek() !== 0x22) return null;
    const start = ++this.i;
    let esc = false;
    while (this.i < this.b.length) {
      const c = this.b[this.i];
      if (c === 0x5c) {
        esc = true;
        this.i += 2;
        continue;
      }
      if (c === 0x22) {
        this.i++;
        return [start, this.i - 1, esc];
      }
      this.i++;
    }
    return null;
  }
  /** Skips any value; false when the record ends first. */
  value(): boolean {
    const c = this.peek();
    if (c === undefined) return false;
    if (c === 0x22) return this.string() !== null;
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      while (this.i < this.b.length) {
        const d = this.b[this.i];
        if (d === 0x22) {
          if (!this.string()) return false;
          continue;
        }
        if (d === 0x7b || d === 0x5b) depth++;
        if (d === 0x7d || d === 0x5d) {
          depth--;
          if (depth === 0) {
            this.i++;
            return true;
          }
        }
        this.i++;
      }
      return false;
    }
    while (this.i < this.b.length) {
      const d = this.b[this.i];
      if (d === 0x2c || d === 0x7d || WS.has(d)) return true;
      this.i++;
    }
    return false;
  }
}

export function partitionKeyBytes(line: Uint8Array): Buffer | null {
  const c = new Cursor(line);
  c.ws();
  if (c.peek() !== 0x7b) return null;
  c.i++;
  for (;;) {
    c.ws();
    const name = c.string();
    if (!name) return null;
    c.ws();
    if (c.peek() !== 0x3a) return null;
    c.i++;
    c.ws();
    if (c.peek() === undefined) return null;
    const isUserId = Buffer.from(line.subarray(name[0], name[1])).toString('latin1') === 'user_id';
    if (isUserId) {
      const v = c.string();
      if (!v || v[1] === v[0]) return null;
      const raw = Buffer.from(line.subarray(v[0], v[1]));
      if (!v[2]) return raw;
      try {
        const text = JSON.parse(`"${raw.toString('utf8')}"`) as string;
        return text === '' ? null : Buffer.from(text, 'utf8');
      } catch {
        return null;
      }
    }
    if (!c.value()) return null;
    c.ws();
    if (c.peek() !== 0x2c) return null;
    c.i++;
  }
}
