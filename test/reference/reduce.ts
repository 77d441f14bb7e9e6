// CPU references of the reductions (float64 inside).

/** Row sums of x viewed as [rows, cols], times scale. */
export function rowSumsRef(x: ArrayLike<number>, rows: number, cols: number, scale = 1): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c];
    out[r] = s * scale;
  }
  return out;
}

export function argmaxRef(x: ArrayLike<number>, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let bi = 0;
    for (let c = 1; c < cols; c++) if (x[r * cols + c] > x[r * cols + bi]) bi = c;
    out[r] = bi;
  }
  return out;
}

/** Top-k by a full sort (value descending, then index ascending): a different algorithm from the kernel. */
export function topKRef(x: ArrayLike<number>, rows: number, cols: number, k: number): { values: Float64Array; indices: Int32Array } {
  const values = new Float64Array(rows * k);
  const indices = new Int32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const idx = Array.from({ length: cols }, (_, c) => c);
    idx.sort((a, b) => x[r * cols + b] - x[r * cols + a] || a - b);
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = idx[j]!;
      values[r * k + j] = x[r * cols + idx[j]!];
    }
  }
  return { values, indices };
}
