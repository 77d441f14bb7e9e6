// Optimizers over a parameter registry: Adam and AdamW (PyTorch semantics), with the state a
// checkpoint saves and restores. The update itself is the adamStep kernel (ops/optimizer.ts).
import { adamStep } from './ops/optimizer.ts';
import { ParameterError, type Parameter, type Parameters } from './parameters.ts';
import type { Tensor } from './tensor.ts';

export interface AdamConfig {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty (Adam, default 0) or decoupled decay (AdamW, default 0.01). */
  weightDecay?: number;
}

/**
 * Adam over a registry (PyTorch semantics): moments m and v per parameter, created at the first
 * step; parameters without a gradient are left alone (their moments do not advance either).
 */
export class Adam {
  /** Number of step() calls so far. */
  stepCount = 0;
  private moments = new Map<Parameter, { m: Tensor<'f32'>; v: Tensor<'f32'>; t: number }>();
  protected readonly decoupled: boolean = false;

  constructor(
    readonly params: Parameters,
    readonly config: AdamConfig,
  ) {}

  /**
   * Applies one update from the accumulated gradients. `overrides` changes the learning rate for
   * this step (a schedule) and scales every gradient (global-norm clipping).
   */
  step(overrides: { lr?: number; gradScale?: number } = {}): void {
    this.stepCount++;
    const { engine } = this.params;
    const config = { ...this.config, ...(overrides.lr !== undefined ? { lr: overrides.lr } : {}), gradScale: overrides.gradScale ?? 1 };
    for (const p of this.params) {
      if (!p.grad) continue;
      let s = this.moments.get(p);
      if (!s) {
        s = { m: engine.zeros(p.data.shape), v: engine.zeros(p.data.shape), t: 0 };
        this.moments.set(p, s);
      }
      s.t++;
      adamStep(engine, p.data, p.grad, s.m, s.v, { ...config, step: s.t, decoupled: this.decoupled });
    }
  }

  /** The moments per parameter name (the optimizer keeps owning the tensors), for checkpoints. */
  momentState(): { name: string; m: Tensor<'f32'>; v: Tensor<'f32'>; t: number }[] {
    return [...this.moments].map(([p, s]) => ({ name: p.name, m: s.m, v: s.v, t: s.t }));
  }

  /**
   * Restores the state a checkpoint saved: the step count and the moments by parameter name
   * (parameters absent from `moments` start from zero moments, as before their first update).
   */
  restoreState(stepCount: number, moments: { name: string; m: Float32Array; v: Float32Array; t: number }[]): void {
    this.dispose();
    const { engine } = this.params;
    for (const s of moments) {
      const p = this.params.get(s.name);
      if (s.m.length !== p.data.size || s.v.length !== p.data.size) {
        throw new ParameterError(`optimizer state for "${s.name}" has ${s.m.length} values but the parameter has ${p.data.size}`);
      }
      this.moments.set(p, { m: engine.tensor(s.m, p.data.shape), v: engine.tensor(s.v, p.data.shape), t: s.t });
    }
    this.stepCount = stepCount;
  }

  zeroGrad(): void {
    this.params.zeroGrad();
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const s of this.moments.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.moments.clear();
  }
}

/** AdamW: Adam with decoupled weight decay (default 0.01, as in PyTorch). */
export class AdamW extends Adam {
  protected override readonly decoupled = true;
  constructor(params: Parameters, config: AdamConfig) {
    super(params, { weightDecay: 0.01, ...config });
  }
}
