// Model configuration: the versioned schema of config.json in a model directory, the classes of
// each task, and the architectures (the paper's NPCNN, its SCNN and MLP baselines, and our compact
// preset) as explicit layer lists. A layer list maps one-to-one onto a PyTorch nn.Sequential, so
// parameter names ("0.weight", ...) match its state_dict.
import { windowOutputLength } from '../engine/ops/common.ts';
import { CRYSTAL_SYSTEMS } from '../sim/crystal.ts';
import { DEFAULT_GRID } from '../sim/render.ts';
import { InputAxisError, networkInputLength, type InputSpec } from './input-axis.ts';

export type { InputSpec } from './input-axis.ts';

export const MODEL_SCHEMA = 'xrd-npcnn/model';
export const MODEL_SCHEMA_VERSION = 1;

export const ARCHITECTURES = ['npcnn', 'npcnn-bn', 'compact', 'compact-logq', 'scnn', 'mlp'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];
export const TASKS = ['crystal-system', 'space-group'] as const;
export type Task = (typeof TASKS)[number];

/** A config.json that cannot describe a model (named field, what to do). */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

export type LayerSpec =
  | { type: 'conv1d'; in: number; out: number; kernel: number; stride: number }
  | { type: 'dense'; in: number; out: number }
  | { type: 'relu' }
  | { type: 'dropout'; p: number }
  | { type: 'flatten' }
  | { type: 'avgpool1d'; kernel: number; stride: number }
  /** BatchNorm1d over channels (PyTorch defaults: momentum 0.1, eps 1e-5 when absent). */
  | { type: 'batchnorm1d'; features: number; momentum?: number; eps?: number };

export interface ModelConfig {
  schema: typeof MODEL_SCHEMA;
  version: number;
  architecture: Architecture;
  task: Task;
  /** Class names in output order: crystal systems, or space-group numbers '1'..'230'. */
  classes: string[];
  input: InputSpec;
  layers: LayerSpec[];
  /** Seed of the initialisation and of the dropout masks. */
  seed: number;
  /** Calibrated softmax temperature (xrd calibrate); absent means 1. */
  temperature?: number;
}

/** The class index of a label under a task (-1 when the pattern lacks that kind of label). */
export function classIndex(task: Task, label: { spaceGroup: number | null; crystalSystem: string | null }): number {
  if (task === 'space-group') return label.spaceGroup === null ? -1 : label.spaceGroup - 1;
  return label.crystalSystem === null ? -1 : CRYSTAL_SYSTEMS.indexOf(label.crystalSystem as (typeof CRYSTAL_SYSTEMS)[number]);
}

export function taskClasses(task: Task): string[] {
  return task === 'crystal-system' ? [...CRYSTAL_SYSTEMS] : Array.from({ length: 230 }, (_, i) => String(i + 1));
}

/** The per-pattern output shape of a layer for an input of `shape` ([channels, length] or [features]). */
export function layerOutputShape(l: LayerSpec, shape: readonly number[]): number[] {
  switch (l.type) {
    case 'conv1d':
      return [l.out, windowOutputLength(shape[1]!, l.kernel, l.stride)];
    case 'avgpool1d':
      return [shape[0]!, windowOutputLength(shape[1]!, l.kernel, l.stride)];
    case 'flatten':
      return [shape.reduce((a, b) => a * b, 1)];
    case 'dense':
      return [l.out];
    default:
      return [...shape];
  }
}

interface ConvBlock {
  out: number;
  kernel: number;
  stride: number;
  /** AvgPool1d after the ReLU (SCNN). */
  pool?: { kernel: number; stride: number };
}

/**
 * Conv blocks (conv, [BatchNorm], ReLU, [pool], [dropout]), flatten, dense blocks (dense, ReLU,
 * [dropout]), output.
 */
function convNet(points: number, convs: ConvBlock[], convDropout: number, hidden: number[], hiddenDropout: number[], classes: number, norm = false): LayerSpec[] {
  const layers: LayerSpec[] = [];
  let channels = 1;
  let length = points;
  for (const c of convs) {
    layers.push({ type: 'conv1d', in: channels, out: c.out, kernel: c.kernel, stride: c.stride });
    if (norm) layers.push({ type: 'batchnorm1d', features: c.out });
    layers.push({ type: 'relu' });
    length = windowOutputLength(length, c.kernel, c.stride);
    if (c.pool) {
      layers.push({ type: 'avgpool1d', ...c.pool });
      length = windowOutputLength(length, c.pool.kernel, c.pool.stride);
    }
    if (convDropout > 0) layers.push({ type: 'dropout', p: convDropout });
    channels = c.out;
  }
  if (length < 1) throw new ModelConfigError(`the input of ${points} points is too short for these convolutions; use the default grid of ${DEFAULT_GRID.points} points`);
  layers.push({ type: 'flatten' });
  return [...layers, ...mlpLayers(channels * length, hidden, hiddenDropout, classes)];
}

