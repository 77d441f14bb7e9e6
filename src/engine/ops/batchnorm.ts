// BatchNorm1d (kernels/batchnorm.wgsl), PyTorch semantics, over x [N, C, L] or [N, C]:
// training normalises with the batch statistics (biased variance) and updates the running mean
// and variance in place (momentum, unbiased variance); evaluation uses the running statistics.
// The forward returns `stats` [2, C] (mean, 1/sqrt(var + eps)) for the backward pass.
import type { Engine } from '../engine.ts';
import { ShapeError, ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { grid1d, requireF32 } from './common.ts';

const BLOCK = 256;

export interface BatchNormParams {
  training: boolean;
  /** Weight of the batch statistics in the running ones (PyTorch default 0.1). */
  momentum?: number;
  /** Added to the variance (PyTorch default 1e-5). */
  eps?: number;
}

export interface BatchNormRunning {
  runningMean: Tensor;
  runningVar: Tensor;
}

interface Dims {
  n: number;
  c: number;
  l: number;
}

function dims(op: string, x: Tensor): Dims {
  requireF32(op, 'x', x);
  const s = x.shape;
  if (s.length !== 2 && s.length !== 3) throw new ShapeError(`${op}: x must be [N, C] or [N, C, L], got [${s.join(', ')}]`);
  return { n: s[0]!, c: s[1]!, l: s.length === 3 ? s[2]! : 1 };
}

function requireChannels(op: string, name: string, t: Tensor, c: number): void {
  requireF32(op, name, t);
  if (t.size !== c) throw new ShapeError(`${op}: ${name} must hold one value per channel (${c}), got [${t.shape.join(', ')}]`);
}

function uniforms(d: Dims, p: BatchNormParams, row: number) {
  const blocks = Math.ceil(d.l / BLOCK);
  const count = d.n * d.l;
  return {
    n: d.n,
    c: d.c,
    l: d.l,
    blocks,
    parts: d.n * blocks,
    row,
    eps: p.eps ?? 1e-5,
    momentum: p.momentum ?? 0.1,
    inv_count: 1 / count,
    unbias: count > 1 ? count / (count - 1) : 1,
  };
}

/** y and the per-channel statistics the backward pass needs. */
export function batchNorm1d(engine: Engine, x: Tensor, gamma: Tensor, beta: Tensor, running: BatchNormRunning, params: BatchNormParams): { y: Tensor<'f32'>; stats: Tensor<'f32'> } {
  const op = 'batchNorm1d';
  const d = dims(op, x);
  requireChannels(op, 'gamma', gamma, d.c);
  requireChannels(op, 'beta', beta, d.c);
  requireChannels(op, 'runningMean', running.runningMean, d.c);
  requireChannels(op, 'runningVar', running.runningVar, d.c);
  const momentum = params.momentum ?? 0.1;
  const eps = params.eps ?? 1e-5;
  if (!(momentum >= 0 && momentum <= 1)) throw new ValueError(`${op}: momentum must be in [0, 1], got ${momentum}`);
  if (!(eps > 0)) throw new ValueError(`${op}: eps must be > 0, got ${eps}`);
  if (params.training && d.n * d.l < 2) {
    throw new ShapeError(`${op}: training needs more than one value per channel, got x [${x.shape.join(', ')}]; use a batch of at least 2`);
  }
  const st = engine.empty([2, d.c]);
  const y = engine.empty(x.shape);
  if (x.size === 0) return { y, stats: st };
  const perChannel = grid1d(engine, d.c, 64);
  const { runningMean: running_mean, runningVar: running_var } = running;
  if (params.training) {
    const parts = uniforms(d, params, 0).parts;
    const partial = engine.empty([d.c, parts]);
    const grid = grid1d(engine, d.c * parts, 64);
    engine.dispatch('batchnorm', 'partial_sums', { bindings: { p: uniforms(d, params, grid.row), x, partial }, workgroups: grid.workgroups });
    engine.dispatch('batchnorm', 'finish_mean', { bindings: { p: uniforms(d, params, perChannel.row), partial, st }, workgroups: perChannel.workgroups });
    engine.dispatch('batchnorm', 'partial_squares', { bindings: { p: uniforms(d, params, grid.row), x, partial, st }, workgroups: grid.workgroups });
    engine.dispatch('batchnorm', 'finish_var', {
      bindings: { p: uniforms(d, params, perChannel.row), partial, st, running_mean, running_var },
      workgroups: perChannel.workgroups,
    });
    partial.dispose();
  } else {
    engine.dispatch('batchnorm', 'eval_stats', { bindings: { p: uniforms(d, params, perChannel.row), st, running_mean, running_var }, workgroups: perChannel.workgroups });
  }
  const all = grid1d(engine, x.size);
  engine.dispatch('batchnorm', 'normalize', { bindings: { p: uniforms(d, params, all.row), x, y, gamma, beta, stats: st }, workgroups: all.workgroups });
  return { y, stats: st };
}

/**
 * Gradients of batchNorm1d: x and stats are the forward's input and statistics; `training` must
 * match the forward (batch statistics depend on x, running ones do not).
 */
export function batchNorm1dBackward(
  engine: Engine,
  dy: Tensor,
  x: Tensor,
  gamma: Tensor,
  stats: Tensor,
  training: boolean,
): { dx: Tensor<'f32'>; dgamma: Tensor<'f32'>; dbeta: Tensor<'f32'> } {
  const op = 'batchNorm1dBackward';
  const d = dims(op, x);
  requireF32(op, 'dy', dy);
  if (dy.shape.join() !== x.shape.join()) throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] must have the shape of x [${x.shape.join(', ')}]`);
  requireChannels(op, 'gamma', gamma, d.c);
  if (stats.size !== 2 * d.c) throw new ShapeError(`${op}: stats must be [2, ${d.c}] (from batchNorm1d), got [${stats.shape.join(', ')}]`);
  const p: BatchNormParams = { training };
  const dx = engine.empty(x.shape);
  const dgamma = engine.empty([d.c]);
  const dbeta = engine.empty([d.c]);
  if (x.size === 0) return { dx, dgamma, dbeta };
  const parts = uniforms(d, p, 0).parts;
  const partial = engine.empty([d.c, parts]);
  const partial2 = engine.empty([d.c, parts]);
  const grid = grid1d(engine, d.c * parts, 64);
  engine.dispatch('batchnorm', 'partial_grads', { bindings: { p: uniforms(d, p, grid.row), x, dy, stats, partial, partial2 }, workgroups: grid.workgroups });
  const perChannel = grid1d(engine, d.c, 64);
  engine.dispatch('batchnorm', 'finish_grads', { bindings: { p: uniforms(d, p, perChannel.row), partial, partial2, dgamma, dbeta }, workgroups: perChannel.workgroups });
  partial.dispose();
  partial2.dispose();
  const all = grid1d(engine, x.size);
  if (training) {
    engine.dispatch('batchnorm', 'backward_input', { bindings: { p: uniforms(d, p, all.row), x, dy, dx, gamma, stats, dgamma, dbeta }, workgroups: all.workgroups });
  } else {
    engine.dispatch('batchnorm', 'backward_input_eval', { bindings: { p: uniforms(d, p, all.row), dy, dx, gamma, stats }, workgroups: all.workgroups });
  }
  return { dx, dgamma, dbeta };
}
