// Training: AdamW on batches streamed from the simulator (or a synth dataset), warm-up and decay,
// global gradient-norm clipping, micro-batches that accumulate into the full batch when it does
// not fit one storage binding, validation, atomic checkpoints and bit-for-bit resume.
//
// One step: the batch's CPU side (crystals, effects) was prepared during the previous step's GPU
// work; each micro-batch is rendered, transformed, run forward and backward with its loss
// gradient scaled by its share of the batch, so the accumulated gradients are those of the full
// batch's mean loss. Then the next batch is prepared on the CPU while the GPU finishes, the loss
// and the gradient norm are read, and AdamW steps with the clipping factor folded into its update.
import * as ag from '../engine/autograd.ts';
import type { Engine } from '../engine/engine.ts';
import { checkFreeSpace } from '../io/files.ts';
import { addInto } from '../engine/ops/elementwise.ts';
import { argmax, sumSquares } from '../engine/ops/reduce.ts';
import { AdamW } from '../engine/optim.ts';
import type { Tensor } from '../engine/tensor.ts';
import { gridRows, readLabelledDirectory } from '../io/patterns.ts';
import { ARCHITECTURES, classIndex, modelConfig, TASKS, type Architecture, type LayerSpec, type ModelConfig, type Task } from './config.ts';
import { filesOfFold, MeasuredSource, trainingSource, type DataOptions, type PreparedBatch, type TrainingSource } from './data.ts';
import { chunks, maxMicroBatch, score } from './infer.ts';
import { createModel, type Model } from './model.ts';
import { loadWeights, readModelConfig } from './model-dir.ts';
import { loadRun, prepareNewRun, readRunFile, removeUnfinishedRun, saveRun, type RunFile, type TrainState } from './run-dir.ts';
import { learningRate, SCHEDULES, type Schedule } from './schedule.ts';

/** Options a user gets wrong (named, with what to do): exit code 2 in the CLI. */
export class TrainOptionsError extends Error {
  override name = 'TrainOptionsError';
}

/** Training stopped because the loss or gradient became NaN or infinite. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

/** The options that define a run (saved in run.json; a resumed run reuses them). */
export interface RunOptions {
  steps: number;
  batch: number;
  /** Patterns per GPU pass; default: the largest that fits the device. */
  microBatch?: number;
  lr: number;
  weightDecay: number;
  warmup: number;
  schedule: Schedule;
  /** Global gradient-norm limit; 0 turns clipping off. */
  clip: number;
  seed: number;
  data: DataOptions;
  validateEvery: number;
  /** Held-out simulated patterns for validation. */
  valSize: number;
  /** A labelled pattern directory validated on as well. */
  valDir?: string;
  /** Validate on valDir's files of this fold only (the fold the training leaves out). */
  valFold?: { folds: string; fold: number };
  /**
   * Start from this model directory's weights (fine-tuning) instead of a fresh initialisation; a
   * model of another task gives every layer but the output layer.
   */
  init?: string;
  /** Parameters not updated: 'conv' freezes the convolution kernels and biases. */
  freeze?: 'conv';
  checkpointEvery: number;
}

export interface TrainOptions extends Partial<RunOptions> {
  engine: Engine;
  /** The run directory. */
  out: string;
  architecture?: Architecture;
  task?: Task;
  /** A complete model config instead of architecture/task (e.g. another grid). */
  model?: ModelConfig;
  resume?: boolean;
  overwrite?: boolean;
  /** Aborting saves a checkpoint after the current step and stops. */
  signal?: AbortSignal;
}

export type TrainEvent =
  /** newOutput: the run started from --init's weights but for another task, with a new output layer. */
  | { type: 'start'; step: number; steps: number; parameters: number; microBatch: number; source: string; resumed: boolean; newOutput: boolean; model: ModelConfig }
  | { type: 'step'; step: number; patterns: number; loss: number; accuracy: number; lr: number; gradNorm: number; seconds: number; patternsPerSecond: number }
  | { type: 'validation'; step: number; patterns: number; set: string; n: number; loss: number; top1: number }
  | { type: 'checkpoint'; step: number; dir: string }
  | { type: 'stopped'; step: number; dir: string }
  | { type: 'done'; step: number; dir: string; seconds: number };

