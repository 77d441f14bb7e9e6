// A training run on disk:
//   run.json                 what was asked (model config and training options), for --resume
//   checkpoint.safetensors   parameters, AdamW moments ("optimizer.m.<name>", "optimizer.v.<name>")
//                            and the training state in its metadata: one file, replaced
//                            atomically, so a checkpoint is always whole
//   config.json, weights.safetensors   the model at the last checkpoint (a model directory)
//   log.jsonl                one JSON object per step and validation, up to the last checkpoint
//   curves.svg               loss and accuracy against patterns seen
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdamW } from '../engine/optim.ts';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../engine/safetensors.ts';
import { curvesSvg } from '../plot/curves-svg.ts';
import type { ModelConfig } from './config.ts';
import type { Model } from './model.ts';
import { makeDirectory, writeAtomically } from '../io/files.ts';
import { saveModel } from './model-dir.ts';

export const RUN_FILES = ['run.json', 'checkpoint.safetensors', 'config.json', 'weights.safetensors', 'log.jsonl', 'curves.svg'];
const RUN_SCHEMA = 'xrd-npcnn/run';

/** A run directory that cannot be used as asked (what to do is in the message). */
export class RunDirectoryError extends Error {
  override name = 'RunDirectoryError';
}

export interface RunFile<O> {
  schema: typeof RUN_SCHEMA;
  version: 1;
  model: ModelConfig;
  options: O;
}

export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  /** Patterns trained on. */
  patterns: number;
  /** Seconds of training so far (all sessions). */
  seconds: number;
}

/**
 * Checks that `dir` may receive a new run: absent, empty, or (with overwrite) holding a run whose
 * files are removed now. Anything else is refused.
 */
export function prepareNewRun(dir: string, overwrite: boolean): void {
  if (!existsSync(dir)) return;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    throw new RunDirectoryError(`cannot use ${dir} for the run: ${(e as Error).message}`);
  }
  if (entries.length === 0) return;
  const isRun = entries.includes('run.json') || entries.includes('checkpoint.safetensors');
  if (!isRun) throw new RunDirectoryError(`${dir} is not empty and holds no training run; choose another --out directory`);
  if (!overwrite) throw new RunDirectoryError(`${dir} holds another training run; pass --resume to continue it or --overwrite to replace it`);
  for (const f of RUN_FILES) rmSync(join(dir, f), { force: true });
}

export function readRunFile<O>(dir: string): RunFile<O> {
  const path = join(dir, 'run.json');
  if (!existsSync(path) || !existsSync(join(dir, 'checkpoint.safetensors'))) {
    throw new RunDirectoryError(`${dir} has no checkpoint to resume (run.json and checkpoint.safetensors); start a new run without --resume`);
  }
  try {
    const run = JSON.parse(readFileSync(path, 'utf8')) as RunFile<O>;
    if (run.schema !== RUN_SCHEMA || run.version !== 1) throw new Error(`schema ${run.schema} version ${run.version} is not ${RUN_SCHEMA} version 1`);
    return run;
  } catch (e) {
    throw new RunDirectoryError(`${path} is damaged (${(e as Error).message}); start a new run with --overwrite`);
  }
}

