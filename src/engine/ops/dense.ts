// Dense (fully connected) layer y = x W^T + b with x [N, In], W [Out, In] (PyTorch Linear layout),
// b [Out], and its backward passes. Outputs are new tensors; nothing reads back.
//
// Each pass is one strided product out[m, j] = sum_k u[m, k] v[j, k] in kernels/dense.wgsl. The
// variant comes from engine.variant('dense', ...): 'regblock' (default on software GPUs, no
// barriers) or 'tiled' (default on real GPUs, workgroup-memory tiles).
import type { Engine } from '../engine.ts';
import { ShapeError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { requireF32, shapeText } from './common.ts';

export type DenseVariant = 'regblock' | 'tiled';
export const DENSE_VARIANTS: readonly DenseVariant[] = ['regblock', 'tiled'];

interface Gemm {
  m: number;
  j: number;
  k: number;
  su_m: number;
  su_k: number;
  sv_j: number;
  sv_k: number;
  so_m: number;
  so_j: number;
}

// Invocation block sizes of the two variants (RB_ROWS x 2*RB_LANES and TS x TS in the WGSL).
const BLOCK: Record<DenseVariant, { m: number; j: number }> = {
  regblock: { m: 8, j: 64 },
  tiled: { m: 16, j: 16 },
};

/** The dense kernel variant this engine uses (its default per device, or the override). */
export function denseVariant(engine: Engine): DenseVariant {
  const v = engine.variant('dense', { software: 'regblock', gpu: 'tiled' });
  if (v !== 'regblock' && v !== 'tiled') {
    throw new ShapeError(`dense: unknown kernel variant "${v}"; use one of ${DENSE_VARIANTS.join(', ')}`);
  }
  return v;
}

function require2d(op: string, name: string, t: Tensor, layout: string): void {
  requireF32(op, name, t);
  if (t.shape.length !== 2) throw new ShapeError(`${op}: ${name} must be 2-D ${layout}, got shape ${shapeText(t.shape)}`);
  if (t.size === 0) throw new ShapeError(`${op}: ${name} ${shapeText(t.shape)} is empty`);
}

function run(engine: Engine, pass: 'forward' | 'backward_input' | 'backward_weight', g: Gemm, tensors: Record<string, Tensor>): void {
  const variant = denseVariant(engine);
  const blk = BLOCK[variant];
  const max = engine.info.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.ceil(g.j / blk.j);
  const mBlocks = Math.ceil(g.m / blk.m);
  const gridY = Math.min(mBlocks, max);
  const gz = Math.ceil(mBlocks / gridY);
  if (gx > max || gz > max) throw new ShapeError(`dense: a ${g.m} x ${g.j} product needs too many workgroups; split the layer`);
  engine.dispatch('dense', variant === 'tiled' ? `${pass}_tiled` : pass, {
    bindings: { p: { ...g, grid_y: gridY }, ...tensors },
    workgroups: [gx, gridY, gz],
  });
}

/** y = x W^T + b: x [N, In], w [Out, In], b [Out] -> y [N, Out]. */
export function dense(engine: Engine, x: Tensor, w: Tensor, b: Tensor): Tensor<'f32'> {
  require2d('dense', 'x', x, '[N, In]');
  require2d('dense', 'w', w, '[Out, In]');
  requireF32('dense', 'b', b);
  const [n, inF] = x.shape as [number, number];
  const [outF, wIn] = w.shape as [number, number];
  if (wIn !== inF) throw new ShapeError(`dense: w has shape ${shapeText(w.shape)} but x ${shapeText(x.shape)} has ${inF} input features; w must be [Out, ${inF}]`);
  if (b.shape.length !== 1 || b.shape[0] !== outF) throw new ShapeError(`dense: b must have shape [${outF}] (w's Out), got ${shapeText(b.shape)}`);
  const y = engine.empty([n, outF]);
  // m = output unit, so W (the large matrix) is the workgroup-uniform operand and is read once.
  run(engine, 'forward', { m: outF, j: n, k: inF, su_m: inF, su_k: 1, sv_j: inF, sv_k: 1, so_m: 1, so_j: outF }, { u: w, v: x, bias: b, out: y });
  return y;
}

/** dx = dy W: dy [N, Out], w [Out, In] -> dx [N, In]. */
export function denseBackwardInput(engine: Engine, dy: Tensor, w: Tensor): Tensor<'f32'> {
  require2d('denseBackwardInput', 'dy', dy, '[N, Out]');
  require2d('denseBackwardInput', 'w', w, '[Out, In]');
  const [n, outF] = dy.shape as [number, number];
  const [wOut, inF] = w.shape as [number, number];
  if (wOut !== outF) throw new ShapeError(`denseBackwardInput: w has shape ${shapeText(w.shape)} but dy ${shapeText(dy.shape)} has ${outF} outputs; w must be [${outF}, In]`);
  const dx = engine.empty([n, inF]);
  // m = input feature (W uniform, read once), j = sample, k = output unit.
  run(engine, 'backward_input', { m: inF, j: n, k: outF, su_m: 1, su_k: inF, sv_j: outF, sv_k: 1, so_m: 1, so_j: inF }, { u: w, v: dy, out: dx });
  return dx;
}

/** dW = dy^T x: dy [N, Out], x [N, In] -> dW [Out, In]. */
export function denseBackwardWeight(engine: Engine, dy: Tensor, x: Tensor): Tensor<'f32'> {
  require2d('denseBackwardWeight', 'dy', dy, '[N, Out]');
  require2d('denseBackwardWeight', 'x', x, '[N, In]');
  const [n, outF] = dy.shape as [number, number];
  const [xn, inF] = x.shape as [number, number];
  if (xn !== n) throw new ShapeError(`denseBackwardWeight: dy has ${n} samples (${shapeText(dy.shape)}) but x has ${xn} (${shapeText(x.shape)}); they must match`);
  const dw = engine.empty([outF, inF]);
  // m = output unit (dy uniform), j = input feature, k = sample.
  run(engine, 'backward_weight', { m: outF, j: inF, k: n, su_m: 1, su_k: outF, sv_j: 1, sv_k: inF, so_m: inF, so_j: 1 }, { u: dy, v: x, out: dw });
  return dw;
}

/** db = sum over samples of dy: dy [N, Out] -> db [Out]. */
export function denseBackwardBias(engine: Engine, dy: Tensor): Tensor<'f32'> {
  require2d('denseBackwardBias', 'dy', dy, '[N, Out]');
  const [n, outF] = dy.shape as [number, number];
  const db = engine.empty([outF]);
  const groups = Math.ceil(outF / 64);
  const gx = Math.min(groups, engine.info.limits.maxComputeWorkgroupsPerDimension);
  engine.dispatch('dense', 'backward_bias', {
    bindings: { q: { n, out_features: outF, row: gx * 64 }, dy, db },
    workgroups: [gx, Math.ceil(groups / gx)],
  });
  return db;
}
