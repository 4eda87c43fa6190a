/**
 * Synthetic game traffic for demos and load: players in sessions starting, finishing and failing levels,
 * buying, with mobile-style delivery delays, client retries and a small share of broken records.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordChunk, Source } from './source.ts';

const PLATFORMS = ['ios', 'android', 'android', 'web'];
const DEVICES = ['iPhone 15 Pro', 'iPhone 13', 'iPad (10th generation)', 'Galaxy S24', 'Galaxy A54', 'Pixel 8', 'Pixel 7a', 'Redmi Note 12', 'OnePlus 12'];
/**
 * A model missing from the device table, for about 0.5% of players, so unknown devices show up as NULL: half the
 * quality check's 1% limit (GAMESTREAM_ETL_MAX_NULL_RATE), so the demo's own data passes it.
 */
const UNKNOWN_DEVICE = 'XQ-DE54';
const IPS = ['8.8.8.8', '81.2.69.142', '89.160.20.112', '175.16.199.1', '216.160.83.56', '2001:480::1', '2a02:d300::1', '1.1.1.1', '93.184.216.34', '203.0.113.7'];
const PRODUCTS: [string, number][] = [['coins_small', 0.99], ['coins_large', 4.99], ['booster_pack', 1.99], ['no_ads', 2.99], ['season_pass', 9.99]];
const BOOSTERS = ['hammer', 'shuffle', 'extra_moves', 'rainbow'];

const HEX1 = Array.from({ length: 16 }, (_, d) => d.toString(16));
const HEX2 = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const hex8 = (w: number): string => `${HEX2[w >>> 24]}${HEX2[(w >>> 16) & 255]}${HEX2[(w >>> 8) & 255]}${HEX2[w & 255]}`;

