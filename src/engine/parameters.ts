// Trainable parameters: a named registry of leaf Variables that require gradients and their
// initialisation. The optimizers over a registry are in optim.ts.
import { Variable } from './autograd.ts';
import type { Engine } from './engine.ts';
import { EngineError, ShapeError } from './errors.ts';
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
