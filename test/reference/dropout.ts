// CPU reference of dropout: the same counter-based mask bits as kernels/dropout.wgsl, from the
// op's per-(seed, step) keys.
import { dropoutKeys, dropoutThreshold, triple32 } from '../../src/engine/ops/dropout.ts';

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
