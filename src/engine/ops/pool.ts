// 1-D average pooling (PyTorch AvgPool1d with padding 0, ceil_mode false): x [N, C, L] ->
// y [N, C, floor((L - kernel) / stride) + 1]. Used by the SCNN baseline.
import type { Engine } from '../engine.ts';
import { ShapeError, ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { grid1d, requireF32, windowOutputLength } from './common.ts';

export interface AvgPool1dParams {
  kernel: number;
  /** Defaults to kernel, as in PyTorch. */
  stride?: number;
}

interface Resolved {
  n: number;
  c: number;
  len: number;
  lenOut: number;
  kernel: number;
  stride: number;
}

function resolve(op: string, inShape: readonly number[], params: AvgPool1dParams): Resolved {
  const { kernel } = params;
  const stride = params.stride ?? kernel;
  for (const [name, v] of [
    ['kernel', kernel],
    ['stride', stride],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ValueError(`${op}: ${name} must be a positive integer, got ${v}`);
  }
  if (inShape.length !== 3) throw new ShapeError(`${op}: x must be [N, C, L], got [${inShape.join(', ')}]`);
  const [n, c, len] = inShape as [number, number, number];
  if (len < kernel) throw new ShapeError(`${op}: input length L=${len} is shorter than the kernel (${kernel}); x is [${inShape.join(', ')}]`);
  return { n, c, len, lenOut: windowOutputLength(len, kernel, stride), kernel, stride };
}

function uniforms(r: Resolved, row: number) {
  return { rows: r.n * r.c, len_in: r.len, len_out: r.lenOut, kernel: r.kernel, stride: r.stride, row, inv_kernel: 1 / r.kernel };
}

/** y[n, c, o] = mean of x[n, c, o*stride .. o*stride + kernel - 1]. */
export function avgPool1d(engine: Engine, x: Tensor, params: AvgPool1dParams): Tensor<'f32'> {
  requireF32('avgPool1d', 'x', x);
  const r = resolve('avgPool1d', x.shape, params);
  const y = engine.empty([r.n, r.c, r.lenOut]);
  if (y.size === 0) return y;
  const { workgroups, row } = grid1d(engine, y.size);
  engine.dispatch('pool', 'avg_forward', { bindings: { p: uniforms(r, row), x, y }, workgroups });
  return y;
}

/** dx for avgPool1d: inShape is the forward input's shape [N, C, L]; dy is [N, C, Lout]. */
export function avgPool1dBackward(engine: Engine, dy: Tensor, inShape: readonly number[], params: AvgPool1dParams): Tensor<'f32'> {
  requireF32('avgPool1dBackward', 'dy', dy);
  const r = resolve('avgPool1dBackward', inShape, params);
  const want = [r.n, r.c, r.lenOut];
  if (dy.shape.length !== 3 || dy.shape.some((d, i) => d !== want[i])) {
    throw new ShapeError(`avgPool1dBackward: dy must be [${want.join(', ')}] for input [${inShape.join(', ')}], got [${dy.shape.join(', ')}]`);
  }
  const dx = engine.empty(inShape);
  if (dx.size === 0) return dx;
  const { workgroups, row } = grid1d(engine, dx.size);
  engine.dispatch('pool', 'avg_backward', { bindings: { p: uniforms(r, row), dy, dx }, workgroups });
  return dx;
}

/** Contiguous, non-empty segments of an axis of length L, checked once and kept on the GPU. */
export interface Segments {
  /** S + 1 increasing indices; segment s covers [starts[s], starts[s + 1]). */
  starts: Int32Array;
  /** The same indices as an i32 tensor (the caller disposes it). */
  tensor: Tensor<'i32'>;
  /** L, the axis length the segments lie in. */
  length: number;
}

export function segments(engine: Engine, starts: ArrayLike<number>, length: number): Segments {
  const n = starts.length - 1;
  if (n < 1) throw new ValueError('segments: needs at least one segment (two starts)');
  for (let s = 0; s < n; s++) {
    const a = starts[s]!;
    const b = starts[s + 1]!;
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b <= a || b > length) {
      throw new ValueError(`segments: segment ${s} [${a}, ${b}) must be non-empty and lie within 0..${length}`);
    }
  }
  const values = Int32Array.from(starts);
  return { starts: values, tensor: engine.tensor(values, [values.length], 'i32') as Tensor<'i32'>, length };
}

/** Segment means of the last axis (not differentiable: it resamples network inputs): x [N, L] -> y [N, S]. */
export function segmentMean(engine: Engine, x: Tensor, seg: Segments): Tensor<'f32'> {
  requireF32('segmentMean', 'x', x);
  if (x.shape.length !== 2 || x.shape[1] !== seg.length) throw new ShapeError(`segmentMean: x must be [N, ${seg.length}], got [${x.shape.join(', ')}]`);
  const n = x.shape[0]!;
  const count = seg.starts.length - 1;
  const y = engine.empty([n, count]);
  if (y.size === 0) return y;
  const { workgroups, row } = grid1d(engine, y.size);
  const p = { rows: n, len_in: seg.length, len_out: count, kernel: 1, stride: 1, row, inv_kernel: 1 };
  engine.dispatch('pool', 'segment_mean', { bindings: { p, x, y, starts: seg.tensor }, workgroups });
  return y;
}
