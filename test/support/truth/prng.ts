// Small deterministic PRNG for the ground-truth generator. The dataset must be a pure function of the seed,
// so nothing here may touch Math.random or the clock.

/** Mulberry32: 32-bit state, good enough statistical quality for test traffic and trivially reproducible. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** Uniform float in [min, max). */
  float(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Picks by relative weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T;
  /** Lowercase RFC 4122 version-4 UUID built from the stream. */
  uuid(): string;
  /** Random bytes that never contain the given forbidden byte values. */
  bytes(length: number, forbidden?: readonly number[]): Buffer;
  /** A derived, independent stream (so adding draws in one phase does not reshuffle another). */
  fork(label: string): Rng;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over a label, mixed with the parent seed, to seed forks. */
function mixSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function createRng(seed: number): Rng {
  const next = mulberry32(seed);
  const rng: Rng = {
    next,
    int(min, max) {
      return min + Math.floor(next() * (max - min + 1));
    },
    float(min, max) {
      return min + next() * (max - min);
    },
    chance(p) {
      return next() < p;
    },
    pick(items) {
      if (items.length === 0) throw new Error('pick from empty list');
      return items[Math.floor(next() * items.length)];
    },
    weighted(items) {
      let total = 0;
      for (const [, w] of items) total += w;
      let r = next() * total;
      for (const [item, w] of items) {
        r -= w;
        if (r < 0) return item;
      }
      return items[items.length - 1][0];
    },
    uuid() {
      const hex: string[] = [];
      for (let i = 0; i < 16; i++) hex.push(Math.floor(next() * 256).toString(16).padStart(2, '0'));
      hex[6] = '4' + hex[6][1];
      hex[8] = ((parseInt(hex[8], 16) & 0x3f) | 0x80).toString(16);
      const h = hex.join('');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    },
    bytes(length, forbidden = []) {
      const out = Buffer.alloc(length);
      const banned = new Set(forbidden);
      for (let i = 0; i < length; i++) {
        let b = Math.floor(next() * 256);
        while (banned.has(b)) b = Math.floor(next() * 256);
        out[i] = b;
      }
      return out;
    },
    fork(label) {
      return createRng(mixSeed(seed, label));
    },
  };
  return rng;
}
