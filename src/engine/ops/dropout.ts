// Dropout (inverted: kept elements are scaled by 1/(1-p), so the expected value is unchanged).
//
// The mask comes from a counter-based hash of (seed, step, flat element index) (see
// kernels/dropout.wgsl): the same seed and step give the same mask on every run and device, and
// dropoutBackward re-derives it, so nothing is stored between forward and backward. Callers pass
// the same params to both. Use a different seed per layer and advance `step` every iteration.
//
// p must be in [0, 1). p = 1 is rejected with a ValueError (it would zero the layer and its
// gradient, and 1/(1-p) is infinite); leave the layer out instead. With training: false, or
// p = 0, the result is a plain copy of the input.
import type { BindingValue, Engine } from '../engine.ts';
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { launchStreaming, requireF32 } from './common.ts';

export interface DropoutParams {
  /** Probability of dropping an element, 0 <= p < 1. */
  p: number;
  /** Random seed, an integer in 0..2^32-1 (one per layer). */
  seed: number;
  /** Training step, an integer in 0..2^32-1; a new mask for every step. */
  step: number;
  /** When false the op is the identity (evaluation mode). */
  training: boolean;
  /**
   * Mask index of element 0 (default 0): a micro-batch starting at row r of a batch with F
   * features per row passes r * F and gets exactly the rows of the whole batch's mask.
   */
  offset?: number;
}

/** Chris Wellons' triple32 integer hash (u32 -> u32). */
export function triple32(v: number): number {
  let h = v >>> 0;
  h ^= h >>> 17;
  h = Math.imul(h, 0xed5ad4bb) >>> 0;
  h ^= h >>> 11;
  h = Math.imul(h, 0xac4c1b51) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x31848bab) >>> 0;
  h ^= h >>> 14;
  return h >>> 0;
}

/** The two per-(seed, step) keys of the element hash. */
export function dropoutKeys(seed: number, step: number): { k1: number; k2: number } {
  const k1 = triple32((seed ^ triple32((step + 0x9e3779b9) >>> 0)) >>> 0);
  const k2 = triple32((k1 + 0x632be5ab) >>> 0);
  return { k1, k2 };
}

/** Integer threshold: element kept when its hash >= floor(p * 2^32). */
export function dropoutThreshold(p: number): number {
  return Math.floor(p * 2 ** 32);
}

function checkParams(op: string, params: DropoutParams): void {
  const { p, seed, step } = params;
  const offset = params.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset > 0xffffffff) throw new ValueError(`${op}: offset must be an integer in 0..4294967295, got ${offset}`);
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
    throw new ValueError(`${op}: p must be in [0, 1), got ${p}; p = 1 drops everything, so leave the layer out instead`);
  }
  for (const [name, v] of [
    ['seed', seed],
    ['step', step],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new ValueError(`${op}: ${name} must be an integer in 0..4294967295, got ${v}`);
    }
  }
}

function run(engine: Engine, entry: 'forward' | 'backward', input: Tensor, params: DropoutParams): Tensor<'f32'> {
  const out = engine.empty(input.shape);
  const n = input.size;
  if (!params.training || params.p === 0) {
    engine.copy(input, out);
    return out;
  }
  const { k1, k2 } = dropoutKeys(params.seed, params.step);
  launchStreaming(engine, 'dropout', entry, n, (row): Record<string, BindingValue> => {
    const p = { n, row, threshold: dropoutThreshold(params.p), k1, k2, scale: 1 / (1 - params.p), offset: params.offset ?? 0 };
    return entry === 'forward' ? { p, x: input, y: out } : { p, dy: input, dx: out };
  });
  return out;
}

/** y = x * mask / (1 - p), mask from (seed, step, element index). */
export function dropout(engine: Engine, x: Tensor, params: DropoutParams): Tensor<'f32'> {
  requireF32('dropout', 'x', x);
  checkParams('dropout', params);
  return run(engine, 'forward', x, params);
}

/** dx = dy * mask / (1 - p), with the mask of the forward call that had the same params. */
export function dropoutBackward(engine: Engine, dy: Tensor, params: DropoutParams): Tensor<'f32'> {
  requireF32('dropoutBackward', 'dy', dy);
  checkParams('dropoutBackward', params);
  return run(engine, 'backward', dy, params);
}
