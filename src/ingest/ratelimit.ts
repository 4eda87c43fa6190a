/**
 * Token buckets of the tracking server: one per API key (requests per second, a burst), and one per client
 * address that only failed authentications take from. Memory is bounded: keys are configured, and at most
 * `maxAddresses` addresses are tracked (the oldest is forgotten first).
 */
export class TokenBucket {
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private last: number;
  constructor(rate: number, burst: number, now: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
  }

  /** Takes a token when there is one. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether a token is there, without taking it. */
  has(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  /** Whole seconds until the next token (at least 1). */
  retryAfterSeconds(now: number): number {
    this.refill(now);
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate / 1000));
  }
}

export interface RateOverride {
  app: string;
  rate: number;
  burst: number;
}

/** Parses `app=rate[/burst],…` (rate: requests per second, 0 for no limit; burst: the bucket's size). */
export function parseRateOverrides(raw: string): RateOverride[] {
  const out: RateOverride[] = [];
  for (const part of raw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([A-Za-z0-9._-]+)=(\d+(?:\.\d+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not app=rate[/burst]`);
    const rate = Number(m[2]);
    const burst = m[3] === undefined ? Math.max(1, Math.ceil(rate * 2)) : Number(m[3]);
    if (rate > 1_000_000 || burst < 1 || burst > 10_000_000) throw new Error(`"${part}": rate 0–1000000, burst 1–10000000`);
    out.push({ app: m[1], rate, burst });
  }
  return out;
}

/** One bucket per API key; the rate and burst are the app's override or the defaults. */
export class KeyRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly overrides: readonly RateOverride[];
  constructor(rate: number, burst: number, overrides: readonly RateOverride[]) {
    this.rate = rate;
    this.burst = burst;
    this.overrides = overrides;
  }

  /** null when the request may go; else the Retry-After in seconds. */
  check(key: string, app: string, now: number): number | null {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      const o = this.overrides.find((x) => x.app === app);
      const rate = o?.rate ?? this.rate;
      if (rate === 0) return null;
      bucket = new TokenBucket(rate, o?.burst ?? this.burst, now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(now) ? null : bucket.retryAfterSeconds(now);
  }
}

/** Failed authentications per client address. */
export class AuthThrottle {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxAddresses: number;
  constructor(rate: number, burst: number, maxAddresses: number) {
    this.rate = rate;
    this.burst = burst;
    this.maxAddresses = maxAddresses;
  }

  /** null when the address may try; else the Retry-After in seconds (no key is checked meanwhile). */
  blocked(address: string, now: number): number | null {
    const b = this.buckets.get(address);
    if (b === undefined || b.has(now)) return null;
    return b.retryAfterSeconds(now);
  }

  failed(address: string, now: number): void {
    let b = this.buckets.get(address);
    if (b === undefined) {
      if (this.buckets.size >= this.maxAddresses) this.evictOldest();
      b = new TokenBucket(this.rate, this.burst, now);
      this.buckets.set(address, b);
    }
    b.take(now);
  }

  /** Forgets the address tracked longest (constant time, so a flood of addresses costs no scans). */
  private evictOldest(): void {
    const oldest = this.buckets.keys().next().value;
    if (oldest !== undefined) this.buckets.delete(oldest);
  }

  get size(): number {
    return this.buckets.size;
  }
}
