// Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna) on 32-bit words, seeded through a
// splitmix32-style hash. Small, fast, and reproducible across platforms (only 32-bit integer math
// and Math.imul). Not cryptographic.
//
// Substreams: `fork(i)` returns a generator whose stream depends only on the parent's seed path and
// `i` — never on how many numbers the parent has drawn — so work can be split (per crystal, per
// pattern, per worker) and each piece reproduced on its own.

/** A seed: any finite number (integers up to 2^53 are used exactly) or a string. */
export type Seed = number | string;

export class RandomSeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RandomSeedError';
  }
}

/** One round of a 32-bit integer finaliser (from the splitmix/murmur family). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** Reduce a seed to two 32-bit key words. */
function seedKey(seed: Seed): [number, number] {
  if (typeof seed === 'string') {
    // FNV-1a over UTF-16 code units, two independent lanes.
    let h0 = 0x811c9dc5;
    let h1 = 0x9e3779b9;
    for (let i = 0; i < seed.length; i++) {
      const c = seed.charCodeAt(i);
      h0 = Math.imul(h0 ^ c, 0x01000193) >>> 0;
      h1 = Math.imul(h1 ^ c, 0x01000193 + 2) >>> 0;
    }
    return [mix32(h0), mix32(h1 ^ seed.length)];
  }
  if (!Number.isFinite(seed)) {
    throw new RandomSeedError(`seed must be a finite number or a string, got ${seed}`);
  }
  // Integers keep their exact low and high 32 bits; fractional seeds are reduced via their bits.
  const s = Number.isInteger(seed) ? seed : Math.round(seed * 0x100000);
  const lo = s >>> 0;
  const hi = Math.floor(s / 0x100000000) >>> 0;
  return [lo, hi];
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** Second value of the last Box-Muller pair, or NaN when none is pending. */
  private spare = NaN;
  private readonly k0: number;
  private readonly k1: number;

  /** `key` (two 32-bit words) bypasses seed hashing; it is how `fork` builds children. */
  constructor(seed: Seed = 0, key?: [number, number]) {
    const [k0, k1] = key ?? seedKey(seed);
    this.k0 = k0;
    this.k1 = k1;
    // Expand the key into the 128-bit state with a splitmix32-like sequence.
    let x = (k0 ^ mix32(k1 + 0x6a09e667)) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      return mix32(x);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
  }

  /** Next raw 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [lo, hi) (default [0, 1)), 32 bits of resolution. */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * (this.nextU32() / 4294967296);
  }

  /** Normal (Gaussian) with the given mean and standard deviation (Box-Muller). */
  normal(mean = 0, sd = 1): number {
    if (!Number.isNaN(this.spare)) {
      const z = this.spare;
      this.spare = NaN;
      return mean + sd * z;
    }
    const u = 1 - this.uniform(); // (0, 1]: log is finite
    const r = Math.sqrt(-2 * Math.log(u));
    const phi = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(phi);
    return mean + sd * r * Math.cos(phi);
  }

  /** Uniform integer in [lo, hi], both ends included (unbiased, by rejection). */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`int(lo, hi) needs integers with lo <= hi, got (${lo}, ${hi})`);
    }
    const span = hi - lo + 1;
    if (span > 4294967296) throw new RangeError(`int(lo, hi) range too large: ${span}`);
    if (span === 4294967296) return lo + this.nextU32();
    const limit = 4294967296 - (4294967296 % span);
    let r = this.nextU32();
    while (r >= limit) r = this.nextU32();
    return lo + (r % span);
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() needs a non-empty array');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Index drawn with probability proportional to non-negative `weights` (not all zero). */
  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) {
      if (!(w >= 0)) throw new RangeError(`weights must be non-negative numbers, got ${w}`);
      total += w;
    }
    if (!(total > 0)) throw new RangeError('weightedIndex() needs at least one positive weight');
    let r = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number;
      if (r < 0) return i;
    }
    // Rounding left r >= 0: return the last index with positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if ((weights[i] as number) > 0) return i;
    return 0;
  }

  /** Shuffle an array in place (Fisher-Yates) and return it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }

  /**
   * Independent substream number `i` (a non-negative integer). It depends only on this
   * generator's seed path and `i`, not on how far this generator has advanced.
   */
  fork(i: number): Rng {
    if (!Number.isInteger(i) || i < 0 || i > 0xffffffff) {
      throw new RangeError(`fork(i) needs an integer 0..2^32-1, got ${i}`);
    }
    const k0 = mix32((this.k0 ^ mix32((i + 0x3c6ef372) >>> 0)) >>> 0);
    const k1 = mix32((this.k1 + Math.imul(i ^ 0xa54ff53a, 0x9e3779b9)) >>> 0);
    return new Rng(0, [k0, k1]);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Convenience: a generator from a seed. */
export function rng(seed: Seed = 0): Rng {
  return new Rng(seed);
}
