// Checkpoints on disk: a directory with weights.safetensors (the parameters, by name) and
// config.json (whatever the model needs to rebuild itself). With files.ts, the only engine
// modules that touch the file system.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from './errors.ts';
import { makeDirectory, writeAtomically } from '../io/files.ts';
import type { Parameters } from './parameters.ts';
import { SafetensorsError, decodeSafetensors, encodeSafetensors, type NamedTensorData } from './safetensors.ts';

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

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
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
    for (const p of params) {
      const t = decoded.tensors.get(p.name);
      if (!t) {
        throw new CheckpointTensorError(`${weightsPath} has no tensor "${p.name}" (the model needs it with shape ${shapeText(p.data.shape)}); was it saved from another model?`, p.name);
      }
      if (t.shape.length !== p.data.shape.length || t.shape.some((d, i) => d !== p.data.shape[i])) {
        throw new CheckpointTensorError(
          `${weightsPath}: tensor "${p.name}" has shape ${shapeText(t.shape)} but the model expects ${shapeText(p.data.shape)}; check that config.json matches the model`,
          p.name,
        );
      }
    }
    if (options.strict ?? true) {
      for (const name of decoded.tensors.keys()) {
        if (!params.has(name)) {
          throw new CheckpointTensorError(`${weightsPath} has a tensor "${name}" that the model does not have; load with strict: false to ignore it`, name);
        }
      }
    }
    for (const p of params) params.engine.write(p.data, decoded.tensors.get(p.name)!.data);
  }
  return { config, tensors: decoded.tensors, metadata: decoded.metadata };
}
