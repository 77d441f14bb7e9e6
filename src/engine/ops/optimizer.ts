// Adam and AdamW update kernels (PyTorch semantics): parameters, first and second moments are
// updated in place; the gradient is read. The caller keeps the step count t (1 on the first
// update) and passes it every call; bias corrections are computed here in float64.
import type { Engine } from '../engine.ts';
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { launchStreaming, requireF32, requireSameShape } from './common.ts';

export interface AdamOptions {
  lr: number;
  /** 1-based step count (the number of updates including this one). */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty added to the gradient (Adam), or decoupled decay (AdamW). Default 0 for Adam, 0.01 for AdamW. */
  weightDecay?: number;
  /** true: AdamW's decoupled weight decay, param *= 1 - lr * weightDecay. Default false. */
  decoupled?: boolean;
  /** Multiplies the gradient before the update (default 1): global-norm clipping passes its factor here. */
  gradScale?: number;
}

function check(op: string, o: Required<AdamOptions>): void {
  const bad = (name: string, v: number, want: string) => new ValueError(`${op}: ${name} must be ${want}, got ${v}`);
  if (!Number.isInteger(o.step) || o.step < 1) throw bad('step', o.step, 'an integer >= 1 (the first update is step 1)');
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw bad('lr', o.lr, 'a finite number >= 0');
  if (!(o.beta1 >= 0 && o.beta1 < 1)) throw bad('beta1', o.beta1, 'in [0, 1)');
  if (!(o.beta2 >= 0 && o.beta2 < 1)) throw bad('beta2', o.beta2, 'in [0, 1)');
  if (!(Number.isFinite(o.eps) && o.eps >= 0)) throw bad('eps', o.eps, 'a finite number >= 0');
  if (!(Number.isFinite(o.weightDecay) && o.weightDecay >= 0)) throw bad('weightDecay', o.weightDecay, 'a finite number >= 0');
  if (!(Number.isFinite(o.gradScale) && o.gradScale >= 0)) throw bad('gradScale', o.gradScale, 'a finite number >= 0');
}

/**
 * One Adam (or, with decoupled: true, AdamW) update of `param` from `grad`, with moment buffers
 * `m` and `v` (zeros before the first step). All four are f32 tensors of the same shape.
 */
export function adamStep(engine: Engine, param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamOptions): void {
  const decoupled = opts.decoupled ?? false;
  const o: Required<AdamOptions> = {
    lr: opts.lr,
    step: opts.step,
    beta1: opts.beta1 ?? 0.9,
    beta2: opts.beta2 ?? 0.999,
    eps: opts.eps ?? 1e-8,
    weightDecay: opts.weightDecay ?? (decoupled ? 0.01 : 0),
    decoupled,
    gradScale: opts.gradScale ?? 1,
  };
  const op = decoupled ? 'adamwStep' : 'adamStep';
  check(op, o);
  for (const [name, t] of [
    ['param', param],
    ['grad', grad],
    ['m', m],
    ['v', v],
  ] as const) {
    requireF32(op, name, t);
    if (t !== param) requireSameShape(op, 'param', param, name, t);
  }
  const n = param.size;
  launchStreaming(engine, 'optimizer', 'adam', n, (row) => {
    const uniforms = {
      n,
      row,
      beta1: o.beta1,
      beta2: o.beta2,
      one_minus_beta1: 1 - o.beta1,
      one_minus_beta2: 1 - o.beta2,
      eps: o.eps,
      l2: decoupled ? 0 : o.weightDecay,
      decay: decoupled ? 1 - o.lr * o.weightDecay : 1,
      step_size: o.lr / (1 - o.beta1 ** o.step),
      inv_sqrt_bc2: 1 / Math.sqrt(1 - o.beta2 ** o.step),
      grad_scale: o.gradScale,
    };
    return { p: uniforms, param, grad, m, v };
  });
}

/** AdamW: adamStep with decoupled weight decay (default weightDecay 0.01, as in PyTorch). */
export function adamwStep(engine: Engine, param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: Omit<AdamOptions, 'decoupled'>): void {
  adamStep(engine, param, grad, m, v, { ...opts, decoupled: true });
}
