// CPU reference of BatchNorm1d (float64), from PyTorch's documented semantics: per-channel
// statistics over N and L, biased variance for normalising, unbiased for the running variance.

export interface BatchNormRefResult {
  y: Float64Array;
  mean: Float64Array;
  /** Biased batch variance (training) or the running variance (evaluation). */
  variance: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
}

/** x is [n, c, l] flattened. */
export function batchNormRef(
  x: ArrayLike<number>,
  n: number,
  c: number,
  l: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  o: { training: boolean; momentum: number; eps: number },
): BatchNormRefResult {
  const count = n * l;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  const rm = Float64Array.from(runningMean);
  const rv = Float64Array.from(runningVar);
  for (let ch = 0; ch < c; ch++) {
    if (o.training) {
      let s = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < l; j++) s += x[(i * c + ch) * l + j];
      const m = s / count;
      let q = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < l; j++) q += (x[(i * c + ch) * l + j] - m) ** 2;
      mean[ch] = m;
      variance[ch] = q / count;
      rm[ch] = (1 - o.momentum) * rm[ch] + o.momentum * m;
      rv[ch] = (1 - o.momentum) * rv[ch] + (o.momentum * q) / Math.max(1, count - 1);
    } else {
      mean[ch] = runningMean[ch];
      variance[ch] = runningVar[ch];
    }
  }
  const y = new Float64Array(n * c * l);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const is = 1 / Math.sqrt(variance[ch] + o.eps);
      for (let j = 0; j < l; j++) {
        const k = (i * c + ch) * l + j;
        y[k] = (x[k] - mean[ch]) * is * gamma[ch] + beta[ch];
      }
    }
  }
  return { y, mean, variance, runningMean: rm, runningVar: rv };
}
