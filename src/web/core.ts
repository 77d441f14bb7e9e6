// The library in a browser: an engine on the page's WebGPU with the WGSL kernels built in, models
// and moyo's tables from fetched bytes, and the two things the page does with them (classify a
// pattern file's text, simulate a CIF's text), with the same code and numbers as `xrd predict`,
// `xrd explain` and `xrd simulate`. No Node API: scripts/build-web.ts bundles this file into
// dist-web/xrd-core.js and fails if one reaches the bundle.
import { kernelSources } from 'xrd:kernels';
import { createEngine, type Engine } from '../engine/engine.ts';
import { KernelError, NoAdapterError } from '../engine/errors.ts';
import { parsePatternText, toModelGrid, type GridCoverage } from '../io/pattern-text.ts';
import { explain, supportShading } from '../npcnn/explain.ts';
import { ModelLoadError, type Model } from '../npcnn/model.ts';
import { modelFromBytes } from '../npcnn/model-dir.ts';
import { predictRows, rankClasses, type RankedClass } from '../npcnn/predict.ts';
import { CifError, MAX_CIF_BYTES, parseCif, structureOutputName } from '../sim/cif.ts';
import { crystalSystemOf, type Crystal } from '../sim/crystal.ts';
import { PRESETS, type PresetName } from '../sim/effects.ts';
import { peakListToRender, type Peak } from '../sim/reflections.ts';
import { DEFAULT_GRID, gridTwoTheta, type Grid } from '../sim/render.ts';
import { initSpaceGroups, resolveSpaceGroup, spaceGroupInfo, type SpaceGroupSource } from '../sim/spacegroup.ts';
import { renderCrystalPatterns } from '../sim/stream.ts';

export { patternSvg, type PlotPeak } from '../plot/pattern-svg.ts';
export type { Engine, Model, Peak, PresetName, RankedClass, GridCoverage };

/** The effect presets of `xrd simulate --preset`. */
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** The browser offers no WebGPU at all (navigator.gpu is missing). */
export class WebGpuUnavailableError extends Error {
  override name = 'WebGpuUnavailableError';
}

/** The WGSL source of a built-in kernel. */
export function kernelSource(name: string): string {
  const source = kernelSources[name];
  if (source === undefined) throw new KernelError(`kernel "${name}" is not built into this page; rebuild it with npm run build:web`);
  return source;
}

/**
 * An engine on the browser's WebGPU (`gpu` is navigator.gpu). The first adapter request of a
 * freshly started browser sometimes fails on software drivers, so it is tried twice.
 */
export async function openEngine(gpu: GPU | undefined): Promise<Engine> {
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'This browser offers no WebGPU (navigator.gpu is missing), and the page runs the models and the simulator on the GPU through it. ' +
        'Use a recent Chrome, Edge or Safari (or Chromium with --enable-unsafe-webgpu on Linux), opened on http://127.0.0.1 or https.',
    );
  }
  try {
    return await createEngine({ gpu, kernelSource });
  } catch (e) {
    if (!(e instanceof NoAdapterError)) throw e;
  }
  try {
    return await createEngine({ gpu, kernelSource });
  } catch (e) {
    if (!(e instanceof NoAdapterError)) throw e;
    throw new NoAdapterError(
      'The browser has WebGPU but gave no GPU adapter (it may have blocked the GPU, or run without a GPU driver). ' +
        'Check chrome://gpu; on Linux try --enable-unsafe-webgpu, or --use-angle=vulkan --use-webgpu-adapter=opengles --force-webgpu-compat.',
    );
  }
}

