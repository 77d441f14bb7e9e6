// CPU references of the elementwise ops (float64 inside; Float64Array out).

type Arr = ArrayLike<number>;

export function reluRef(x: Arr): Float64Array {
  return Float64Array.from(x, (v) => (v > 0 ? v : 0));
}

export function reluBackwardRef(dy: Arr, x: Arr): Float64Array {
  return Float64Array.from(x, (v, i) => (v > 0 ? dy[i] : 0));
}

export function addRef(a: Arr, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

export function affineRef(x: Arr, alpha: number, beta: number): Float64Array {
  return Float64Array.from(x, (v) => alpha * v + beta);
}

export function logScaleRef(x: Arr, alpha: number, beta: number): Float64Array {
  return Float64Array.from(x, (v) => beta * Math.log1p(alpha * Math.max(v, 0)));
}
