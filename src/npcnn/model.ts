// A classifier built from a ModelConfig: a sequential stack of layers that own their parameters
// (named as in a PyTorch nn.Sequential state_dict: "<index>.weight", "<index>.bias"), PyTorch's
// default initialisation and the input transform. Model directories on disk are model-dir.ts.
import * as ag from '../engine/autograd.ts';
import type { Engine } from '../engine/engine.ts';
import { logScale } from '../engine/ops/elementwise.ts';
import { segmentMean, segments, type Segments } from '../engine/ops/pool.ts';
import { Parameters, seededRandom } from '../engine/parameters.ts';
import { checkNamedTensors, type NamedTensorData } from '../engine/safetensors.ts';
import type { Tensor } from '../engine/tensor.ts';
import { layerOutputShape, ModelConfigError, validateModelConfig, type LayerSpec, type ModelConfig } from './config.ts';
import { logQBinStarts, networkInputLength } from './input-axis.ts';

/** A model directory that cannot be read (missing, corrupt, or from another model). */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** What a forward pass needs besides its input. */
export interface ForwardContext {
  /** Dropout active (training) or the identity (evaluation). */
  training: boolean;
  /** The optimizer step: every step draws new dropout masks. */
  dropoutStep?: number;
  /**
   * Row of the whole batch where this micro-batch starts: its dropout masks are those rows of
   * the whole batch's masks, so accumulated micro-batches equal one pass.
   */
  rowOffset?: number;
}

type Layer = (x: ag.Variable, ctx: ForwardContext) => ag.Variable;

function buildLayer(spec: LayerSpec, index: number, model: Model, random: () => number, seed: number): Layer {
  const params = model.params;
  switch (spec.type) {
    case 'conv1d': {
      // PyTorch: kaiming_uniform(a = sqrt(5)) gives bound 1/sqrt(fan_in) for the weight, and the bias the same.
      const bound = 1 / Math.sqrt(spec.in * spec.kernel);
      const w = params.uniform(`${index}.weight`, [spec.out, spec.in, spec.kernel], bound, random);
      const b = params.uniform(`${index}.bias`, [spec.out], bound, random);
      return (x) => ag.conv1d(x, w, b, { stride: spec.stride });
    }
    case 'dense': {
      const bound = 1 / Math.sqrt(spec.in);
      const w = params.uniform(`${index}.weight`, [spec.out, spec.in], bound, random);
      const b = params.uniform(`${index}.bias`, [spec.out], bound, random);
      return (x) => ag.dense(x, w, b);
    }
    case 'relu':
      return (x) => ag.relu(x);
    case 'flatten':
      return (x) => ag.flatten(x);
    case 'avgpool1d':
      return (x) => ag.avgPool1d(x, { kernel: spec.kernel, stride: spec.stride });
    case 'dropout': {
      // The dropout kernel hashes (seed, step) itself; distinct seeds per layer are enough.
      const layerSeed = (seed + Math.imul(index + 1, 0x9e3779b1)) >>> 0;
      return (x, ctx) =>
        ag.dropout(x, { p: spec.p, seed: layerSeed, step: (ctx.dropoutStep ?? 0) >>> 0, training: ctx.training, offset: (ctx.rowOffset ?? 0) * (x.data.size / x.shape[0]!) });
    }
    case 'batchnorm1d': {
      // PyTorch: weight (gamma) 1, bias (beta) 0, running mean 0, running variance 1.
      const gamma = params.create(`${index}.weight`, [spec.features], new Float32Array(spec.features).fill(1));
      const beta = params.zeros(`${index}.bias`, [spec.features]);
      const running = model.addBatchNormState(index, spec.features);
      return (x, ctx) => {
        if (ctx.training) model.batchesTracked.set(index, (model.batchesTracked.get(index) ?? 0) + 1);
        return ag.batchNorm1d(x, gamma, beta, running, { training: ctx.training, momentum: spec.momentum, eps: spec.eps });
      };
    }
  }
}

export class Model {
  readonly params: Parameters;
  /** Running statistics of the BatchNorm layers by state_dict name (not trained by gradients). */
  readonly buffers = new Map<string, Tensor<'f32'>>();
  /** BatchNorm layer index -> training batches seen (PyTorch's num_batches_tracked). */
  readonly batchesTracked = new Map<number, number>();
  private readonly layers: Layer[];

  constructor(
    readonly engine: Engine,
    readonly config: ModelConfig,
  ) {
    const limit = engine.info.limits.maxStorageBufferBindingSize;
    config.layers.forEach((l, i) => {
      if (l.type !== 'dense' && l.type !== 'conv1d') return;
      const bytes = 4 * l.in * l.out * (l.type === 'conv1d' ? l.kernel : 1);
      if (bytes > limit) {
        throw new ModelConfigError(
          `layer ${i} (${l.type}, ${l.in} -> ${l.out}) needs ${(bytes / 2 ** 20).toFixed(0)} MiB of weights in one buffer, but this device binds at most ${(limit / 2 ** 20).toFixed(0)} MiB; use a GPU with a larger limit or another architecture`,
        );
      }
    });
    this.params = new Parameters(engine);
    const random = seededRandom(config.seed);
    this.layers = config.layers.map((spec, i) => buildLayer(spec, i, this, random, config.seed));
  }

