// Trainable parameters: a named registry of leaf Variables that require gradients, their
// initialisation, and the Adam/AdamW optimizers over the registry.
import { Variable } from './autograd.ts';
import type { Engine } from './engine.ts';
import { EngineError, ShapeError } from './errors.ts';
import { adamStep } from './ops/optimizer.ts';
import type { Tensor } from './tensor.ts';

/** A parameter name that is unknown, taken twice, or malformed. */
export class ParameterError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'ParameterError';
  }
}

/** A leaf Variable that requires a gradient, known by its name in a registry. */
export class Parameter extends Variable {
  constructor(
    data: Tensor<'f32'>,
    readonly name: string,
  ) {
    super(data, true, name);
  }
  override get data(): Tensor<'f32'> {
    return super.data as Tensor<'f32'>;
  }
}

/** Uniform random numbers in [0, 1) from a 32-bit seed (mulberry32): for reproducible initialisation. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The registry of a model's parameters, in registration order. */
export class Parameters implements Iterable<Parameter> {
  private byName = new Map<string, Parameter>();

  constructor(readonly engine: Engine) {}

  /** Registers a tensor as a parameter; the registry owns it from now on. */
  add(name: string, data: Tensor<'f32'>): Parameter {
    if (!name || name === '__metadata__') throw new ParameterError(`"${name}" cannot name a parameter`);
    if (this.byName.has(name)) throw new ParameterError(`a parameter named "${name}" already exists; names must be unique`);
    if (data.dtype !== 'f32') throw new ShapeError(`parameter "${name}" must be f32, got ${data.dtype}`);
    const p = new Parameter(data, name);
    this.byName.set(name, p);
    return p;
  }

  /** A parameter with the given values. */
  create(name: string, shape: readonly number[], values: ArrayLike<number>): Parameter {
    return this.add(name, this.engine.tensor(values, shape));
  }

  /**
   * A parameter drawn uniformly from [-bound, bound), PyTorch's default for Linear and Conv1d
   * weights and biases being bound = 1 / sqrt(fan_in) (fan_in = in_features, or in_channels * kernel).
   */
  uniform(name: string, shape: readonly number[], bound: number, random: () => number): Parameter {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.create(name, shape, Float32Array.from({ length: n }, () => (2 * random() - 1) * bound));
  }

  zeros(name: string, shape: readonly number[]): Parameter {
    return this.add(name, this.engine.zeros(shape));
  }

  get(name: string): Parameter {
    const p = this.byName.get(name);
    if (!p) throw new ParameterError(`no parameter named "${name}" (known: ${[...this.byName.keys()].join(', ') || 'none'})`);
    return p;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  [Symbol.iterator](): Iterator<Parameter> {
    return this.byName.values();
  }

  /** Number of parameter tensors. */
  get size(): number {
    return this.byName.size;
  }

  /** Number of scalars over all parameters. */
  count(): number {
    let n = 0;
    for (const p of this.byName.values()) n += p.data.size;
    return n;
  }

  /** Drops every accumulated gradient (the next backward() starts from nothing). */
  zeroGrad(): void {
    for (const p of this.byName.values()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees every parameter and gradient. */
  dispose(): void {
    for (const p of this.byName.values()) p.dispose();
    this.byName.clear();
  }
}

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