/** Writes the checkpoint, then the model directory files, run.json, the log and the curves. */
export async function saveRun<O>(dir: string, run: RunFile<O>, model: Model, optimizer: AdamW, state: TrainState, log: object[]): Promise<void> {
  makeDirectory(dir);
  const tensors = await model.stateTensors();
  const steps: Record<string, number> = {};
  for (const s of optimizer.momentState()) {
    const shape = [...s.m.shape];
    tensors.push([`optimizer.m.${s.name}`, { shape, data: await s.m.read() }], [`optimizer.v.${s.name}`, { shape, data: await s.v.read() }]);
    steps[s.name] = s.t;
  }
  const metadata = {
    format: 'pt',
    architecture: run.model.architecture,
    task: run.model.task,
    state: JSON.stringify(state),
    optimizer_steps: JSON.stringify({ count: optimizer.stepCount, perParameter: steps }),
  };
  await writeAtomically(join(dir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
  await writeAtomically(join(dir, 'checkpoint.safetensors'), encodeSafetensors(tensors, metadata));
  await saveModel(dir, model, { architecture: run.model.architecture, task: run.model.task, step: String(state.step) });
  await writeAtomically(join(dir, 'log.jsonl'), log.map((e) => JSON.stringify(e)).join('\n') + (log.length ? '\n' : ''));
  await writeAtomically(join(dir, 'curves.svg'), curvesOf(log));
}

/**
 * Loads checkpoint.safetensors into the model and optimizer; returns the training state and the
 * log up to the checkpoint.
 */
export async function loadRun(dir: string, model: Model, optimizer: AdamW): Promise<{ state: TrainState; log: object[] }> {
  const path = join(dir, 'checkpoint.safetensors');
  let decoded;
  try {
    decoded = decodeSafetensors(new Uint8Array(await readFile(path)));
  } catch (e) {
    if (e instanceof SafetensorsError) throw new RunDirectoryError(`${path} is damaged (${e.message}); resume from a copy or start again with --overwrite`);
    throw new RunDirectoryError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = decoded;
  if (metadata.architecture !== model.config.architecture || metadata.task !== model.config.task) {
    throw new RunDirectoryError(`${path} is a checkpoint of ${metadata.architecture} (${metadata.task}), not ${model.config.architecture} (${model.config.task}); resume with the run's own settings`);
  }
  let state: TrainState;
  let steps: { count: number; perParameter: Record<string, number> };
  try {
    state = JSON.parse(metadata.state ?? '') as TrainState;
    steps = JSON.parse(metadata.optimizer_steps ?? '') as typeof steps;
  } catch {
    throw new RunDirectoryError(`${path} has no training state in its metadata; it was not written by 'xrd train'`);
  }
  try {
    model.loadState(tensors, path, false);
  } catch (e) {
    throw new RunDirectoryError(`${(e as Error).message}`);
  }
  const moments = Object.entries(steps.perParameter).map(([name, t]) => {
    const m = tensors.get(`optimizer.m.${name}`);
    const v = tensors.get(`optimizer.v.${name}`);
    if (!m || !v) throw new RunDirectoryError(`${path} lacks the optimizer moments of ${name}; the checkpoint is incomplete`);
    return { name, t, m: m.data, v: v.data };
  });
  optimizer.restoreState(steps.count, moments);
  const log: object[] = [];
  if (existsSync(join(dir, 'log.jsonl'))) {
    for (const line of readFileSync(join(dir, 'log.jsonl'), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { step: number };
      if (e.step <= state.step) log.push(e);
    }
  }
  return { state, log };
}

interface LoggedEvent {
  type: string;
  step: number;
  patterns: number;
  loss: number;
  accuracy?: number;
  top1?: number;
  set?: string;
}

/** Mean of the last `k` values, per point (a readable training curve from noisy steps). */
function smooth(points: [number, number][], k: number): [number, number][] {
  return points.map(([x], i) => {
    const from = Math.max(0, i - k + 1);
    let s = 0;
    for (let j = from; j <= i; j++) s += points[j]![1];
    return [x, s / (i - from + 1)];
  });
}

export function curvesOf(log: object[]): string {
  const events = log as LoggedEvent[];
  const steps = events.filter((e) => e.type === 'step');
  const k = Math.max(1, Math.round(steps.length / 50));
  const vals = events.filter((e) => e.type === 'validation');
  const sets = [...new Set(vals.map((v) => v.set!))];
  // a directory's last component is enough in a legend
  const short = (set: string) => set.replace(/\/+$/, '').split('/').pop()!;
  const colors = ['#d62728', '#2ca02c', '#9467bd'];
  return curvesSvg(
    [
      {
        title: 'Loss',
        yLabel: 'cross-entropy',
        series: [
          { name: 'training (smoothed)', color: '#1f77b4', points: smooth(steps.map((e) => [e.patterns, e.loss]), k) },
          ...sets.map((s, i) => ({ name: `validation: ${short(s)}`, color: colors[i % 3]!, markers: true, points: vals.filter((v) => v.set === s).map((v) => [v.patterns, v.loss] as [number, number]) })),
        ],
      },
      {
        title: 'Top-1 accuracy',
        yLabel: 'accuracy',
        yRange: [0, 1],
        series: [
          { name: 'training (smoothed)', color: '#1f77b4', points: smooth(steps.map((e) => [e.patterns, e.accuracy ?? NaN]), k) },
          ...sets.map((s, i) => ({ name: `validation: ${short(s)}`, color: colors[i % 3]!, markers: true, points: vals.filter((v) => v.set === s).map((v) => [v.patterns, v.top1!] as [number, number]) })),
        ],
      },
    ],
    'patterns seen',
  );
}

/** Removes a run directory this process created before its first checkpoint. */
export function removeUnfinishedRun(dir: string): void {
  if (!existsSync(join(dir, 'checkpoint.safetensors'))) {
    for (const f of RUN_FILES) rmSync(join(dir, f), { force: true });
    try {
      if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  }
}