/** Defaults per architecture: the paper's AdamW 1e-4 for its models, a faster rate for compact and compact-logq. */
export function defaultRunOptions(arch: Architecture): RunOptions {
  const paper = arch !== 'compact' && arch !== 'compact-logq';
  return {
    steps: 1000,
    batch: paper ? 256 : 64,
    lr: paper ? 1e-4 : 1e-3,
    weightDecay: paper ? 0 : 0.01,
    warmup: paper ? 0 : 100,
    schedule: paper ? 'constant' : 'cosine',
    clip: paper ? 0 : 5,
    seed: 0,
    data: { effects: 'realistic', prior: 'uniform', poolSize: 1024, refreshPerBatch: 32 },
    validateEvery: 100,
    valSize: 256,
    checkpointEvery: 100,
  };
}

function checkRunOptions(o: RunOptions): void {
  const posInt = (name: string, v: number | undefined, min = 1) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new TrainOptionsError(`${name} must be an integer >= ${min}, got ${v}`);
  };
  posInt('steps', o.steps);
  posInt('batch', o.batch);
  posInt('microBatch', o.microBatch);
  posInt('warmup', o.warmup, 0);
  posInt('validateEvery', o.validateEvery, 0);
  posInt('valSize', o.valSize, 0);
  posInt('checkpointEvery', o.checkpointEvery);
  posInt('seed', o.seed, 0);
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new TrainOptionsError(`lr must be a positive number, got ${o.lr}`);
  if (!(o.weightDecay >= 0)) throw new TrainOptionsError(`weightDecay must be >= 0, got ${o.weightDecay}`);
  if (!(o.clip >= 0)) throw new TrainOptionsError(`clip must be >= 0 (0 turns clipping off), got ${o.clip}`);
  if (!SCHEDULES.includes(o.schedule)) throw new TrainOptionsError(`unknown schedule '${o.schedule}'; choose one of ${SCHEDULES.join(', ')}`);
}

function labelsOf(p: PreparedBatch, task: Task): Int32Array {
  return task === 'crystal-system' ? p.crystalSystem : p.spaceGroup;
}

interface ValidationSet {
  name: string;
  patterns: Tensor<'f32'>;
  labels: Int32Array;
}

/**
 * Held-out patterns: simulated with the same settings from crystals of another seed, or the
 * rows a dataset keeps apart.
 */
/**
 * The data of the held-out simulated set: a dataset's last rows, or else fresh synthetic crystals
 * (their own seed; space groups uniform among the run's) with the run's effects. CIF libraries and
 * measured patterns are trained on, so they never enter it.
 */
export function heldOutData(data: DataOptions): DataOptions {
  if (data.dataset) return data;
  return { effects: data.effects, spaceGroups: data.spaceGroups, refreshPerBatch: 0 };
}

function simulatedValidation(engine: Engine, run: RunFile<RunOptions>, grid: ModelConfig['input']): ValidationSet | null {
  const { options, model } = run;
  if (options.valSize === 0) return null;
  const source = trainingSource(engine, heldOutData(options.data), `${options.seed}/validation`, grid, options.valSize, 'holdout');
  try {
    const prepared = source.prepare(0, options.valSize);
    const name = options.data.dataset ? 'dataset (held-out rows)' : 'synthetic (held out, uniform groups)';
    return { name, patterns: source.render(prepared, 0, options.valSize), labels: labelsOf(prepared, model.task) };
  } finally {
    source.close();
  }
}

function directoryValidation(engine: Engine, dir: string, config: ModelConfig, fold?: { folds: string; fold: number }): ValidationSet {
  const files = fold ? filesOfFold(dir, fold.folds, fold.fold, true) : readLabelledDirectory(dir);
  const labels = Int32Array.from(files, (f) => {
    const k = classIndex(config.task, f);
    if (k < 0) throw new TrainOptionsError(`${f.file} has no space_group header, which the space-group task needs`);
    return k;
  });
  const name = fold ? `${dir} (fold ${fold.fold} of ${fold.folds})` : dir;
  return { name, patterns: engine.tensor(gridRows(files, config.input), [files.length, config.input.points]), labels };
}

/** What one batch's forward and backward passes left to read back. */
export interface PendingBatch {
  /** Sum of per-pattern losses, correct top-1 predictions and the global gradient norm. */
  read(): Promise<{ lossSum: number; correct: number; gradNorm: number }>;
}

