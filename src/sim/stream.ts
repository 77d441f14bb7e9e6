// Streaming simulation for training: crystals -> structure factors (once per crystal) -> effects
// drawn per pattern -> GPU rendering, yielded as batches of GPU tensors. Never touches disk
// (except reading the CIFs of a directory source, once, at the start).
//
// Public API (stable):
//   simulate(options) -> AsyncGenerator<SimulatedBatch>
//     options: { engine, source: 'synthetic' | cifDirectory | Crystal[], batchSize,
//       effects?: EffectsConfig | 'paper' | 'clean' | 'realistic' (default 'realistic'),
//       seed? (default 0), patternsPerStructure? (default 1), spaceGroups? (synthetic only:
//       a list of numbers drawn uniformly, or { groups, weights }; default all 230 uniformly),
//       grid?, batches?, epochs?, shuffle?, synth?, render? }
//     batch: { patterns: Tensor f32 [B, P] (max 1 each), spaceGroup: Tensor i32 [B] (number - 1),
//       crystalSystem: Tensor i32 [B] (index in CRYSTAL_SYSTEMS), meta: PatternMeta[] }.
//     The caller disposes the three tensors of every batch.
//   renderCrystalPatterns(engine, crystals, { grid, effects, seed }) -> { intensity, effects }[]
//     (one pass of simulate() over given crystals, read back in order; disposes the tensors).
//   loadCifDirectory(dir) -> { file, crystal }[] (every *.cif, sorted by name; space group detected
//     for files that state none). Throws SimulateSourceError naming the file.
//
// Sequence: structure s of the stream (s = 0, 1, ...) uses rng = Rng(seed).fork(s): fork(0) picks
// its space group (synthetic), fork(1) generates the crystal (synthetic), fork(2 + j) draws the
// effects of its pattern j. Patterns of one structure are consecutive, and the pattern sequence
// does not depend on batchSize (a batch is the next B patterns), so the same seed gives the same
// patterns, bitwise, for any batch size.
// Length: a synthetic source is endless unless `batches` is given; a finite source (CIF directory,
// Crystal[]) makes `epochs` passes (default 1, Infinity allowed), in file order or shuffled per
// epoch (`shuffle`), and its last batch may be smaller than batchSize.
// Batches larger than one storage binding (batch 4096 of 8500 points is 139 MB > 128 MiB on
// lavapipe) are refused with SimulateOptionsError; for such batches build the specs with
// effects.ts and render them with renderPatternsChunked (render.ts), which returns several tensors.
// A synthetic crystal the generator cannot make (SynthesisError) ends the stream with that error.
// Impurity phases come from the source: another crystal of a finite source, or one of the last
// IMPURITY_POOL synthetic crystals (the first synthetic structure has none to draw from, so its
// patterns get fewer impurities than drawn). meta.effects.impurities lists those applied.

import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { cifFilesIn, readCifStructures } from './cif-directory.ts';
import { CRYSTAL_SYSTEMS, type Crystal, type CrystalSystem } from './crystal.ts';
import { applyEffects, drawEffects, preparePhase, resolveEffects, type EffectsConfig, type PatternEffects, type Phase, type PresetName } from './effects.ts';
import { Rng, type Seed } from './random.ts';
import { gridOf, maxPatternsPerTensor, renderPatterns, type Grid, type PatternSpec, type RenderOptions } from './render.ts';
import { generateCrystal, type SynthOptions } from './synth.ts';

/** Bad simulate() options. */
export class SimulateOptionsError extends Error {
  override name = 'SimulateOptionsError';
}

/** A source that cannot be used: empty directory, unreadable or malformed CIF (named). */
export class SimulateSourceError extends Error {
  override name = 'SimulateSourceError';
}

export interface SimulateOptions {
  engine: Engine;
  source: 'synthetic' | string | Crystal[];
  batchSize: number;
  effects?: EffectsConfig | PresetName;
  seed?: Seed;
  patternsPerStructure?: number;
  /** Synthetic source: space groups to draw, uniformly from a list or by weights. */
  spaceGroups?: number[] | { groups: number[]; weights: number[] };
  grid?: Partial<Grid>;
  /** Stop after this many batches. */
  batches?: number;
  /** Passes over a finite source (default 1). */
  epochs?: number;
  /** Shuffle a finite source's order every epoch (default false: file/array order). */
  shuffle?: boolean;
  /** Options of the synthetic crystal generator. */
  synth?: SynthOptions;
  render?: RenderOptions;
}

export interface PatternMeta {
  name: string;
  /** File of a CIF source, else null. */
  file: string | null;
  /** 1..230 */
  spaceGroup: number;
  crystalSystem: CrystalSystem;
  /** Structure number in the stream and pattern number within the structure. */
  structure: number;
  pattern: number;
  /** Names of the impurity phases applied. */
  impurities: string[];
  effects: PatternEffects;
}

