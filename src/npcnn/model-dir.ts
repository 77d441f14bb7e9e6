// Model directories and checkpoints on disk: config.json + weights.safetensors (a directory
// PyTorch can read), for a classifier (saveModel, loadModel, ...) or for any parameter registry
// (saveCheckpoint, loadCheckpoint). A training run's own files are run-dir.ts.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../engine/errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { Parameters } from '../engine/parameters.ts';
import { checkNamedTensors, decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensorData } from '../engine/safetensors.ts';
import { makeDirectory, writeAtomically } from '../io/files.ts';
import { ModelConfigError, validateModelConfig, type ModelConfig } from './config.ts';
import { Model, ModelLoadError } from './model.ts';

export const WEIGHTS_FILE = 'weights.safetensors';
export const CONFIG_FILE = 'config.json';

export class CheckpointError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** The checkpoint directory or one of its files does not exist. */
export class CheckpointNotFoundError extends CheckpointError {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointNotFoundError';
  }
}

/** A checkpoint file is not valid safetensors / JSON. */
export class CheckpointFormatError extends CheckpointError {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFormatError';
  }
}

/** A tensor the model needs is missing, has the wrong shape, or the file has one it does not know. */
export class CheckpointTensorError extends CheckpointError {
  constructor(
    message: string,
    readonly tensorName: string,
  ) {
    super(message);
    this.name = 'CheckpointTensorError';
  }
}

export interface Checkpoint<C = unknown> {
  config: C;
  tensors: Map<string, NamedTensorData>;
  /** The safetensors __metadata__ strings. */
  metadata: Record<string, string>;
}

export interface LoadOptions {
  /** Copy the tensors into these parameters, checking names and shapes. */
  into?: Parameters;
  /** With `into`: a tensor in the file that no parameter takes is an error (default true). */
  strict?: boolean;
}

/** Writes weights.safetensors and config.json into dir (created if needed); each file is replaced atomically. */
export async function saveCheckpoint(dir: string, params: Parameters, config: unknown, metadata: Record<string, string> = {}): Promise<void> {
  const tensors: [string, NamedTensorData][] = [];
  for (const p of params) tensors.push([p.name, { shape: [...p.data.shape], data: await p.data.read() }]);
  await writeModelFiles(dir, tensors, config, metadata);
}

/** The two files of a model directory, each replaced atomically; the folder is made if needed. */
async function writeModelFiles(dir: string, tensors: [string, NamedTensorData][], config: unknown, metadata: Record<string, string>): Promise<void> {
  // "format": "pt" is what PyTorch-side safetensors loaders expect to find.
  const bytes = encodeSafetensors(tensors, { format: 'pt', ...metadata });
  makeDirectory(dir);
  await writeAtomically(join(dir, WEIGHTS_FILE), bytes);
  await writeAtomically(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

async function readOrThrow(dir: string, file: string): Promise<Buffer> {
  const path = join(dir, file);
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CheckpointNotFoundError(`checkpoint file ${path} does not exist; a checkpoint directory holds ${WEIGHTS_FILE} and ${CONFIG_FILE}`);
    }
    throw new CheckpointError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Reads a checkpoint directory. With options.into, every parameter must find a tensor of its name
 * and shape in the file (and, when strict, every tensor a parameter); the values are then written
 * into the parameters. Nothing is written unless all of them match.
 */
export async function loadCheckpoint<C = unknown>(dir: string, options: LoadOptions = {}): Promise<Checkpoint<C>> {
  const weightsPath = join(dir, WEIGHTS_FILE);
  const configPath = join(dir, CONFIG_FILE);
  const [bytes, configText] = await Promise.all([readOrThrow(dir, WEIGHTS_FILE), readOrThrow(dir, CONFIG_FILE)]);
  let decoded;
  try {
    decoded = decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointFormatError(`${weightsPath}: ${e.message}`);
    throw e;
  }
  let config: C;
  try {
    config = JSON.parse(configText.toString('utf8')) as C;
  } catch (e) {
    throw new CheckpointFormatError(`${configPath} is not valid JSON: ${(e as Error).message}`);
  }
  const params = options.into;
  if (params) {
    const want = new Map([...params].map((p) => [p.name, p.data.shape] as const));
    const error = (message: string, name: string): Error => new CheckpointTensorError(message, name);
    checkNamedTensors(want, decoded.tensors, { where: weightsPath, strict: options.strict ?? true, strictHint: 'load with strict: false to ignore it', error });
    for (const p of params) params.engine.write(p.data, decoded.tensors.get(p.name)!.data);
  }
  return { config, tensors: decoded.tensors, metadata: decoded.metadata };
}

/** Writes the model directory (config.json + weights.safetensors, each replaced atomically). */
export async function saveModel(dir: string, model: Model, metadata: Record<string, string> = {}): Promise<void> {
  await writeModelFiles(dir, await model.stateTensors(), model.config, metadata);
}

async function readModelFile(dir: string, file: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelLoadError(
      code === 'ENOENT' ? `${dir} is not a model directory (no ${file}); a model directory holds ${CONFIG_FILE} and ${WEIGHTS_FILE}` : `cannot read ${join(dir, file)}: ${(e as Error).message}`,
    );
  }
}

/** The checked config.json of a model directory. */
export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelLoadError(code === 'ENOENT' ? `${dir} is not a model directory (no ${CONFIG_FILE}); a model directory holds ${CONFIG_FILE} and ${WEIGHTS_FILE}` : `cannot read ${path}: ${(e as Error).message}`);
  }
  return parseModelConfig(text, path);
}

/** A config.json's text, checked; `where` names the file in errors. */
export function parseModelConfig(text: string, where: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`${where} is not valid JSON (${(e as Error).message}); the file is damaged`);
  }
  try {
    return validateModelConfig(raw, where);
  } catch (e) {
    if (e instanceof ModelConfigError) throw new ModelLoadError(e.message);
    throw e;
  }
}

/**
 * A model from the contents of its two files (config.json text, weights.safetensors bytes), e.g.
 * fetched by a browser; `where` names the model in errors (a directory or URL).
 */
export function modelFromBytes(engine: Engine, configText: string, weights: Uint8Array, where: string): Model {
  const model = new Model(engine, parseModelConfig(configText, `${where}/${CONFIG_FILE}`));
  try {
    setWeightsFromBytes(model, weights, `${where}/${WEIGHTS_FILE}`);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

function setWeightsFromBytes(model: Model, bytes: Uint8Array, where: string, keep?: ReadonlySet<string>): void {
  let tensors: Map<string, NamedTensorData>;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (e) {
    if (e instanceof SafetensorsError) throw new ModelLoadError(`${where}: ${e.message}`);
    throw e;
  }
  model.loadState(tensors, where, true, keep);
}

/** Reads a model directory written by saveModel (or by training). */
export async function loadModel(engine: Engine, dir: string): Promise<Model> {
  const model = new Model(engine, readModelConfig(dir));
  try {
    await loadWeights(model, dir);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Copies a model directory's weights into a model of the same layers (e.g. to fine-tune it).
 * Tensors named in `keep` stay as they are in the model (their saved values, of any shape, are
 * ignored): a new output layer for another task keeps its fresh initialisation.
 */
export async function loadWeights(model: Model, dir: string, keep?: ReadonlySet<string>): Promise<void> {
  const bytes = await readModelFile(dir, WEIGHTS_FILE);
  setWeightsFromBytes(model, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), join(dir, WEIGHTS_FILE), keep);
}