/**
 * Forward and backward passes over a prepared batch in the given micro-batches ([from, to) row
 * ranges), adding into the parameters' gradients (except the frozen ones') those of the whole batch's mean loss (exactly,
 * dropout included; BatchNorm normalises each pass with its own statistics, as gradient
 * accumulation in PyTorch does). The GPU work is submitted before this returns; read() waits.
 */
export function accumulateGradients(
  model: Model,
  source: TrainingSource,
  batch: PreparedBatch,
  labels: Int32Array,
  parts: [number, number][],
  dropoutStep: number,
  frozen: ReadonlySet<string> = new Set(),
): PendingBatch {
  const { engine } = model;
  const n = labels.length;
  const losses: ag.Loss[] = [];
  const preds: Tensor<'i32'>[] = [];
  parts.forEach(([from, to]) => {
    const patterns = source.render(batch, from, to);
    const input = model.prepareInput(patterns);
    patterns.dispose();
    const logits = model.forward(ag.variable(input), { training: true, dropoutStep, rowOffset: from });
    preds.push(argmax(engine, logits.data));
    const loss = ag.softmaxCrossEntropy(logits, labels.subarray(from, to), { gradScale: (to - from) / n }).keep();
    loss.backward();
    losses.push(loss);
    input.dispose();
  });
  const norm = engine.zeros([]);
  for (const p of model.params) {
    if (p.grad && frozen.has(p.name)) {
      // frozen: no update (AdamW skips parameters without a gradient), no share of the norm
      p.grad.dispose();
      p.grad = null;
    }
    if (!p.grad) continue;
    const sq = sumSquares(engine, p.grad);
    addInto(engine, norm, sq);
    sq.dispose();
  }
  engine.flush();
  return {
    async read() {
      let lossSum = 0;
      let correct = 0;
      for (let c = 0; c < parts.length; c++) {
        const [from, to] = parts[c]!;
        lossSum += (await losses[c]!.readLoss()) * (to - from);
        losses[c]!.dispose();
        const p = await preds[c]!.read();
        preds[c]!.dispose();
        p.forEach((v, i) => (correct += v === labels[from + i] ? 1 : 0));
      }
      const gradNorm = Math.sqrt((await norm.read())[0]!);
      norm.dispose();
      return { lossSum, correct, gradNorm };
    },
  };
}

/** Index of a layer list's output layer (the last dense). */
function outputLayer(layers: LayerSpec[]): number {
  return layers.map((l) => l.type).lastIndexOf('dense');
}

/**
 * The config of a model for another task that starts from `from`'s weights: the same layers and
 * input but a new output layer for the task's classes. Refused when anything else would differ.
 */
function transferConfig(from: ModelConfig, task: Task, dir: string): ModelConfig {
  const fresh = modelConfig({ architecture: from.architecture, task, seed: from.seed });
  const out = outputLayer(fresh.layers);
  const same = JSON.stringify(from.input) === JSON.stringify(fresh.input) && from.layers.length === fresh.layers.length &&
    from.layers.every((l, i) => i === out || JSON.stringify(l) === JSON.stringify(fresh.layers[i]));
  if (!same) throw new TrainOptionsError(`${dir} differs from a fresh ${from.architecture} model for ${task} in more than its output layer (layers or input grid), so it cannot start one`);
  return fresh;
}

/**
 * Names of the tensors that --init does not copy: the output layer's when the init model was
 * trained for another task (its classes differ), none otherwise.
 */
function freshTensors(config: ModelConfig, init: string): Set<string> {
  if (readModelConfig(init).task === config.task) return new Set();
  const i = outputLayer(config.layers);
  return new Set([`${i}.weight`, `${i}.bias`]);
}

