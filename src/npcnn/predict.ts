// Classifying measured pattern files: read, put on the model's grid, run the model in batches,
// report top-k classes with probabilities per file. A file that cannot be read gets its reason and
// the others go on.
import type { Engine } from '../engine/engine.ts';
import { patternSources, toModelGrid, type GridCoverage, type MeasuredPattern } from '../io/patterns.ts';
import { spaceGroupInfo } from '../sim/spacegroup.ts';
import { probabilities } from './infer.ts';
import { finiteProbabilities, patternQuality, type PatternQuality } from './quality.ts';
import type { Model } from './model.ts';

export interface RankedClass {
  /** Class name: a crystal system, or a space-group number as text. */
  label: string;
  probability: number;
  /** Space groups: the Hermann-Mauguin symbol. */
  symbol?: string;
}

export interface FilePrediction {
  file: string;
  /** Top classes, most probable first. */
  top: RankedClass[];
  coverage: GridCoverage;
  /** Whether the pattern can carry a prediction at all (peaks, coverage, noise). */
  quality: PatternQuality;
  /** The file's own label from its header, when it has one. */
  truth: { spaceGroup: number | null; crystalSystem: string | null };
}

export interface FileFailure {
  file: string;
  error: string;
}

/** The model gave non-finite or out-of-range probabilities: its weights are broken. */
export class NonFiniteOutputError extends Error {
  override name = 'NonFiniteOutputError';
}

export function rankClasses(model: Model, probs: ArrayLike<number>, k: number): RankedClass[] {
  const order = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  return order.slice(0, k).map((i) => {
    const label = model.classes[i]!;
    const r: RankedClass = { label, probability: probs[i]! };
    if (model.config.task === 'space-group') r.symbol = spaceGroupInfo(Number(label)).hmShort.replace(/_/g, '');
    return r;
  });
}

export interface PredictOptions {
  /** Classes reported per file (default 5). */
  top?: number;
  /** Wavelength (angstrom) of files whose header gives none (default: the model's). */
  wavelength?: number;
  /** Files per GPU batch (default 64). */
  batch?: number;
  /** Called after every batch with the number of files done. */
  onProgress?: (done: number) => void;
}

/**
 * Reads and classifies files (an .npy array gives one prediction per row, named file[row]);
 * failures are returned, not thrown.
 */
export async function predictFiles(model: Model, files: string[], o: PredictOptions = {}): Promise<{ predictions: FilePrediction[]; failures: FileFailure[] }> {
  const grid = model.config.input;
  const batch = o.batch ?? 64;
  const predictions: FilePrediction[] = [];
  const failures: FileFailure[] = [];
  const sources = patternSources(files, grid);
  for (let start = 0; start < sources.length; start += batch) {
    const chunk = sources.slice(start, start + batch);
    const ok: { pattern: MeasuredPattern; values: Float32Array; coverage: GridCoverage }[] = [];
    for (const src of chunk) {
      try {
        const pattern = src.read();
        ok.push({ pattern, ...toModelGrid(pattern, grid, o.wavelength) });
      } catch (e) {
        failures.push({ file: src.name, error: (e as Error).message });
      }
    }
    if (ok.length) {
      const rows = new Float32Array(ok.length * grid.points);
      ok.forEach((r, i) => rows.set(r.values, i * grid.points));
      const probs = await predictRows(model.engine, model, rows, ok.length);
      const c = model.classes.length;
      if (!finiteProbabilities(probs)) {
        throw new NonFiniteOutputError(`the ${model.config.task} model gives non-finite probabilities (NaN or infinity): its weights are damaged; restore or retrain it`);
      }
      ok.forEach((r, i) =>
        predictions.push({
          file: r.pattern.file,
          top: rankClasses(model, probs.subarray(i * c, (i + 1) * c), o.top ?? 5),
          coverage: r.coverage,
          quality: patternQuality(r.values, r.coverage, grid),
          truth: { spaceGroup: r.pattern.spaceGroup, crystalSystem: r.pattern.crystalSystem },
        }),
      );
    }
    o.onProgress?.(Math.min(sources.length, start + batch));
  }
  return { predictions, failures };
}

/** Class probabilities [n, classes] of n patterns already on the model's grid (rows of points). */
export async function predictRows(engine: Engine, model: Model, rows: Float32Array, n: number): Promise<Float32Array> {
  const t = engine.tensor(rows, [n, model.config.input.points]);
  try {
    return await probabilities(model, t);
  } finally {
    t.dispose();
  }
}
