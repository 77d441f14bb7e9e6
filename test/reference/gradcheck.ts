// Comparing kernels with their references: finite-difference gradients in float64 for checking
// backward kernels, and the two error measures the tests (and bench/kernels.ts) hold results to.

/**
 * Gradient of L(x) = sum_j dy[j] * f(x)[j] with respect to x by central differences, where f is a
 * float64 CPU forward. Returns dL/dx, which a backward kernel given dy must reproduce.
 */
export function numericVjp(
  f: (x: Float64Array) => ArrayLike<number>,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  h = 1e-4,
): Float64Array {
  const xs = Float64Array.from(x);
  const loss = (): number => {
    const y = f(xs);
    let s = 0;
    for (let j = 0; j < y.length; j++) s += dy[j] * y[j];
    return s;
  };
  const g = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    xs[i] = v + h;
    const up = loss();
    xs[i] = v - h;
    const down = loss();
    xs[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Largest |a - b| / (atol + |b|) over all entries; tests compare it with a tolerance. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, atol = 1e-6): number {
  if (a.length !== b.length) throw new Error(`maxRelError: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (atol + Math.abs(b[i]));
    if (Number.isNaN(e)) return Infinity;
    if (e > m) m = e;
  }
  return m;
}

/**
 * Largest |a - b| relative to the largest |b|: for sums of many float32 terms, where entry-wise
 * relative error is meaningless near zero (random signs cancel). NaN anywhere gives Infinity.
 */
export function scaledError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`scaledError: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(e)) return Infinity;
    diff = Math.max(diff, e);
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / (scale > 0 ? scale : 1);
}