export interface SimulatedBatch {
  patterns: Tensor<'f32'>;
  spaceGroup: Tensor<'i32'>;
  crystalSystem: Tensor<'i32'>;
  meta: PatternMeta[];
}

/** Synthetic impurities are drawn from this many most recent crystals. */
export const IMPURITY_POOL = 16;

/** Every structure of every *.cif file of a directory (sorted by name; each block its own structure), read once. */
export function loadCifDirectory(dir: string): { file: string; crystal: Crystal }[] {
  let files: string[];
  try {
    files = cifFilesIn(dir);
  } catch (e) {
    throw new SimulateSourceError(`cannot read the CIF directory '${dir}': ${(e as Error).message}`);
  }
  if (files.length === 0) throw new SimulateSourceError(`the directory '${dir}' has no .cif files; point source at a folder of CIFs`);
  return files.flatMap((file) => {
    try {
      return readCifStructures(file).map((crystal) => ({ file, crystal }));
    } catch (e) {
      throw new SimulateSourceError(`${file}: ${(e as Error).message}`);
    }
  });
}

interface Entry {
  phase: Phase;
  file: string | null;
}

function checkOptions(o: SimulateOptions, grid: Grid): void {
  if (!o.engine) throw new SimulateOptionsError('simulate: options.engine is required (createEngine())');
  const B = o.batchSize;
  const maxB = maxPatternsPerTensor(o.engine, grid);
  if (!Number.isInteger(B) || B < 1 || B > maxB) {
    throw new SimulateOptionsError(`simulate: batchSize must be an integer 1..${maxB} (one tensor of ${grid.points}-point patterns on this device), got ${B}`);
  }
  const pps = o.patternsPerStructure ?? 1;
  if (!Number.isInteger(pps) || pps < 1) throw new SimulateOptionsError(`simulate: patternsPerStructure must be an integer >= 1, got ${pps}`);
  if (o.batches !== undefined && !(Number.isInteger(o.batches) && o.batches >= 0)) {
    throw new SimulateOptionsError(`simulate: batches must be an integer >= 0, got ${o.batches}`);
  }
  const ep = o.epochs ?? 1;
  if (!(ep === Infinity || (Number.isInteger(ep) && ep >= 1))) throw new SimulateOptionsError(`simulate: epochs must be an integer >= 1 or Infinity, got ${ep}`);
  if (o.spaceGroups !== undefined) {
    if (o.source !== 'synthetic') throw new SimulateOptionsError("simulate: spaceGroups applies to the 'synthetic' source only");
    const groups = Array.isArray(o.spaceGroups) ? o.spaceGroups : o.spaceGroups.groups;
    if (groups.length === 0 || groups.some((g) => !Number.isInteger(g) || g < 1 || g > 230)) {
      throw new SimulateOptionsError(`simulate: spaceGroups must be a non-empty list of integers 1..230`);
    }
    if (!Array.isArray(o.spaceGroups)) {
      const w = o.spaceGroups.weights;
      if (w.length !== groups.length || w.some((x) => !(x >= 0)) || !w.some((x) => x > 0)) {
        throw new SimulateOptionsError('simulate: spaceGroups.weights needs one non-negative weight per group, not all zero');
      }
    }
  }
}

/** Finite source -> prepared phases (structure factors once per crystal). */
function finiteEntries(o: SimulateOptions, config: EffectsConfig, grid: Grid): Entry[] {
  const items: { file: string | null; crystal: Crystal }[] =
    typeof o.source === 'string' ? loadCifDirectory(o.source) : (o.source as Crystal[]).map((crystal) => ({ file: null, crystal }));
  if (items.length === 0) throw new SimulateSourceError('simulate: the Crystal[] source is empty');
  return items.map(({ file, crystal }, i) => {
    try {
      return { phase: preparePhase(crystal, { grid, config }), file };
    } catch (e) {
      throw new SimulateSourceError(`${file ?? `crystal ${i} ('${crystal.name}')`}: ${(e as Error).message}`);
    }
  });
}

/** One batch of patterns as GPU tensors. */
function emit(engine: Engine, specs: PatternSpec[], meta: PatternMeta[], grid: Grid, render: RenderOptions | undefined): SimulatedBatch {
  const patterns = renderPatterns(engine, specs, grid, render);
  const sg = Int32Array.from(meta, (m) => m.spaceGroup - 1);
  const cs = Int32Array.from(meta, (m) => CRYSTAL_SYSTEMS.indexOf(m.crystalSystem));
  return {
    patterns,
    spaceGroup: engine.tensor(sg, [sg.length], 'i32'),
    crystalSystem: engine.tensor(cs, [cs.length], 'i32'),
    meta,
  };
}

