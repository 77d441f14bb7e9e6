// CPU references of conv1d (PyTorch Conv1d semantics: cross-correlation, zero padding on both
// sides, stride, dilation). float64 inside; Float64Array out. Layouts: x [N, Cin, L],
// w [Cout, Cin, K], b [Cout], y [N, Cout, Lout].

import { windowOutputLength } from '../../src/engine/ops/common.ts';

type Arr = ArrayLike<number>;

export interface Conv1dRefShape {
  n: number;
  cin: number;
  l: number;
  cout: number;
  k: number;
  stride: number;
  padding: number;
  dilation: number;
}

export function conv1dRefOutputLength(s: Conv1dRefShape): number {
  return windowOutputLength(s.l, s.k, s.stride, s.padding, s.dilation);
}

export function conv1dRef(x: Arr, w: Arr, b: Arr | null, s: Conv1dRefShape): Float64Array {
  const lout = conv1dRefOutputLength(s);
  const y = new Float64Array(s.n * s.cout * lout);
  for (let n = 0; n < s.n; n++) {
    for (let co = 0; co < s.cout; co++) {
      const yo = (n * s.cout + co) * lout;
      for (let ci = 0; ci < s.cin; ci++) {
        const xo = (n * s.cin + ci) * s.l;
        const wo = (co * s.cin + ci) * s.k;
        for (let t = 0; t < lout; t++) {
          let acc = 0;
          for (let k = 0; k < s.k; k++) {
            const i = t * s.stride + k * s.dilation - s.padding;
            if (i >= 0 && i < s.l) acc += w[wo + k] * x[xo + i];
          }
          y[yo + t] += acc;
        }
      }
      if (b) for (let t = 0; t < lout; t++) y[yo + t] += b[co];
    }
  }
  return y;
}

/** dL/dx given dL/dy = dy: the transposed convolution. */
export function conv1dBackwardInputRef(dy: Arr, w: Arr, s: Conv1dRefShape): Float64Array {
  const lout = conv1dRefOutputLength(s);
  const dx = new Float64Array(s.n * s.cin * s.l);
  for (let n = 0; n < s.n; n++) {
    for (let co = 0; co < s.cout; co++) {
      const yo = (n * s.cout + co) * lout;
      for (let ci = 0; ci < s.cin; ci++) {
        const xo = (n * s.cin + ci) * s.l;
        const wo = (co * s.cin + ci) * s.k;
        for (let t = 0; t < lout; t++) {
          const g = dy[yo + t];
          for (let k = 0; k < s.k; k++) {
            const i = t * s.stride + k * s.dilation - s.padding;
            if (i >= 0 && i < s.l) dx[xo + i] += w[wo + k] * g;
          }
        }
      }
    }
  }
  return dx;
}

/** dL/dw given dL/dy = dy. */
export function conv1dBackwardWeightRef(x: Arr, dy: Arr, s: Conv1dRefShape): Float64Array {
  const lout = conv1dRefOutputLength(s);
  const dw = new Float64Array(s.cout * s.cin * s.k);
  for (let n = 0; n < s.n; n++) {
    for (let co = 0; co < s.cout; co++) {
      const yo = (n * s.cout + co) * lout;
      for (let ci = 0; ci < s.cin; ci++) {
        const xo = (n * s.cin + ci) * s.l;
        const wo = (co * s.cin + ci) * s.k;
        for (let k = 0; k < s.k; k++) {
          let acc = 0;
          for (let t = 0; t < lout; t++) {
            const i = t * s.stride + k * s.dilation - s.padding;
            if (i >= 0 && i < s.l) acc += x[xo + i] * dy[yo + t];
          }
          dw[wo + k] += acc;
        }
      }
    }
  }
  return dw;
}

/** dL/db given dL/dy = dy: the sum over batch and positions. */
export function conv1dBackwardBiasRef(dy: Arr, n: number, cout: number, lout: number): Float64Array {
  const db = new Float64Array(cout);
  for (let b = 0; b < n; b++) {
    for (let co = 0; co < cout; co++) {
      const o = (b * cout + co) * lout;
      let acc = 0;
      for (let t = 0; t < lout; t++) acc += dy[o + t];
      db[co] += acc;
    }
  }
  return db;
}