async function fetchOk(url: string, what: string, fetchFn: typeof fetch): Promise<Response> {
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (e) {
    throw new ModelLoadError(`cannot fetch ${what} ${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!response.ok) throw new ModelLoadError(`cannot fetch ${what} ${url}: HTTP ${response.status} ${response.statusText}`.trim());
  return response;
}

/** Loads moyo's WebAssembly (space-group tables and symmetry detection) from `url`. */
export async function loadSpaceGroupTables(url: string, fetchFn: typeof fetch = fetch): Promise<void> {
  const bytes = await (await fetchOk(url, 'the space-group tables', fetchFn)).arrayBuffer();
  try {
    initSpaceGroups(bytes);
  } catch (e) {
    throw new ModelLoadError(`${url} is not moyo's WebAssembly module: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A model directory served at `url` (config.json and weights.safetensors inside). */
export async function loadModelFrom(engine: Engine, url: string, fetchFn: typeof fetch = fetch): Promise<Model> {
  const base = url.replace(/\/+$/, '');
  const [config, weights] = await Promise.all([
    fetchOk(`${base}/config.json`, 'the model configuration', fetchFn).then((r) => r.text()),
    fetchOk(`${base}/weights.safetensors`, 'the model weights', fetchFn).then((r) => r.arrayBuffer()),
  ]);
  return modelFromBytes(engine, config, new Uint8Array(weights), base);
}

export interface ClassifyOptions {
  /** Classes listed per model (default 5). */
  top?: number;
  /** Wavelength (angstrom) when the file's header gives none (default: the model's). */
  wavelength?: number;
  /** Attribution of the crystal-system prediction (integrated gradients; default true). */
  explain?: boolean;
}

export interface PatternResult {
  file: string;
  /** The pattern on the models' grid, maximum 1. */
  twoTheta: Float64Array;
  values: Float32Array;
  coverage: GridCoverage;
  wavelength: number | null;
  crystalSystem: { top: RankedClass[] } | null;
  spaceGroup: { top: RankedClass[] } | null;
  /** Positive attribution per grid point on 0-1 for the top crystal system (as `xrd explain` shades it). */
  shading: Float32Array | null;
  /** Peaks that carried the crystal-system prediction, by share of the support. */
  supportPeaks: { twoTheta: number; share: number }[];
  /** The file's own label from its header, when it has one. */
  truth: { spaceGroup: number | null; crystalSystem: string | null };
}

/**
 * Classifies one pattern file's text with the given models (a crystal-system and/or a
 * space-group model on one grid), as `xrd predict` does; throws PatternFileError for a file that
 * cannot be read.
 */
export async function classifyPatternText(models: Model[], text: string, file: string, o: ClassifyOptions = {}): Promise<PatternResult> {
  if (models.length === 0) throw new ModelLoadError('no model is loaded');
  const grid = models[0]!.config.input;
  const pattern = parsePatternText(text, file);
  const { values, coverage } = toModelGrid(pattern, grid, o.wavelength);
  const result: PatternResult = {
    file,
    twoTheta: gridTwoTheta(grid),
    values,
    coverage,
    wavelength: pattern.wavelength,
    crystalSystem: null,
    spaceGroup: null,
    shading: null,
    supportPeaks: [],
    truth: { spaceGroup: pattern.spaceGroup, crystalSystem: pattern.crystalSystem },
  };
  for (const model of models) {
    const probs = await predictRows(model.engine, model, values, 1);
    const top = rankClasses(model, probs, o.top ?? 5);
    if (model.config.task === 'space-group') result.spaceGroup = { top };
    else {
      result.crystalSystem = { top };
      if (o.explain !== false) {
        const e = await explain(model, values);
        result.shading = supportShading(e.attribution);
        result.supportPeaks = e.peaks.slice(0, 8).map((p) => ({ twoTheta: p.twoTheta, share: p.share }));
      }
    }
  }
  return result;
}

export interface SimulateCifOptions {
  preset?: PresetName;
  /** Seed of the random effects (default 0, as `xrd simulate`). */
  seed?: number;
}

export interface SimulatedStructure {
  /** The file name, or <file>-<block> for a CIF with several structures. */
  name: string;
  /** Space group stated by the file or detected (P1 files); null when neither worked. */
  spaceGroup: number | null;
  spaceGroupSource: SpaceGroupSource;
  /** e.g. 'F m -3 m', or null. */
  symbol: string | null;
  crystalSystem: string | null;
  twoTheta: Float64Array;
  /** Intensities on the grid, maximum 1. */
  intensity: Float32Array;
  peaks: Peak[];
  preset: PresetName;
  seed: number;
}

/**
 * Simulates every structure of a CIF's text on the default grid (5-89.99 deg, Cu K-alpha), as
 * `xrd simulate` does: same preset, seed and numbers. Throws CifError or DiffractionInputError.
 */
export async function simulateCifText(engine: Engine, text: string, file: string, o: SimulateCifOptions = {}): Promise<SimulatedStructure[]> {
  const preset = o.preset ?? 'paper';
  const seed = o.seed ?? 0;
  if (text.length > MAX_CIF_BYTES) throw new CifError(file, null, `is ${(text.length / 2 ** 20).toFixed(0)} MiB; CIFs of crystal structures are kilobytes`);
  const crystals = parseCif(text, file);
  const stem = file.replace(/\.[^./]*$/, '');
  const grid: Grid = { ...DEFAULT_GRID };
  const inputs = crystals.map((crystal) => {
    const { spaceGroup, source: spaceGroupSource } = resolveSpaceGroup(crystal);
    const name = structureOutputName(stem, crystal.name, crystals.length);
    const full: Crystal = { ...crystal, spaceGroup };
    const peaks = peakListToRender(full, { wavelength: grid.wavelength, twoThetaMin: grid.twoThetaMin, twoThetaMax: 90 }, name);
    return { name, crystal: full, spaceGroup, spaceGroupSource, peaks };
  });
  const angles = gridTwoTheta(grid);
  const patterns = await renderCrystalPatterns(engine, inputs.map((i) => i.crystal), { grid, effects: preset, seed });
  return inputs.map((input, i) => {
    const sg = input.spaceGroup;
    return {
      name: input.name,
      spaceGroup: sg,
      spaceGroupSource: input.spaceGroupSource,
      symbol: sg === null ? null : spaceGroupInfo(sg).hmShort,
      crystalSystem: sg === null ? null : crystalSystemOf(sg),
      twoTheta: angles,
      intensity: patterns[i]!.intensity,
      peaks: input.peaks,
      preset,
      seed,
    };
  });
}