/**
 * Streams batches of simulated patterns with their labels (see the file header). Options are
 * checked, and a CIF directory read, when iteration starts.
 */
export async function* simulate(options: SimulateOptions): AsyncGenerator<SimulatedBatch> {
  const grid = gridOf(options.grid);
  checkOptions(options, grid);
  const config = resolveEffects(options.effects ?? 'realistic');
  const { engine, batchSize } = options;
  const pps = options.patternsPerStructure ?? 1;
  const maxBatches = options.batches ?? Infinity;
  const root = new Rng(options.seed ?? 0);
  const synthetic = options.source === 'synthetic';
  const entries = synthetic ? [] : finiteEntries(options, config, grid);
  const epochs = synthetic ? Infinity : (options.epochs ?? 1);
  const groups = Array.isArray(options.spaceGroups) ? options.spaceGroups : (options.spaceGroups?.groups ?? null);
  const weights = options.spaceGroups && !Array.isArray(options.spaceGroups) ? options.spaceGroups.weights : null;
  const recent: Entry[] = [];

  let specs: PatternSpec[] = [];
  let meta: PatternMeta[] = [];
  let emitted = 0;
  let s = 0;
  for (let epoch = 0; epoch < epochs && emitted < maxBatches; epoch++) {
    const order = entries.map((_, i) => i);
    if (options.shuffle) root.fork(0xffffffff - (epoch % 0x7fffffff)).shuffle(order);
    const perEpoch = synthetic ? Infinity : entries.length;
    for (let t = 0; t < perEpoch && emitted < maxBatches; t++, s++) {
      const rng = root.fork(s % 0x100000000);
      let entry: Entry;
      let self: number;
      if (synthetic) {
        const r0 = rng.fork(0);
        const sg = groups ? (weights ? groups[r0.weightedIndex(weights)] : r0.pick(groups)) : r0.int(1, 230);
        const crystal = generateCrystal(sg, rng.fork(1), options.synth);
        entry = { phase: preparePhase(crystal, { grid, config }), file: null };
        recent.push(entry);
        if (recent.length > IMPURITY_POOL) recent.shift();
        self = recent.length - 1;
      } else {
        self = order[t];
        entry = entries[self];
      }
      const pool = synthetic ? recent : entries;
      for (let j = 0; j < pps; j++) {
        const effects = drawEffects(config, rng.fork(2 + j));
        const impurities: Phase[] = [];
        if (pool.length > 1) {
          for (const imp of effects.impurities) {
            let k = Math.floor(imp.pick * (pool.length - 1));
            if (k >= self) k++;
            impurities.push(pool[k].phase);
          }
        }
        effects.impurities = effects.impurities.slice(0, impurities.length);
        specs.push(applyEffects([entry.phase, ...impurities], effects, grid));
        meta.push({
          name: entry.phase.name,
          file: entry.file,
          spaceGroup: entry.phase.spaceGroup,
          crystalSystem: entry.phase.crystalSystem,
          structure: s,
          pattern: j,
          impurities: impurities.map((p) => p.name),
          effects,
        });
        if (specs.length === batchSize) {
          yield emit(engine, specs, meta, grid, options.render);
          emitted++;
          specs = [];
          meta = [];
          if (emitted >= maxBatches) return;
        }
      }
    }
  }
  if (specs.length > 0 && emitted < maxBatches) yield emit(engine, specs, meta, grid, options.render);
}

/** One pattern of renderCrystalPatterns: intensities on the grid (maximum 1) and the effects drawn for it. */
export interface CrystalPattern {
  intensity: Float32Array;
  effects: PatternEffects;
}

/**
 * The patterns of the given crystals, in their order: one pass of simulate() over them, read back
 * from the GPU. `onBatch` hears how many patterns each batch added (for progress).
 */
export async function renderCrystalPatterns(
  engine: Engine,
  crystals: Crystal[],
  o: { grid: Grid; effects: PresetName | EffectsConfig; seed: Seed },
  onBatch?: (rows: number) => void,
): Promise<CrystalPattern[]> {
  const out: CrystalPattern[] = [];
  const P = o.grid.points;
  for await (const batch of simulate({ engine, source: crystals, batchSize: Math.min(crystals.length, 256), effects: o.effects, seed: o.seed, grid: o.grid })) {
    const data = await batch.patterns.read();
    const rows = batch.patterns.shape[0]!;
    for (let r = 0; r < rows; r++) out.push({ intensity: data.slice(r * P, (r + 1) * P), effects: batch.meta[r]!.effects });
    batch.patterns.dispose();
    batch.spaceGroup.dispose();
    batch.crystalSystem.dispose();
    onBatch?.(rows);
  }
  return out;
}