/** Resolves the run: a new one from the options, or the saved one with --resume. */
function resolveRun(o: TrainOptions): RunFile<RunOptions> {
  if (o.resume) {
    const run = readRunFile<RunOptions>(o.out);
    if (o.architecture && o.architecture !== run.model.architecture) {
      throw new TrainOptionsError(`${o.out} is a run of ${run.model.architecture}, not ${o.architecture}; resume without --arch or start a new run`);
    }
    if (o.task && o.task !== run.model.task) throw new TrainOptionsError(`${o.out} is a run of the ${run.model.task} task, not ${o.task}`);
    // A resumed run may be extended (more steps); everything else stays as saved.
    if (o.steps !== undefined) {
      if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new TrainOptionsError(`steps must be an integer >= 1, got ${o.steps}`);
      run.options.steps = o.steps;
    }
    return run;
  }
  let model = o.model;
  if (!model && o.init) {
    // a calibrated temperature belongs to the weights it was fitted on, not to the new ones
    const { temperature: _, ...config } = readModelConfig(o.init);
    if (o.architecture && o.architecture !== config.architecture) throw new TrainOptionsError(`${o.init} is a ${config.architecture} model, not ${o.architecture}; leave out --arch to start from it`);
    model = o.task && o.task !== config.task ? transferConfig(config, o.task, o.init) : config;
  }
  if (!model) {
    const arch = o.architecture ?? 'compact';
    const task = o.task ?? 'crystal-system';
    if (!ARCHITECTURES.includes(arch)) throw new TrainOptionsError(`unknown architecture '${arch}'; choose one of ${ARCHITECTURES.join(', ')}`);
    if (!TASKS.includes(task)) throw new TrainOptionsError(`unknown task '${task}'; choose one of ${TASKS.join(', ')}`);
    model = modelConfig({ architecture: arch, task, seed: o.seed ?? 0 });
  }
  const defaults = defaultRunOptions(model.architecture);
  const options: RunOptions = { ...defaults };
  for (const [k, v] of Object.entries(o)) if (v !== undefined && k in defaults) (options as unknown as Record<string, unknown>)[k] = v;
  for (const k of ['valDir', 'valFold', 'init', 'freeze'] as const) if (o[k] !== undefined) (options as unknown as Record<string, unknown>)[k] = o[k];
  if (o.microBatch !== undefined) options.microBatch = o.microBatch;
  options.data = { ...defaults.data, ...o.data };
  checkRunOptions(options);
  return { schema: 'xrd-npcnn/run', version: 1, model, options };
}

/**
 * Trains a model; yields progress events. The run directory receives checkpoints every
 * checkpointEvery steps, at the end, and when the signal aborts.
 */