function mlpLayers(inputs: number, hidden: number[], dropout: number[], classes: number): LayerSpec[] {
  const layers: LayerSpec[] = [];
  let n = inputs;
  hidden.forEach((h, i) => {
    layers.push({ type: 'dense', in: n, out: h }, { type: 'relu' });
    if ((dropout[i] ?? 0) > 0) layers.push({ type: 'dropout', p: dropout[i]! });
    n = h;
  });
  layers.push({ type: 'dense', in: n, out: classes });
  return layers;
}

/** Our compact presets: conv blocks with BatchNorm, no dropout, one 256-unit hidden layer. */
function compactNet(points: number, convs: ConvBlock[], classes: number): LayerSpec[] {
  return convNet(points, convs, 0, [256], [0], classes, true);
}

const PAPER_CONVS: ConvBlock[] = [
  { out: 80, kernel: 100, stride: 5 },
  { out: 80, kernel: 50, stride: 5 },
  { out: 80, kernel: 25, stride: 2 },
];

/**
 * The layer list of an architecture. npcnn, scnn and mlp are the paper's (Salgado et al. 2023,
 * authors' code); npcnn-bn adds BatchNorm after each convolution; compact keeps the NPCNN's
 * kernel and stride pattern with fewer channels, BatchNorm and one small hidden layer (its
 * speed and accuracy against npcnn are in bench:train and the README).
 */
export function architectureLayers(arch: Architecture, classes: number, points: number = DEFAULT_GRID.points): LayerSpec[] {
  switch (arch) {
    case 'npcnn':
      return convNet(points, PAPER_CONVS, 0.3, [2300, 1150], [0.5, 0.5], classes);
    case 'npcnn-bn':
      return convNet(points, PAPER_CONVS, 0.3, [2300, 1150], [0.5, 0.5], classes, true);
    case 'scnn':
      return convNet(
        points,
        [
          { ...PAPER_CONVS[0]!, pool: { kernel: 3, stride: 2 } },
          { ...PAPER_CONVS[1]!, pool: { kernel: 3, stride: 3 } },
          { ...PAPER_CONVS[2]!, pool: { kernel: 3, stride: 3 } },
        ],
        0.3,
        [2300, 1150],
        [0.5, 0.5],
        classes,
      );
    case 'mlp':
      return [{ type: 'flatten' }, ...mlpLayers(points, [4000, 3000, 1000, 800], [0.6, 0.5, 0.4, 0.3], classes)];
    case 'compact-logq':
      // On the log-q axis (1392 bins by default): five small stride-2 convolutions reach a
      // receptive field of about 0.9 in ln Q, enough to relate the first peaks of a lattice.
      return compactNet(points, [16, 32, 64, 64, 64].map((out) => ({ out, kernel: 15, stride: 2 })), classes);
    case 'compact':
      return compactNet(
        points,
        [
          { out: 16, kernel: 100, stride: 5 },
          { out: 32, kernel: 50, stride: 5 },
          { out: 32, kernel: 25, stride: 2 },
        ],
        classes,
      );
  }
}

/** Bin width in ln Q of compact-logq: one or two grid points per bin at 5 deg, 1392 bins on the default grid. */
export const LOG_Q_STEP = 0.002;

export interface ModelConfigOptions {
  architecture: Architecture;
  task: Task;
  /** Default: the paper's raw intensity for npcnn/scnn/mlp, log intensity for the others. */
  transform?: InputSpec['transform'];
  seed?: number;
  /** Input grid (default: 8500 points, 5-89.99 deg, Cu K-alpha). */
  grid?: Partial<Pick<InputSpec, 'twoThetaMin' | 'step' | 'points' | 'wavelength'>>;
}

export function modelConfig(o: ModelConfigOptions): ModelConfig {
  if (!ARCHITECTURES.includes(o.architecture)) {
    throw new ModelConfigError(`unknown architecture '${o.architecture}'; choose one of ${ARCHITECTURES.join(', ')}`);
  }
  if (!TASKS.includes(o.task)) throw new ModelConfigError(`unknown task '${o.task}'; choose one of ${TASKS.join(', ')}`);
  const grid = { ...DEFAULT_GRID, ...o.grid };
  const classes = taskClasses(o.task);
  const transform = o.transform ?? (o.architecture === 'npcnn' || o.architecture === 'scnn' || o.architecture === 'mlp' ? 'none' : 'log');
  const input: InputSpec = {
    twoThetaMin: grid.twoThetaMin,
    step: grid.step,
    points: grid.points,
    wavelength: grid.wavelength,
    transform,
    ...(transform === 'log' ? { logEpsilon: 0.01 } : {}),
    ...(o.architecture === 'compact-logq' ? { axis: 'log-q' as const, logQStep: LOG_Q_STEP } : {}),
  };
  let length: number;
  try {
    length = networkInputLength(input);
  } catch (e) {
    if (e instanceof InputAxisError) throw new ModelConfigError(`${e.message} (architecture ${o.architecture})`);
    throw e;
  }
  return {
    schema: MODEL_SCHEMA,
    version: MODEL_SCHEMA_VERSION,
    architecture: o.architecture,
    task: o.task,
    classes,
    input,
    layers: architectureLayers(o.architecture, classes.length, length),
    seed: o.seed ?? 0,
  };
}

