// CPU reference of 1-D average pooling ([N, C, L], no padding, floor mode), float64.
import { windowOutputLength } from '../../src/engine/ops/common.ts';

/** x is [rows, len] flattened (rows = N*C); returns [rows, lenOut]. */
export function avgPool1dRef(x: ArrayLike<number>, rows: number, len: number, kernel: number, stride: number): Float64Array {
  const lo = windowOutputLength(len, kernel, stride);
  const y = new Float64Array(rows * lo);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < lo; o++) {
      let s = 0;
      for (let j = 0; j < kernel; j++) s += x[r * len + o * stride + j];
      y[r * lo + o] = s / kernel;
    }
  }
  return y;
}

/** Scatter form of the backward (a different algorithm from the kernel's gather). */
export function avgPool1dBackwardRef(dy: ArrayLike<number>, rows: number, len: number, kernel: number, stride: number): Float64Array {
  const lo = windowOutputLength(len, kernel, stride);
  const dx = new Float64Array(rows * len);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < lo; o++) {
      for (let j = 0; j < kernel; j++) dx[r * len + o * stride + j] += dy[r * lo + o] / kernel;
    }
  }
  return dx;
}

/** x is [rows, len]; segment s covers x[starts[s] .. starts[s + 1] - 1]; returns [rows, segments]. */
export function segmentMeanRef(x: ArrayLike<number>, rows: number, len: number, starts: ArrayLike<number>): Float64Array {
  const segments = starts.length - 1;
  const y = new Float64Array(rows * segments);
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < segments; s++) {
      let sum = 0;
      for (let j = starts[s]!; j < starts[s + 1]!; j++) sum += x[r * len + j]!;
      y[r * segments + s] = sum / (starts[s + 1]! - starts[s]!);
    }
  }
  return y;
}
