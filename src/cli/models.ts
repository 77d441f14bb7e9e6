// Model arguments shared by predict and eval: `--model DIR[,DIR]`, defaulting to the shipped
// models, and pattern file arguments (files or directories).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine/engine.ts';
import { PATTERN_EXTENSIONS, patternFilesIn } from '../io/patterns.ts';
import type { Model } from '../npcnn/model.ts';
import { loadModel } from '../npcnn/model-dir.ts';
import { InputError, UsageError } from './args.ts';

/** The models shipped in the repository, in the order predict reports them. */
export const SHIPPED_MODELS = ['crystal-system', 'space-group'].map((n) => join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', n));

/** Loads --model (comma-separated directories) or, without it, the shipped models that exist. */
export async function loadModels(engine: Engine, flag: string | undefined): Promise<Model[]> {
  const dirs = flag ? flag.split(',').filter((d) => d) : SHIPPED_MODELS.filter((d) => existsSync(join(d, 'config.json')));
  if (dirs.length === 0) throw new UsageError('no model given and none is shipped in models/; pass --model DIR (a directory with config.json and weights.safetensors, e.g. a run of xrd train)');
  const models: Model[] = [];
  try {
    for (const d of dirs) models.push(await loadModel(engine, d));
  } catch (e) {
    for (const m of models) m.dispose();
    throw e;
  }
  return models;
}

/** Pattern files from arguments: files as given, directories expanded (sorted, not recursive). */
export function patternFiles(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    let st;
    try {
      st = statSync(a);
    } catch {
      throw new InputError(`${a} does not exist`);
    }
    if (st.isDirectory()) {
      const found = patternFilesIn(a);
      if (found.length === 0) throw new InputError(`${a} holds no pattern files (${PATTERN_EXTENSIONS.join(', ')})`);
      out.push(...found);
    } else out.push(a);
  }
  return out;
}

/**
 * patternFiles of the arguments that exist, and the ones that do not: a command lists those as
 * failed files and goes on with the others.
 */
export function existingPatternFiles(args: string[]): { files: string[]; missing: string[] } {
  return { files: patternFiles(args.filter((a) => existsSync(a))), missing: args.filter((a) => !existsSync(a)) };
}

/** --model: model directories, comma-separated; default the shipped models. */
export const MODEL_FLAG = { name: 'model', alias: 'm', type: 'string', value: 'DIR[,DIR]', description: 'model directories (default: the shipped models in models/)' } as const;
/** --wavelength for files whose header gives none. */
export const WAVELENGTH_FLAG = { name: 'wavelength', type: 'number', value: 'A', description: "X-ray wavelength of files whose header gives none (default: the model's, Cu K-alpha 1.5418)" } as const;

/** A probability as a percentage with one decimal. */
export function pct(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}
