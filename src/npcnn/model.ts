// A classifier built from a ModelConfig: a sequential stack of layers that own their parameters
// (named as in a PyTorch nn.Sequential state_dict: "<index>.weight", "<index>.bias"), PyTorch's
// default initialisation, the input transform, and model directories on disk (config.json +
// weights.safetensors).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ag from '../engine/autograd.ts';
import { CONFIG_FILE, loadCheckpoint, saveCheckpoint, CheckpointError } from '../engine/checkpoint.ts';
import type { Engine } from '../engine/engine.ts';
import { logScale } from '../engine/ops/elementwise.ts';
import { Parameters, seededRandom } from '../engine/parameters.ts';
import type { Tensor } from '../engine/tensor.ts';
import { ModelConfigError, validateModelConfig, windowOutput, type LayerSpec, type ModelConfig } from './config.ts';

/** A model directory that cannot be read (missing, corrupt, or from another model). */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** What a forward pass needs besides its input. */
export interface ForwardContext {
  /** Dropout active (training) or the identity (evaluation). */
  training: boolean;
  /** Distinct per optimizer step and micro-batch, so every dropout mask is new. */
  dropoutStep?: number;
}

type Layer = (x: ag.Variable, ctx: ForwardContext) => ag.Variable;

function buildLayer(spec: LayerSpec, index: number, params: Parameters, random: () => number, seed: number): Layer {
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
      return (x, ctx) => ag.dropout(x, { p: spec.p, seed: layerSeed, step: (ctx.dropoutStep ?? 0) >>> 0, training: ctx.training });
    }
  }
}

export class Model {
  readonly params: Parameters;
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
    this.layers = config.layers.map((spec, i) => buildLayer(spec, i, this.params, random, config.seed));
  }

  get classes(): string[] {
    return this.config.classes;
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.params.count();
  }

  /**
   * The network input for patterns [N, points] already on the model's grid with maximum 1: the
   * config's transform applied (a tensor or view the caller disposes).
   */
  prepareInput(patterns: Tensor): Tensor<'f32'> {
    const { input } = this.config;
    const [n, points] = patterns.shape as [number, number];
    if (patterns.shape.length !== 2 || points !== input.points) {
      throw new ModelConfigError(`the model takes patterns of ${input.points} points (${input.twoThetaMin}-${input.twoThetaMin + (input.points - 1) * input.step} deg); got shape [${patterns.shape.join(', ')}]`);
    }
    if (input.transform === 'none') return patterns.reshape([n, 1, points]) as Tensor<'f32'>;
    const eps = input.logEpsilon!;
    const out = logScale(this.engine, patterns, 1 / eps, 1 / Math.log1p(1 / eps));
    const view = out.reshape([n, 1, points]);
    out.dispose();
    return view;
  }

  /** Logits [N, classes] of prepared inputs [N, 1, points]. */
  forward(x: ag.Variable, ctx: ForwardContext = { training: false }): ag.Variable {
    let h = x;
    for (const layer of this.layers) h = layer(h, ctx);
    return h;
  }

  /** Bytes of the largest activation per pattern (for choosing micro-batches under the binding limit). */
  largestActivationBytes(): number {
    let shape = [1, this.config.input.points];
    let most = shape[0]! * shape[1]!;
    for (const l of this.config.layers) {
      if (l.type === 'conv1d') shape = [l.out, windowOutput(shape[1]!, l.kernel, l.stride)];
      else if (l.type === 'avgpool1d') shape = [shape[0]!, windowOutput(shape[1]!, l.kernel, l.stride)];
      else if (l.type === 'flatten') shape = [shape.reduce((a, b) => a * b, 1)];
      else if (l.type === 'dense') shape = [l.out];
      most = Math.max(most, shape.reduce((a, b) => a * b, 1));
    }
    return most * 4;
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** A new model with freshly initialised parameters (PyTorch's defaults, from config.seed). */
export function createModel(engine: Engine, config: ModelConfig): Model {
  return new Model(engine, validateModelConfig(config, 'model config'));
}

/** Writes the model directory (config.json + weights.safetensors, each replaced atomically). */
export async function saveModel(dir: string, model: Model, metadata: Record<string, string> = {}): Promise<void> {
  await saveCheckpoint(dir, model.params, model.config, metadata);
}

/** Reads a model directory written by saveModel (or by training). */
export async function loadModel(engine: Engine, dir: string): Promise<Model> {
  let text: string;
  try {
    text = await readFile(join(dir, CONFIG_FILE), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelLoadError(
      code === 'ENOENT' ? `${dir} is not a model directory (no ${CONFIG_FILE}); a model directory holds ${CONFIG_FILE} and weights.safetensors` : `cannot read ${join(dir, CONFIG_FILE)}: ${(e as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`${join(dir, CONFIG_FILE)} is not valid JSON (${(e as Error).message}); the file is damaged`);
  }
  let model: Model;
  try {
    model = new Model(engine, validateModelConfig(raw, join(dir, CONFIG_FILE)));
  } catch (e) {
    if (e instanceof ModelConfigError) throw new ModelLoadError(e.message);
    throw e;
  }
  try {
    await loadCheckpoint(dir, { into: model.params });
  } catch (e) {
    model.dispose();
    if (e instanceof CheckpointError) throw new ModelLoadError(e.message);
    throw e;
  }
  return model;
}