export async function* train(o: TrainOptions): AsyncGenerator<TrainEvent> {
  const { engine } = o;
  const run = resolveRun(o);
  const { options } = run;
  if (!o.resume) prepareNewRun(o.out, o.overwrite ?? false);
  const config = run.model;
  const grid = config.input;
  const source: TrainingSource = trainingSource(engine, options.data, String(options.seed), grid, options.valSize, 'train');
  let model: Model | null = null;
  let optimizer: AdamW | null = null;
  const validation: ValidationSet[] = [];
  let saved = false;
  try {
    const g = source.grid;
    if (g.points !== grid.points || Math.abs(g.step - grid.step) > 1e-9 || Math.abs(g.twoThetaMin - grid.twoThetaMin) > 1e-9 || Math.abs(g.wavelength - grid.wavelength) > 1e-6) {
      throw new TrainOptionsError(
        `the data's grid (${g.points} points from ${g.twoThetaMin} deg, step ${g.step}, ${g.wavelength} A) does not match the model's (${grid.points} points from ${grid.twoThetaMin} deg, step ${grid.step}, ${grid.wavelength} A)`,
      );
    }
    model = createModel(engine, config);
    let fresh = new Set<string>();
    if (options.init && !o.resume) {
      fresh = freshTensors(config, options.init);
      await loadWeights(model, options.init, fresh);
    }
    if (source instanceof MeasuredSource && config.task === 'space-group' && !source.hasSpaceGroups) {
      throw new TrainOptionsError(`some measured patterns have no space_group header, which the space-group task needs`);
    }
    // A checkpoint holds weights and two AdamW moments; the model directory the weights again; each
    // is written beside the old file before a rename, so twice that must fit.
    try {
      checkFreeSpace(o.out, model.parameterCount() * 4 * 4 * 2, `the checkpoints of ${model.parameterCount()} parameters`);
    } catch (e) {
      throw new TrainOptionsError(`${(e as Error).message}; free space or choose another --out`);
    }
    optimizer = new AdamW(model.params, { lr: options.lr, weightDecay: options.weightDecay });
    let state: TrainState = { step: 0, patterns: 0, seconds: 0 };
    let log: object[] = [];
    if (o.resume) {
      ({ state, log } = await loadRun(o.out, model, optimizer));
      saved = true;
    }
    const most = maxMicroBatch(model);
    const micro = Math.min(options.microBatch ?? most, options.batch);
    if (micro > most) throw new TrainOptionsError(`microBatch ${micro} does not fit this device (at most ${most} patterns per pass for ${config.architecture})`);
    const parts = chunks(options.batch, micro);
    const frozen = new Set(options.freeze === 'conv' ? config.layers.flatMap((l, i) => (l.type === 'conv1d' ? [`${i}.weight`, `${i}.bias`] : [])) : []);
    const sim = simulatedValidation(engine, run, grid);
    if (sim) validation.push(sim);
    if (options.valDir) validation.push(directoryValidation(engine, options.valDir, config, options.valFold));

    yield { type: 'start', step: state.step, steps: options.steps, parameters: model.parameterCount(), microBatch: micro, source: source.describe(), resumed: !!o.resume, newOutput: fresh.size > 0, model: config };

    const validate = async (): Promise<TrainEvent[]> => {
      const events: TrainEvent[] = [];
      for (const v of validation) {
        const r = await score(model!, v.patterns, v.labels);
        let ok = 0;
        r.predictions.forEach((p, i) => (ok += p === v.labels[i] ? 1 : 0));
        const e = { type: 'validation' as const, step: state.step, patterns: state.patterns, set: v.name, n: v.labels.length, loss: r.loss, top1: ok / v.labels.length };
        log.push(e);
        events.push(e);
      }
      return events;
    };
    const checkpoint = async (): Promise<TrainEvent> => {
      await saveRun(o.out, run, model!, optimizer!, state, log);
      saved = true;
      return { type: 'checkpoint', step: state.step, dir: o.out };
    };

    let next = state.step < options.steps ? source.prepare(state.step, options.batch) : null;
    const sessionStart = performance.now();
    const secondsBefore = state.seconds;
    while (state.step < options.steps) {
      const t0 = performance.now();
      const batch = next!;
      const labels = labelsOf(batch, config.task);
      const pending = accumulateGradients(model, source, batch, labels, parts, state.step, frozen);
      // CPU work for the next batch while the GPU runs this one.
      next = state.step + 1 < options.steps ? source.prepare(state.step + 1, options.batch) : null;
      const { lossSum, correct, gradNorm } = await pending.read();
      const loss = lossSum / options.batch;
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        optimizer.zeroGrad();
        throw new TrainingDivergedError(
          `the loss became ${Number.isFinite(loss) ? `finite but the gradient norm ${gradNorm}` : loss} at step ${state.step + 1}; ` +
            `lower the learning rate (--lr, now ${options.lr})${options.clip ? '' : ' or clip gradients (--clip 5)'}` +
            (saved ? `; the last checkpoint in ${o.out} is intact (--resume continues from it)` : ''),
        );
      }
      const lr = learningRate(state.step, options);
      optimizer.step({ lr, gradScale: options.clip > 0 && gradNorm > options.clip ? options.clip / gradNorm : 1 });
      optimizer.zeroGrad();
      state.step++;
      state.patterns += options.batch;
      state.seconds = secondsBefore + (performance.now() - sessionStart) / 1000;
      const seconds = (performance.now() - t0) / 1000;
      const stepEvent = { type: 'step' as const, step: state.step, patterns: state.patterns, loss, accuracy: correct / options.batch, lr, gradNorm, seconds, patternsPerSecond: options.batch / seconds };
      log.push(stepEvent);
      yield stepEvent;
      const last = state.step === options.steps;
      if (last || (options.validateEvery > 0 && state.step % options.validateEvery === 0)) yield* await validate();
      const aborted = o.signal?.aborted ?? false;
      if (state.step % options.checkpointEvery === 0 || last || aborted) yield await checkpoint();
      if (aborted && !last) {
        yield { type: 'stopped', step: state.step, dir: o.out };
        return;
      }
    }
    if (!saved) yield await checkpoint();
    yield { type: 'done', step: state.step, dir: o.out, seconds: state.seconds };
  } finally {
    for (const v of validation) v.patterns.dispose();
    optimizer?.dispose();
    model?.dispose();
    source.close();
    if (!o.resume && !saved) removeUnfinishedRun(o.out);
  }
}