/** mulberry32: small, fast, good enough for synthetic data (and for tests that need a replayable stream). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Player {
  userId: string;
  sessionId: string | null;
  sessionStart: number;
  level: number;
  inLevel: boolean;
  attempts: number;
  platform: string;
  device: string;
  ip: string;
  eventsLeft: number;
}

export interface GeneratorOptions {
  seed: number;
  rate: number;
  total: number; // 0: endless
  badShare: number;
  players?: number;
}

export class GeneratorSource implements Source {
  readonly name: string;
  readonly format = 'ndjson' as const;
  readonly avroWriterSchema = null;
  readonly partitionedLog = null;
  readonly group = null;
  private readonly o: GeneratorOptions;
  private readonly rand: () => number;
  private readonly players: Player[] = [];
  private readonly recent: string[] = [];
  private produced = 0;
  private startedAt = 0;
  private interrupted = false;

  constructor(opts: GeneratorOptions) {
    this.o = opts;
    this.rand = mulberry32(opts.seed);
    // Each run is new traffic, so it gets its own name and never resumes another run's offsets.
    this.name = `generator:${new Date().toISOString()}:${opts.seed}`;
  }

  /**
   * Four random words as a version-4 UUID: the words' 32 hex digits with the 13th made 4 and the 17th a. Built
   * from a table of hex digits: `toString(16)` made this a quarter of the generator's CPU.
   */
  private uuid(): string {
    const w0 = this.word();
    const w1 = this.word();
    const w2 = this.word();
    const w3 = this.word();
    return `${hex8(w0)}-${HEX2[w1 >>> 24]}${HEX2[(w1 >>> 16) & 255]}-4${HEX1[(w1 >>> 8) & 15]}${HEX2[w1 & 255]}`
      + `-a${HEX1[(w2 >>> 24) & 15]}${HEX2[(w2 >>> 16) & 255]}-${HEX2[(w2 >>> 8) & 255]}${HEX2[w2 & 255]}${hex8(w3)}`;
  }

  /** A random unsigned 32-bit word. */
  private word(): number {
    return (this.rand() * 0x100000000) >>> 0;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)];
  }

  async open(): Promise<void> {
    const n = this.o.players ?? 5000;
    for (let i = 0; i < n; i++) {
      this.players.push({
        userId: this.uuid(), sessionId: null, sessionStart: 0, level: 1 + Math.floor(this.rand() * 200), inLevel: false,
        attempts: 0, platform: this.pick(PLATFORMS), device: this.rand() < 0.005 ? UNKNOWN_DEVICE : this.pick(DEVICES), ip: this.pick(IPS), eventsLeft: 0,
      });
    }
    this.startedAt = Date.now();
  }

  /** One event of a random player, advancing that player's session. */
  private event(now: number): string {
    const p = this.pick(this.players);
    // Mobile clients batch and go offline: most events are fresh, some arrive late.
    const r = this.rand();
    const delay = r < 0.9 ? this.rand() * 3000 : r < 0.99 ? 5000 + this.rand() * 60_000 : 120_000 + this.rand() * 300_000;
    const ts = now - Math.floor(delay);
    let type: number;
    let name: string;
    let params: Record<string, unknown>;
    if (p.sessionId === null) {
      p.sessionId = this.uuid();
      p.sessionStart = ts;
      p.eventsLeft = 5 + Math.floor(this.rand() * 40);
      [type, name, params] = [3001, 'session_start', {}];
    } else if (p.eventsLeft-- <= 0) {
      [type, name, params] = [3002, 'session_end', { duration_sec: Math.max(1, Math.round((ts - p.sessionStart) / 1000)) }];
      p.sessionId = null;
    } else if (p.inLevel) {
      p.inLevel = false;
      const difficulty = 0.35 + 0.5 * Math.sin(p.level) ** 2;
      const won = this.rand() > difficulty;
      const boosters = this.rand() < 0.3 ? [this.pick(BOOSTERS)] : [];
      const base = { level_id: p.level, moves_used: 5 + Math.floor(this.rand() * 30), time_seconds: 20 + Math.floor(this.rand() * 200), boosters_used: boosters };
      if (won) {
        [type, name, params] = [1002, 'level_complete', { ...base, stars: 1 + Math.floor(this.rand() * 3) }];
        p.level++;
        p.attempts = 0;
      } else {
        [type, name, params] = [1003, 'level_fail', base];
      }
    } else if (this.rand() < 0.04) {
      const [product, price] = this.pick(PRODUCTS);
      [type, name, params] = [2001, 'purchase', { product_id: product, price_usd: price, currency: 'USD' }];
    } else {
      p.inLevel = true;
      p.attempts++;
      [type, name, params] = [1001, 'level_start', { level_id: p.level, attempt: p.attempts }];
    }
    return JSON.stringify({
      id: this.uuid(), user_id: p.userId, session_id: p.sessionId ?? this.uuid(), timestamp: new Date(ts).toISOString(), type, name,
      parameters: params, app_version: '3.14.0', platform: p.platform, ip_address: p.ip, device_model: p.device,
    });
  }

  private broken(now: number): string {
    const good = this.event(now);
    switch (Math.floor(this.rand() * 5)) {
      case 0: return good.slice(0, Math.floor(good.length / 2)); // truncated upload
      case 1: return good.replace(/"user_id":"[^"]*",/, ''); // missing field
      case 2: return good.replace(/"type":(\d+)/, '"type":"$1"'); // number as string
      case 3: return good.replace(/"timestamp":"[^"]*"/, '"timestamp":"2099-01-01T00:00:00Z"'); // clock far ahead
      default: return good.replace(/"timestamp":"[^"]*"/, '"timestamp":"not a time"');
    }
  }

  interrupt(): void {
    this.interrupted = true;
  }

  async next(): Promise<RecordChunk | null> {
    if (this.o.total > 0 && this.produced >= this.o.total) return null;
    let due = 0;
    for (;;) {
      if (this.interrupted) return null;
      const elapsed = (Date.now() - this.startedAt) / 1000;
      due = Math.min(8192, Math.floor(elapsed * this.o.rate) - this.produced);
      if (this.o.total > 0) due = Math.min(due, this.o.total - this.produced);
      if (due > 0) break;
      await sleep(Math.max(5, Math.min(100, 1000 / this.o.rate)));
    }
    const now = Date.now();
    const lines: string[] = [];
    for (let i = 0; i < due; i++) {
      const r = this.rand();
      let line: string;
      if (r < this.o.badShare) line = this.broken(now);
      else if (r < this.o.badShare + 0.01 && this.recent.length > 0) line = this.pick(this.recent); // client retry
      else line = this.event(now);
      if (this.recent.length < 512) this.recent.push(line);
      else this.recent[Math.floor(this.rand() * 512)] = line;
      lines.push(line);
    }
    const data = Buffer.from(lines.join('\n'));
    const starts = new Uint32Array(due);
    const ends = new Uint32Array(due);
    let pos = 0;
    for (let i = 0; i < due; i++) {
      starts[i] = pos;
      pos += Buffer.byteLength(lines[i]);
      ends[i] = pos;
      pos++;
    }
    const firstIndex = this.produced;
    this.produced += due;
    return { data, starts, ends, count: due, firstIndex, keys: null };
  }

  progress(): { bytesRead: number; totalBytes: number | null } {
    return { bytesRead: this.produced, totalBytes: null };
  }

  async close(): Promise<void> {}
}
