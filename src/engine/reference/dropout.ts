// CPU reference of dropout: the same counter-based mask bits as kernels/dropout.wgsl.

/** Chris Wellons' triple32 integer hash (u32 -> u32). */
export function triple32(v: number): number {
  let h = v >>> 0;
  h ^= h >>> 17;
  h = Math.imul(h, 0xed5ad4bb) >>> 0;
  h ^= h >>> 11;
  h = Math.imul(h, 0xac4c1b51) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x31848bab) >>> 0;
  h ^= h >>> 14;
  return h >>> 0;
}

/** The two per-(seed, step) keys of the element hash. */
export function dropoutKeys(seed: number, step: number): { k1: number; k2: number } {
  const k1 = triple32((seed ^ triple32((step + 0x9e3779b9) >>> 0)) >>> 0);
  const k2 = triple32((k1 + 0x632be5ab) >>> 0);
  return { k1, k2 };
}

/** Integer threshold: element kept when its hash >= floor(p * 2^32). */
export function dropoutThreshold(p: number): number {
  return Math.floor(p * 2 ** 32);
}

/** Keep mask (1 kept, 0 dropped) of n elements. */
export function dropoutMaskRef(n: number, p: number, seed: number, step: number, offset = 0): Uint8Array {
  const { k1, k2 } = dropoutKeys(seed, step);
  const t = dropoutThreshold(p);
  const m = new Uint8Array(n);
  for (let i = 0; i < n; i++) m[i] = triple32((triple32(((i + offset) ^ k1) >>> 0) + k2) >>> 0) >= t ? 1 : 0;
  return m;
}

/** y = x * mask / (1 - p) (float64). Backward is the same map applied to dy. */
export function dropoutRef(x: ArrayLike<number>, p: number, seed: number, step: number, offset = 0): Float64Array {
  const m = dropoutMaskRef(x.length, p, seed, step, offset);
  const s = 1 / (1 - p);
  return Float64Array.from(x, (v, i) => (m[i] ? v * s : 0));
}