const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;

/** Checks a parsed config.json; the message names the file and the field. */
export function validateModelConfig(raw: unknown, where: string): ModelConfig {
  const bad = (what: string): never => {
    throw new ModelConfigError(`${where}: ${what}`);
  };
  if (!raw || typeof raw !== 'object') bad('is not a JSON object');
  const c = raw as Partial<ModelConfig>;
  if (c.schema !== MODEL_SCHEMA) bad(`"schema" must be "${MODEL_SCHEMA}" (is this an xrd-npcnn model directory?)`);
  if (c.version !== MODEL_SCHEMA_VERSION) bad(`schema version ${c.version} is not supported (this xrd reads version ${MODEL_SCHEMA_VERSION}); update xrd`);
  if (!ARCHITECTURES.includes(c.architecture as Architecture)) bad(`unknown architecture '${c.architecture}'`);
  if (!TASKS.includes(c.task as Task)) bad(`unknown task '${c.task}'`);
  if (!Array.isArray(c.classes) || c.classes.length < 2 || c.classes.some((x) => typeof x !== 'string')) bad('"classes" must list at least two class names');
  const i = c.input as InputSpec | undefined;
  if (!i || !posInt(i.points) || !(i.step > 0) || !Number.isFinite(i.twoThetaMin) || !(i.wavelength > 0)) bad('"input" needs twoThetaMin, step > 0, points >= 1 and wavelength > 0');
  if (i!.transform !== 'none' && i!.transform !== 'log') bad(`input.transform must be 'none' or 'log', got '${i!.transform}'`);
  if (i!.transform === 'log' && !(i!.logEpsilon! > 0)) bad('input.logEpsilon must be > 0 with the log transform');
  if (i!.axis !== undefined && i!.axis !== 'two-theta' && i!.axis !== 'log-q') bad(`input.axis must be 'two-theta' or 'log-q', got '${i!.axis}'`);
  let inputLength = i!.points;
  try {
    inputLength = networkInputLength(i!);
  } catch (e) {
    if (e instanceof InputAxisError) bad(e.message);
    throw e;
  }
  if (!Number.isInteger(c.seed) || c.seed! < 0) bad('"seed" must be an integer >= 0');
  if (c.temperature !== undefined && !(c.temperature > 0 && Number.isFinite(c.temperature))) bad('"temperature" must be a positive number');
  if (!Array.isArray(c.layers) || c.layers.length === 0) bad('"layers" must be a non-empty list');
  // Walk the shapes: each layer must accept what the previous one produced.
  let shape: number[] = [1, inputLength];
  c.layers!.forEach((l, k) => {
    const at = `layer ${k} (${(l as { type?: string }).type})`;
    switch (l.type) {
      case 'conv1d':
      case 'avgpool1d': {
        if (shape.length !== 2) bad(`${at} needs [channels, length] input, got [${shape}]`);
        if (!posInt(l.kernel) || !posInt(l.stride)) bad(`${at}: kernel and stride must be integers >= 1`);
        if (l.type === 'conv1d' && (l.in !== shape[0] || !posInt(l.out))) bad(`${at}: in must be ${shape[0]} and out >= 1`);
        const next = layerOutputShape(l, shape);
        if (next[1]! < 1) bad(`${at}: its window is longer than its input of ${shape[1]}`);
        shape = next;
        break;
      }
      case 'flatten':
        shape = layerOutputShape(l, shape);
        break;
      case 'dense':
        if (shape.length !== 1 || l.in !== shape[0] || !posInt(l.out)) bad(`${at}: in must be ${shape.join('x')} (flatten first) and out >= 1`);
        shape = layerOutputShape(l, shape);
        break;
      case 'dropout':
        if (!(l.p >= 0 && l.p < 1)) bad(`${at}: p must be in [0, 1)`);
        break;
      case 'batchnorm1d':
        if (l.features !== shape[0] || (l.momentum !== undefined && !(l.momentum >= 0 && l.momentum <= 1)) || (l.eps !== undefined && !(l.eps > 0))) {
          bad(`${at}: features must be ${shape[0]}, momentum in [0, 1] and eps > 0`);
        }
        break;
      case 'relu':
        break;
      default:
        bad(`${at}: unknown layer type`);
    }
  });
  if (shape.length !== 1 || shape[0] !== c.classes!.length) bad(`the last layer gives ${shape.join('x')} outputs but there are ${c.classes!.length} classes`);
  return c as ModelConfig;
}
