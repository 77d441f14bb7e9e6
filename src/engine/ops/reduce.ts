// Reductions: sum and mean over all elements or over the last axis (with their backward passes),
// argmax and top-k over the last axis. A reduction over all elements returns shape [] (one
// element, like PyTorch's 0-d tensors); over the last axis it returns the leading dimensions.
import type { Engine } from '../engine.ts';
import { ShapeError, ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { grid1d, requireF32 } from './common.ts';

const CHUNK = 256;
/** Largest k topK supports (the kernel keeps its list in registers). */
export const TOPK_MAX = 16;

function noParams(extra: Partial<Record<string, number>>, row: number) {
  return { rows: 0, cols: 0, chunk: 0, out_cols: 0, k: 0, scale: 1, square: 0, ...extra, row };
}

function lastAxis(op: string, shape: readonly number[]): { rows: number; cols: number; lead: number[] } {
  if (shape.length === 0) throw new ShapeError(`${op}: x has shape [] (a scalar); it needs at least one axis`);
  const cols = shape[shape.length - 1]!;
  const lead = shape.slice(0, -1);
  return { rows: lead.reduce((a, b) => a * b, 1), cols, lead };
}

/**
 * Row sums of x viewed as [rows, cols], times `scale`, into a new tensor of outShape. With
 * `squares`, the first pass sums squared elements.
 */
function rowSums(engine: Engine, x: Tensor, rows: number, cols: number, scale: number, outShape: number[], squares = false): Tensor<'f32'> {
  if (rows === 0) return engine.empty(outShape);
  if (cols === 0) return engine.zeros(outShape);
  let cur: Tensor = x;
  let c = cols;
  for (;;) {
    const outCols = Math.ceil(c / CHUNK);
    const last = outCols === 1;
    const out = last ? engine.empty(outShape) : engine.empty([rows, outCols]);
    const { workgroups, row } = grid1d(engine, rows * outCols);
    engine.dispatch('reduce', 'sum_chunks', {
      bindings: { p: noParams({ rows, cols: c, chunk: CHUNK, out_cols: outCols, scale: last ? scale : 1, square: squares && cur === x ? 1 : 0 }, row), x: cur, y: out },
      workgroups,
    });
    if (cur !== x) cur.dispose(); // reused only after the submit, so the recorded pass still reads it
    if (last) return out;
    cur = out;
    c = outCols;
  }
}

/** Sum of all elements, shape []. An empty tensor sums to 0. */
export function sum(engine: Engine, x: Tensor): Tensor<'f32'> {
  requireF32('sum', 'x', x);
  return rowSums(engine, x, 1, x.size, 1, []);
}

/** Sum of the squares of all elements, shape [] (0 for an empty tensor). */
export function sumSquares(engine: Engine, x: Tensor): Tensor<'f32'> {
  requireF32('sumSquares', 'x', x);
  return rowSums(engine, x, 1, x.size, 1, [], true);
}

/** Mean of all elements, shape []. */
export function mean(engine: Engine, x: Tensor): Tensor<'f32'> {
  requireF32('mean', 'x', x);
  if (x.size === 0) throw new ShapeError(`mean: x [${x.shape.join(', ')}] is empty; a mean needs at least one element`);
  return rowSums(engine, x, 1, x.size, 1 / x.size, []);
}

/** Sum over the last axis: [..., C] -> [...]. */
export function sumLastAxis(engine: Engine, x: Tensor): Tensor<'f32'> {
  requireF32('sumLastAxis', 'x', x);
  const { rows, cols, lead } = lastAxis('sumLastAxis', x.shape);
  return rowSums(engine, x, rows, cols, 1, lead);
}

/** Mean over the last axis: [..., C] -> [...]. */
export function meanLastAxis(engine: Engine, x: Tensor): Tensor<'f32'> {
  requireF32('meanLastAxis', 'x', x);
  const { rows, cols, lead } = lastAxis('meanLastAxis', x.shape);
  if (cols === 0) throw new ShapeError(`meanLastAxis: the last axis of x [${x.shape.join(', ')}] is empty`);
  return rowSums(engine, x, rows, cols, 1 / cols, lead);
}

function broadcast(engine: Engine, op: string, dy: Tensor, dyShape: readonly number[], xShape: readonly number[], rows: number, cols: number, scale: number): Tensor<'f32'> {
  requireF32(op, 'dy', dy);
  if (dy.shape.length !== dyShape.length || dy.shape.some((d, i) => d !== dyShape[i])) {
    throw new ShapeError(`${op}: dy must be [${dyShape.join(', ')}] for x [${xShape.join(', ')}], got [${dy.shape.join(', ')}]`);
  }
  const dx = engine.empty(xShape);
  if (dx.size === 0) return dx;
  const { workgroups, row } = grid1d(engine, rows * cols);
  engine.dispatch('reduce', 'broadcast_rows', { bindings: { p: noParams({ rows, cols, scale }, row), dy, dx }, workgroups });
  return dx;
}

/** dx = dy (a scalar, shape []) broadcast to xShape. */
export function sumBackward(engine: Engine, dy: Tensor, xShape: readonly number[]): Tensor<'f32'> {
  const n = xShape.reduce((a, b) => a * b, 1);
  return broadcast(engine, 'sumBackward', dy, [], xShape, 1, n, 1);
}

/** dx = dy / numel(x) broadcast to xShape. */
export function meanBackward(engine: Engine, dy: Tensor, xShape: readonly number[]): Tensor<'f32'> {
  const n = xShape.reduce((a, b) => a * b, 1);
  return broadcast(engine, 'meanBackward', dy, [], xShape, 1, n, 1 / n);
}

/** dx[..., c] = dy[...]. */
export function sumLastAxisBackward(engine: Engine, dy: Tensor, xShape: readonly number[]): Tensor<'f32'> {
  const { rows, cols, lead } = lastAxis('sumLastAxisBackward', xShape);
  return broadcast(engine, 'sumLastAxisBackward', dy, lead, xShape, rows, cols, 1);
}

/** dx[..., c] = dy[...] / C. */
export function meanLastAxisBackward(engine: Engine, dy: Tensor, xShape: readonly number[]): Tensor<'f32'> {
  const { rows, cols, lead } = lastAxis('meanLastAxisBackward', xShape);
  return broadcast(engine, 'meanLastAxisBackward', dy, lead, xShape, rows, cols, 1 / cols);
}

/** Index of the largest value along the last axis (i32, ties to the lower index): [..., C] -> [...]. */
export function argmax(engine: Engine, x: Tensor): Tensor<'i32'> {
  requireF32('argmax', 'x', x);
  const { rows, cols, lead } = lastAxis('argmax', x.shape);
  if (cols === 0) throw new ShapeError(`argmax: the last axis of x [${x.shape.join(', ')}] is empty`);
  const out = engine.empty(lead, 'i32');
  if (rows === 0) return out;
  const { workgroups, row } = grid1d(engine, rows, 64);
  engine.dispatch('reduce', 'argmax', { bindings: { p: noParams({ rows, cols }, row), x, indices: out }, workgroups });
  return out;
}

/**
 * The k largest values along the last axis, in descending order, with their indices (ties broken
 * by the lower index): [..., C] -> values [..., k] (f32) and indices [..., k] (i32).
 * 1 <= k <= min(C, 16). Rows containing NaN give unspecified results.
 */
export function topK(engine: Engine, x: Tensor, k: number): { values: Tensor<'f32'>; indices: Tensor<'i32'> } {
  requireF32('topK', 'x', x);
  const { rows, cols, lead } = lastAxis('topK', x.shape);
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX) throw new ValueError(`topK: k must be an integer in 1..${TOPK_MAX}, got ${k}`);
  if (k > cols) throw new ShapeError(`topK: k=${k} exceeds the last axis of x [${x.shape.join(', ')}]`);
  const values = engine.empty([...lead, k]);
  const indices = engine.empty([...lead, k], 'i32');
  if (rows === 0) return { values, indices };
  const { workgroups, row } = grid1d(engine, rows, 64);
  engine.dispatch('reduce', 'topk', { bindings: { p: noParams({ rows, cols, k }, row), x, values, indices }, workgroups });
  return { values, indices };
}