  /** @internal Creates a BatchNorm layer's running statistics (mean 0, variance 1). */
  addBatchNormState(index: number, features: number): { runningMean: Tensor<'f32'>; runningVar: Tensor<'f32'> } {
    const runningMean = this.engine.zeros([features]);
    const runningVar = this.engine.tensor(new Float32Array(features).fill(1), [features]);
    this.buffers.set(`${index}.running_mean`, runningMean);
    this.buffers.set(`${index}.running_var`, runningVar);
    this.batchesTracked.set(index, 0);
    return { runningMean, runningVar };
  }

  /**
   * Every tensor of the state_dict: parameters, running statistics and num_batches_tracked
   * (stored as float32; PyTorch's load_state_dict copies it into its int64 buffer).
   */
  async stateTensors(): Promise<[string, NamedTensorData][]> {
    const out: [string, NamedTensorData][] = [];
    for (const p of this.params) out.push([p.name, { shape: [...p.data.shape], data: await p.data.read() }]);
    for (const [name, t] of this.buffers) out.push([name, { shape: [...t.shape], data: (await t.read()) as Float32Array }]);
    for (const [i, n] of this.batchesTracked) out.push([`${i}.num_batches_tracked`, { shape: [], data: Float32Array.of(n) }]);
    return out;
  }

  /**
   * Loads a state_dict: every tensor the model has must be there with its shape, and (strict)
   * nothing else. `where` names the file in errors. Nothing is written unless all match. The
   * model's tensors named in `keep` are left as they are, whatever the file holds under those names.
   */
  loadState(tensors: Map<string, NamedTensorData>, where: string, strict = true, keep: ReadonlySet<string> = new Set()): void {
    const want = new Map<string, readonly number[]>();
    for (const p of this.params) want.set(p.name, p.data.shape);
    for (const [name, t] of this.buffers) want.set(name, t.shape);
    for (const i of this.batchesTracked.keys()) want.set(`${i}.num_batches_tracked`, []);
    for (const name of keep) want.delete(name);
    checkNamedTensors(want, tensors, { where, strict, strictHint: 'it was saved from another model', error: (m) => new ModelLoadError(m) }, keep);
    for (const p of this.params) if (want.has(p.name)) this.engine.write(p.data, tensors.get(p.name)!.data);
    for (const [name, t] of this.buffers) if (want.has(name)) this.engine.write(t, tensors.get(name)!.data);
    for (const i of this.batchesTracked.keys()) if (want.has(`${i}.num_batches_tracked`)) this.batchesTracked.set(i, tensors.get(`${i}.num_batches_tracked`)!.data[0]!);
  }

  get classes(): string[] {
    return this.config.classes;
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.params.count();
  }

  /** Log-q bins on the GPU, made on first use (null on the two-theta axis). */
  private bins: Segments | null = null;

  /** Length of the network input: grid points, or log-q bins. */
  get inputLength(): number {
    return networkInputLength(this.config.input);
  }

  /** The log-q bins as grid-index starts (null on the two-theta axis). */
  binStarts(): Int32Array | null {
    return this.config.input.axis === 'log-q' ? logQBinStarts(this.config.input) : null;
  }

  /**
   * The network input [N, 1, inputLength] for patterns [N, points] already on the model's grid
   * with maximum 1: put on the config's axis, then its transform applied (a tensor or view the
   * caller disposes).
   */
  prepareInput(patterns: Tensor): Tensor<'f32'> {
    const { input } = this.config;
    const [n, points] = patterns.shape as [number, number];
    if (patterns.shape.length !== 2 || points !== input.points) {
      throw new ModelConfigError(`the model takes patterns of ${input.points} points (${input.twoThetaMin}-${input.twoThetaMin + (input.points - 1) * input.step} deg); got shape [${patterns.shape.join(', ')}]`);
    }
    let x = patterns;
    if (input.axis === 'log-q') {
      this.bins ??= segments(this.engine, logQBinStarts(input), points);
      x = segmentMean(this.engine, patterns, this.bins);
    }
    const length = x.shape[1]!;
    let out: Tensor;
    if (input.transform === 'none') {
      out = x.reshape([n, 1, length]);
    } else {
      const eps = input.logEpsilon!;
      const scaled = logScale(this.engine, x, 1 / eps, 1 / Math.log1p(1 / eps));
      out = scaled.reshape([n, 1, length]);
      scaled.dispose();
    }
    if (x !== patterns) x.dispose();
    return out as Tensor<'f32'>;
  }

  /** Logits [N, classes] of prepared inputs [N, 1, inputLength]. */
  forward(x: ag.Variable, ctx: ForwardContext = { training: false }): ag.Variable {
    let h = x;
    for (const layer of this.layers) h = layer(h, ctx);
    return h;
  }

  /** Bytes of the largest activation per pattern (for choosing micro-batches under the binding limit). */
  largestActivationBytes(): number {
    let shape = [1, this.inputLength];
    let most = Math.max(this.config.input.points, this.inputLength);
    for (const l of this.config.layers) {
      shape = layerOutputShape(l, shape);
      most = Math.max(most, shape.reduce((a, b) => a * b, 1));
    }
    return most * 4;
  }

  dispose(): void {
    this.bins?.tensor.dispose();
    this.bins = null;
    this.params.dispose();
    for (const t of this.buffers.values()) t.dispose();
    this.buffers.clear();
  }
}

/** A new model with freshly initialised parameters (PyTorch's defaults, from config.seed). */
export function createModel(engine: Engine, config: ModelConfig): Model {
  return new Model(engine, validateModelConfig(config, 'model config'));
}
