// Elementwise ops: ReLU forward/backward, add, in-place accumulate, scale/affine, fill.
// All work on f32 tensors of any shape (flat over the elements). Outputs are new tensors from
// engine.empty() except the in-place ops addInto() and fill(). Nothing reads back.
import type { Engine } from '../engine.ts';
import { ShapeError, ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { launchStreaming, requireF32, requireFinite, requireSameShape } from './common.ts';

function launch(engine: Engine, entry: string, n: number, alpha: number, beta: number, tensors: Record<string, Tensor>): void {
  launchStreaming(engine, 'elementwise', entry, n, (row) => ({ p: { n, row, alpha, beta }, ...tensors }));
}

/** y = max(x, 0). */
export function relu(engine: Engine, x: Tensor): Tensor<'f32'> {
  requireF32('relu', 'x', x);
  const y = engine.empty(x.shape);
  launch(engine, 'relu_forward', x.size, 0, 0, { x, y });
  return y;
}

/** dx = dy * (x > 0), where x is the forward input (0 at x == 0, as in PyTorch). */
export function reluBackward(engine: Engine, dy: Tensor, x: Tensor): Tensor<'f32'> {
  requireF32('reluBackward', 'dy', dy);
  requireF32('reluBackward', 'x', x);
  requireSameShape('reluBackward', 'x', x, 'dy', dy);
  const dx = engine.empty(x.shape);
  launch(engine, 'relu_backward', x.size, 0, 0, { x, dy, dx });
  return dx;
}

/** y = a + b (same shapes; no broadcasting). */
export function add(engine: Engine, a: Tensor, b: Tensor): Tensor<'f32'> {
  requireF32('add', 'a', a);
  requireF32('add', 'b', b);
  requireSameShape('add', 'a', a, 'b', b);
  const y = engine.empty(a.shape);
  launch(engine, 'add', a.size, 0, 0, { a, b, y });
  return y;
}

/**
 * dst += alpha * src, in place (gradient accumulation). Shapes must match; dst and src must be
 * different buffers.
 */
export function addInto(engine: Engine, dst: Tensor, src: Tensor, alpha = 1): void {
  requireF32('addInto', 'dst', dst);
  requireF32('addInto', 'src', src);
  requireSameShape('addInto', 'dst', dst, 'src', src);
  requireFinite('addInto', 'alpha', alpha);
  if (dst.buffer === src.buffer) throw new ShapeError('addInto: dst and src share a buffer; use scale(engine, x, 2) instead');
  launch(engine, 'add_into', dst.size, alpha, 0, { x: src, y: dst });
}

/** y = alpha * x + beta. */
export function affine(engine: Engine, x: Tensor, alpha: number, beta: number): Tensor<'f32'> {
  requireF32('affine', 'x', x);
  requireFinite('affine', 'alpha', alpha);
  requireFinite('affine', 'beta', beta);
  const y = engine.empty(x.shape);
  launch(engine, 'affine', x.size, alpha, beta, { x, y });
  return y;
}

/** y = alpha * x. */
export function scale(engine: Engine, x: Tensor, alpha: number): Tensor<'f32'> {
  requireF32('scale', 'x', x);
  requireFinite('scale', 'alpha', alpha);
  return affine(engine, x, alpha, 0);
}

/** y = beta * log(1 + alpha * max(x, 0)) (alpha >= 0): log-intensity inputs. */
export function logScale(engine: Engine, x: Tensor, alpha: number, beta: number): Tensor<'f32'> {
  requireF32('logScale', 'x', x);
  requireFinite('logScale', 'alpha', alpha);
  requireFinite('logScale', 'beta', beta);
  if (alpha < 0) throw new ValueError(`logScale: alpha must be >= 0, got ${alpha}`);
  const y = engine.empty(x.shape);
  launch(engine, 'log_scale', x.size, alpha, beta, { x, y });
  return y;
}

/** Sets every element of t to value, in place. */
export function fill(engine: Engine, t: Tensor, value: number): void {
  requireF32('fill', 't', t);
  requireFinite('fill', 'value', value);
  launch(engine, 'fill', t.size, 0, value, { y: t });
}
