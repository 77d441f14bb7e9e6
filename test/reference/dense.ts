// CPU references of the dense layer (float64 accumulation). x [N, In], w [Out, In], b [Out].

export interface DenseDims {
  n: number;
  inF: number;
  outF: number;
}

/** y [N, Out] = x W^T + b. */
export function denseRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, d: DenseDims): Float64Array {
  const y = new Float64Array(d.n * d.outF);
  for (let n = 0; n < d.n; n++) {
    for (let o = 0; o < d.outF; o++) {
      let s = b[o];
      for (let i = 0; i < d.inF; i++) s += x[n * d.inF + i] * w[o * d.inF + i];
      y[n * d.outF + o] = s;
    }
  }
  return y;
}

/** dx [N, In] = dy W. */
export function denseBackwardInputRef(dy: ArrayLike<number>, w: ArrayLike<number>, d: DenseDims): Float64Array {
  const dx = new Float64Array(d.n * d.inF);
  for (let n = 0; n < d.n; n++) {
    for (let o = 0; o < d.outF; o++) {
      const g = dy[n * d.outF + o];
      for (let i = 0; i < d.inF; i++) dx[n * d.inF + i] += g * w[o * d.inF + i];
    }
  }
  return dx;
}

/** dW [Out, In] = dy^T x. */
export function denseBackwardWeightRef(dy: ArrayLike<number>, x: ArrayLike<number>, d: DenseDims): Float64Array {
  const dw = new Float64Array(d.outF * d.inF);
  for (let n = 0; n < d.n; n++) {
    for (let o = 0; o < d.outF; o++) {
      const g = dy[n * d.outF + o];
      for (let i = 0; i < d.inF; i++) dw[o * d.inF + i] += g * x[n * d.inF + i];
    }
  }
  return dw;
}

/** db [Out] = sum over n of dy. */
export function denseBackwardBiasRef(dy: ArrayLike<number>, d: DenseDims): Float64Array {
  const db = new Float64Array(d.outF);
  for (let n = 0; n < d.n; n++) for (let o = 0; o < d.outF; o++) db[o] += dy[n * d.outF + o];
  return db;
}
