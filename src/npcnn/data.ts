// Training data: simulated patterns streamed batch by batch, or rows of a dataset written by
// `xrd synth`.
//
// Making a synthetic crystal (generation, symmetry check, structure factors) costs ~10x more than
// rendering a pattern from prepared structure factors, so the simulated source keeps a pool of
// prepared structures and draws every pattern from it with fresh effects (profile, noise,
// background, strain, impurities, ...). After each batch `refreshPerBatch` structures are
// replaced by new ones. CIF directories join the stream as a second, fixed pool, drawn with
// their share `cifShare`.
//
// Everything is a pure function of (seed, batch index): structure id s is made from
// Rng(seed/crystals).fork(s); pool slot i before batch b holds the newest id = i (mod poolSize)
// below poolSize + b * refreshPerBatch; pattern k of batch b draws from Rng(seed/samples).fork(b)
// .fork(k). A resumed run rebuilds the pool of its batch and continues bit-for-bit.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { gridRows, readLabelledDirectory, type MeasuredPattern } from '../io/patterns.ts';
import { classIndex } from './config.ts';
import { CRYSTAL_SYSTEMS, crystalSystemOf, type Crystal } from '../sim/crystal.ts';
import { applyEffects, drawEffects, preparePhase, resolveEffects, type EffectsConfig, type Phase, type PresetName } from '../sim/effects.ts';
import { parseNpyHeader } from '../sim/npy.ts';
import { Rng } from '../sim/random.ts';
import { gridOf, renderPatterns, type Grid, type PatternSpec } from '../sim/render.ts';
import { cifFilesIn } from '../sim/cif-directory.ts';
import { readCifStructures } from '../sim/cif.ts';
import { detectSpaceGroup } from '../sim/spacegroup.ts';
import { substituteElements } from '../sim/substitute.ts';
import { generateCrystal, SynthesisError } from '../sim/synth.ts';
import { entryCrystal, entryName, readLibrary, type LibraryEntry } from '../library/library.ts';
import { libraryStatistics, templateOptions, type LibraryStatistics } from '../library/statistics.ts';

/** Bad data options or an unusable data source (named, with what to do). */
export class TrainingDataError extends Error {
  override name = 'TrainingDataError';
}

/** How entries of a structure library are drawn: every mineral or every entry equally often. */
export type LibraryWeighting = 'mineral' | 'entry';
export const LIBRARY_WEIGHTINGS: readonly LibraryWeighting[] = ['mineral', 'entry'];

/** How synthetic crystals are made (see DataOptions.generator). */
export type SyntheticGenerator = 'random' | 'library';
export const GENERATORS: readonly SyntheticGenerator[] = ['random', 'library'];

/** How space groups of synthetic crystals are drawn. */
export type SpaceGroupPrior = 'uniform' | 'system-balanced';
export const PRIORS: readonly SpaceGroupPrior[] = ['uniform', 'system-balanced'];

export interface DataOptions {
  /** Effects preset or config applied to every simulated pattern (default 'realistic'). */
  effects?: EffectsConfig | PresetName;
  /**
   * Synthetic space-group prior: 'uniform' (default: each of the 230 groups equally likely),
   * 'system-balanced', or observed counts per group (index = number - 1) with add-k smoothing
   * (see spaceGroupCounts).
   */
  prior?: SpaceGroupPrior | { counts: number[]; smoothing: number; source?: string };
  /**
   * How synthetic crystals are made: 'random' (default: the generator's own ranges) or 'library'
   * (site counts, general-position shares and volumes per atom of a template entry of the same
   * group, elements at their frequencies: library/statistics.ts; of the shipped AMCSD, or of
   * `library.path` when given).
   */
  generator?: SyntheticGenerator;
  /** Restrict synthetic crystals to these space groups (weighted by the prior among them). */
  spaceGroups?: number[];
  /** Prepared synthetic structures kept at once (default 1024). */
  poolSize?: number;
  /**
   * Synthetic structures replaced after each batch (default 32). Too few and the network
   * memorises the pool: with 8 per batch of 64 from 512, training accuracy reached 0.77 while
   * held-out accuracy stayed at 0.28 and its loss rose.
   */
  refreshPerBatch?: number;
  /** Directories of CIFs (real structures) mixed into the stream. */
  cifDirs?: string[];
  /**
   * Entries of a structure library (src/library: the shipped AMCSD by default) in the pool of real
   * structures beside the CIF directories. `exclude` leaves entries out by id (for an
   * unseen-mineral control); `weighting` 'mineral' (default) draws every mineral equally often,
   * however many published structures it has (unnamed compounds once per formula), 'entry'
   * every entry.
   */
  library?: { path?: string; exclude?: readonly string[]; weighting?: LibraryWeighting };
  /** Fraction of patterns drawn from the real structures (CIFs, library) when given (default 0.5; 1 = real only). */
  cifShare?: number;
  /**
   * Fraction of the CIF patterns drawn from element-substituted variants of the CIF structures
   * (substituteElements: chemically similar swaps, same space group) instead of the structures
   * themselves (default 0). Variants come from a pool renewed like the synthetic one.
   */
  substituteShare?: number;
  /** A dataset directory written by `xrd synth`: when given it is the only source. */
  dataset?: string;
  /**
   * Measured, labelled patterns mixed into the stream ("souping"), or alone (share 1: training or
   * fine-tuning on them). With a folds file (xrd folds), the files of `fold` are left out.
   */
  measured?: { dir: string; share: number; folds?: string; fold?: number };
}

/** One batch prepared on the CPU, before rendering. */
export interface PreparedBatch {
  /** Simulated patterns first: one render spec each. */
  specs: PatternSpec[] | null;
  /** Then patterns already on the grid (a dataset, measured files): [n * points]. */
  rows: Float32Array | null;
  /** 0-based space group (number - 1) and crystal-system index per pattern. */
  spaceGroup: Int32Array;
  crystalSystem: Int32Array;
}

/** Space groups of each crystal system, by number. */
const SYSTEM_RANGES: [number, number][] = [
  [1, 2],
  [3, 15],
  [16, 74],
  [75, 142],
  [143, 167],
  [168, 194],
  [195, 230],
];

/** A space-group number drawn with probability proportional to weights[number - 1]. */
export function drawSpaceGroup(weights: readonly number[], rng: Rng): number {
  return 1 + rng.weightedIndex(weights);
}

/**
 * Space-group counts of real structures or labelled patterns: the space groups of every CIF under
 * `dir` (stated, or detected for P1 files; unreadable CIFs skipped), or else the space_group labels
 * of its patterns. Index = number - 1.
 */
export function spaceGroupCounts(dir: string): { counts: number[]; n: number; kind: 'structures' | 'patterns' } {
  const counts = new Array<number>(230).fill(0);
  let n = 0;
  let cifs: string[] = [];
  try {
    cifs = cifFilesUnder(dir);
  } catch {
    // not a CIF directory: patterns below
  }
  if (cifs.length) {
    for (const file of cifs) {
      try {
        for (const c of readCifStructures(file)) {
          const sg = c.spaceGroup ?? detectSpaceGroup(c).number;
          counts[sg - 1]!++;
          n++;
        }
      } catch {
        // an unreadable CIF does not count
      }
    }
    if (n === 0) throw new TrainingDataError(`no CIF under ${dir} could be read`);
    return { counts, n, kind: 'structures' };
  }
  for (const p of readLabelledDirectory(dir)) {
    if (p.spaceGroup === null) continue;
    counts[p.spaceGroup - 1]!++;
    n++;
  }
  if (n === 0) throw new TrainingDataError(`${dir} has neither readable CIFs nor patterns with space_group labels to count`);
  return { counts, n, kind: 'patterns' };
}

/** Weights of the 230 groups under a prior. */
export function priorWeights(prior: SpaceGroupPrior): number[] {
  if (prior === 'uniform') return new Array<number>(230).fill(1);
  const w: number[] = [];
  for (const [lo, hi] of SYSTEM_RANGES) for (let g = lo; g <= hi; g++) w.push(1 / (hi - lo + 1));
  return w;
}

/**
 * Patterns [from, to) of a prepared batch as one tensor: simulated ones rendered on the GPU,
 * ready rows uploaded, joined when the range spans both.
 */
export function renderPrepared(engine: Engine, grid: Grid, p: PreparedBatch, from: number, to: number): Tensor<'f32'> {
  const P = grid.points;
  const nSim = p.specs?.length ?? 0;
  const simTo = Math.min(to, nSim);
  const rowFrom = Math.max(from, nSim);
  const upload = () => engine.tensor(p.rows!.subarray((rowFrom - nSim) * P, (to - nSim) * P), [to - rowFrom, P]);
  if (simTo <= from) return upload();
  const rendered = renderPatterns(engine, p.specs!.slice(from, simTo), grid);
  if (rowFrom >= to) return rendered;
  const out = engine.empty([to - from, P]);
  engine.copyRange(rendered, 0, out, 0, (simTo - from) * P);
  rendered.dispose();
  const rows = upload();
  engine.copyRange(rows, 0, out, (rowFrom - from) * P, (to - rowFrom) * P);
  rows.dispose();
  return out;
}

export interface TrainingSource {
  readonly grid: Grid;
  /** The CPU side of batch b: its `size` patterns (a pure function of the seed and b). */
  prepare(batch: number, size: number): PreparedBatch;
  /** The GPU side: patterns [n, points] with maximum 1, from a prepared batch or part of it. */
  render(p: PreparedBatch, from: number, to: number): Tensor<'f32'>;
  /** What the source is, for logs. */
  describe(): string;
  close(): void;
}

/** Every .cif file under dir, subdirectories included, sorted by path. */
export function cifFilesUnder(dir: string): string[] {
  try {
    return cifFilesIn(dir, true);
  } catch (e) {
    throw new TrainingDataError(`cannot read the CIF directory ${dir}: ${(e as Error).message}`);
  }
}

/**
 * A pool of `size` prepared structures of which `refresh` are replaced before each batch: before
 * batch b the pool holds ids size + (b-1)refresh .. size + b refresh - 1 and older, each id made by
 * `make(id)` alone. Its contents are a pure function of b, which makes resume bit-exact.
 */
class RotatingPool {
  readonly items: Phase[] = [];
  /** The batch whose pool is loaded (-1: none yet). */
  private batch = -1;

  constructor(
    private readonly size: number,
    private readonly refresh: number,
    private readonly make: (id: number) => Phase,
  ) {}

  /** Brings the pool to its state before batch b. */
  load(b: number): void {
    if (b === this.batch) return;
    const P = this.size;
    const R = this.refresh;
    if (this.batch >= 0 && b === this.batch + 1) {
      // Ids P + (b-1)R .. P + bR - 1 replace their slots.
      for (let id = P + (b - 1) * R; id < P + b * R; id++) this.items[id % P] = this.make(id);
    } else {
      const end = P + b * R; // ids below this exist before batch b
      for (let i = 0; i < P; i++) {
        // newest id = i (mod P) below end
        const id = end - 1 - ((((end - 1 - i) % P) + P) % P);
        this.items[i] = this.make(id);
      }
    }
    this.batch = b;
  }
}

/** The index i with cumulative[i-1] <= u * total < cumulative[i] (binary search). */
function drawCumulative(cumulative: Float64Array, u: number): number {
  const x = u * cumulative[cumulative.length - 1]!;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Element-substituted variants kept at once and renewed per batch (see DataOptions.substituteShare). */
const VARIANT_POOL = 512;
const VARIANT_REFRESH = 16;

/** Simulated patterns from a pool of synthetic structures and/or CIF directories. */
export class SimulatedSource implements TrainingSource {
  readonly grid: Grid;
  private readonly config: EffectsConfig;
  private readonly weights: number[];
  private readonly poolSize: number;
  private readonly refresh: number;
  private readonly cifShare: number;
  private readonly substituteShare: number;
  private readonly crystalsRoot: Rng;
  private readonly samplesRoot: Rng;
  private readonly pool: RotatingPool;
  private readonly cifs: Phase[] = [];
  /** The parsed CIF structures behind `cifs`, for substitution. */
  private readonly cifCrystals: Crystal[] = [];
  private readonly variants: RotatingPool | null = null;
  /** CIFs of the directories that could not be read, with the reason. */
  readonly unreadable: string[] = [];
  /** Real-structure statistics that steer the generator (generator 'library'), else null. */
  private readonly statistics: LibraryStatistics | null = null;
  /** Cumulative draw weights of `cifs` when a library is in the pool (null: uniform). */
  private readonly cifCumulative: Float64Array | null = null;
  private readonly libraryNote: string = '';

  constructor(
    private readonly engine: Engine,
    options: DataOptions,
    seed: string,
    grid: Partial<Grid> = {},
  ) {
    this.grid = gridOf(grid);
    this.config = resolveEffects(options.effects ?? 'realistic');
    const prior = options.prior ?? 'uniform';
    if (typeof prior === 'object') {
      const { counts, smoothing } = prior;
      if (counts.length !== 230 || counts.some((c) => !(c >= 0)) || !(smoothing >= 0) || counts.every((c) => c + smoothing === 0)) {
        throw new TrainingDataError('a counts prior needs 230 non-negative counts (space groups 1-230) and a smoothing >= 0, not all zero');
      }
      this.weights = counts.map((c) => c + smoothing);
    } else {
      if (!PRIORS.includes(prior)) throw new TrainingDataError(`unknown prior '${prior}'; choose one of ${PRIORS.join(', ')}`);
      this.weights = priorWeights(prior);
    }
    if (options.spaceGroups) {
      const keep = new Set(options.spaceGroups);
      if (keep.size === 0 || [...keep].some((g) => !Number.isInteger(g) || g < 1 || g > 230)) {
        throw new TrainingDataError('spaceGroups must be a non-empty list of space-group numbers 1..230');
      }
      this.weights = this.weights.map((w, i) => (keep.has(i + 1) ? w : 0));
    }
    const generator = options.generator ?? 'random';
    if (!GENERATORS.includes(generator)) throw new TrainingDataError(`unknown generator '${generator}'; choose one of ${GENERATORS.join(', ')}`);
    // one read of the library serves the generator's statistics and the pool below
    const library = options.library || generator === 'library' ? readLibrary(options.library?.path) : null;
    if (generator === 'library') this.statistics = libraryStatistics(library!);
    this.poolSize = options.poolSize ?? 1024;
    this.refresh = options.refreshPerBatch ?? 32;
    if (!Number.isInteger(this.poolSize) || this.poolSize < 2) throw new TrainingDataError(`poolSize must be an integer >= 2, got ${this.poolSize}`);
    if (!Number.isInteger(this.refresh) || this.refresh < 0) throw new TrainingDataError(`refreshPerBatch must be an integer >= 0, got ${this.refresh}`);
    const dirs = options.cifDirs ?? [];
    for (const dir of dirs) {
      const files = cifFilesUnder(dir);
      if (files.length === 0) throw new TrainingDataError(`${dir} holds no .cif files (searched its subdirectories too)`);
      for (const file of files) {
        try {
          // every structure block of a file is a structure of its own
          for (const c of readCifStructures(file)) {
            this.cifs.push(preparePhase(c, { grid: this.grid, config: this.config }));
            this.cifCrystals.push(c);
          }
        } catch (e) {
          // A library of hundreds of CIFs may hold a few this reader cannot use: they are listed, not fatal.
          this.unreadable.push(`${file} (${(e as Error).message.split('\n')[0]})`);
        }
      }
    }
    if (dirs.length && this.cifs.length === 0) throw new TrainingDataError(`no CIF in ${dirs.join(', ')} could be read: ${this.unreadable.slice(0, 3).join('; ')}`);
    if (options.library) {
      const { weighting = 'mineral', exclude = [] } = options.library;
      if (!LIBRARY_WEIGHTINGS.includes(weighting)) throw new TrainingDataError(`unknown library weighting '${weighting}'; choose one of ${LIBRARY_WEIGHTINGS.join(', ')}`);
      const lib = library!;
      const left = new Set(exclude);
      const entries = lib.entries.filter((e) => !left.has(e.id));
      if (entries.length === 0) throw new TrainingDataError(`every entry of ${lib.source} is excluded; nothing is left to train on`);
      // Unnamed entries (synthetic compounds) count as one mineral per formula.
      const mineralOf = (e: LibraryEntry): string => e.mineral || `formula ${e.formula}`;
      const perMineral = new Map<string, number>();
      for (const e of entries) perMineral.set(mineralOf(e), (perMineral.get(mineralOf(e)) ?? 0) + 1);
      const weights = this.cifs.map(() => 1);
      for (const e of entries) {
        try {
          const crystal = entryCrystal(lib, e);
          this.cifs.push(preparePhase(crystal, { grid: this.grid, config: this.config }));
          this.cifCrystals.push(crystal);
          weights.push(weighting === 'mineral' ? 1 / perMineral.get(mineralOf(e))! : 1);
        } catch (err) {
          this.unreadable.push(`${entryName(e)} (${(err as Error).message.split('\n')[0]})`);
        }
      }
      const cumulative = new Float64Array(weights.length);
      let sum = 0;
      weights.forEach((w, i) => (cumulative[i] = sum += w));
      this.cifCumulative = cumulative;
      this.libraryNote = `${entries.length} library structures of ${perMineral.size} minerals (${lib.entries.length - entries.length} excluded, drawn per ${weighting})`;
    }
    this.cifShare = dirs.length || options.library ? (options.cifShare ?? 0.5) : 0;
    if (!(this.cifShare >= 0 && this.cifShare <= 1)) throw new TrainingDataError(`cifShare must be in [0, 1], got ${this.cifShare}`);
    this.substituteShare = this.cifShare > 0 ? (options.substituteShare ?? 0) : 0;
    if (!(this.substituteShare >= 0 && this.substituteShare <= 1)) throw new TrainingDataError(`substituteShare must be in [0, 1], got ${options.substituteShare}`);
    this.crystalsRoot = new Rng(`${seed}/crystals`);
    this.samplesRoot = new Rng(`${seed}/samples`);
    this.pool = new RotatingPool(this.poolSize, this.refresh, (id) => this.structure(id));
    if (this.substituteShare > 0) {
      const root = new Rng(`${seed}/variants`);
      this.variants = new RotatingPool(VARIANT_POOL, VARIANT_REFRESH, (id) => this.variant(root.fork(id)));
    }
  }

  describe(): string {
    const parts = [];
    if (this.cifShare < 1) parts.push(`synthetic crystals${this.statistics ? ' from real statistics' : ''} (pool ${this.poolSize}, ${this.refresh} new per batch)`);
    if (this.cifShare > 0) {
      const skipped = this.unreadable.length ? `; ${this.unreadable.length} unreadable CIFs left out: ${this.unreadable.join(', ')}` : '';
      const variants = this.substituteShare > 0 ? `, ${Math.round(this.substituteShare * 100)} % of them element-substituted variants` : '';
      const what = this.libraryNote ? `${this.cifs.length} real structures: ${this.libraryNote}` : `${this.cifs.length} CIF structures`;
      parts.push(`${what} (${Math.round(this.cifShare * 100)} % of patterns${variants}${skipped})`);
    }
    return parts.join(' + ');
  }

  /** Structure id -> prepared synthetic phase (deterministic). */
  private structure(id: number): Phase {
    const rng = this.crystalsRoot.fork(id);
    for (let attempt = 0; attempt < 8; attempt++) {
      const r = rng.fork(attempt);
      const sg = drawSpaceGroup(this.weights, r.fork(0));
      try {
        const options = this.statistics ? templateOptions(this.statistics, sg, r.fork(2)) : {};
        return preparePhase(generateCrystal(sg, r.fork(1), options), { grid: this.grid, config: this.config });
      } catch (e) {
        if (!(e instanceof SynthesisError)) throw e;
      }
    }
    throw new TrainingDataError(`the crystal generator failed 8 times for structure ${id}; report it`);
  }

  /** An element-substituted variant of a random CIF structure (deterministic in rng). */
  private variant(rng: Rng): Phase {
    for (let attempt = 0; attempt < 8; attempt++) {
      const r = rng.fork(attempt);
      const v = substituteElements(this.cifCrystals[r.fork(0).int(0, this.cifCrystals.length - 1)]!, r.fork(1));
      if (v) return preparePhase(v.crystal, { grid: this.grid, config: this.config });
    }
    // Libraries of elements or oxides only may offer nothing to swap: use a structure as it is.
    return this.cifs[rng.fork(8).int(0, this.cifs.length - 1)]!;
  }

  prepare(batch: number, size: number): PreparedBatch {
    if (this.cifShare < 1) this.pool.load(batch);
    this.variants?.load(batch);
    const rngBatch = this.samplesRoot.fork(batch);
    const specs: PatternSpec[] = [];
    const spaceGroup = new Int32Array(size);
    const crystalSystem = new Int32Array(size);
    for (let k = 0; k < size; k++) {
      const rng = rngBatch.fork(k);
      const fromCif = this.cifShare > 0 && rng.fork(0).uniform() < this.cifShare;
      const substituted = fromCif && this.variants !== null && rng.fork(3).uniform() < this.substituteShare;
      const pool = substituted ? this.variants!.items : fromCif ? this.cifs : this.pool.items;
      const self = pool === this.cifs && this.cifCumulative ? drawCumulative(this.cifCumulative, rng.fork(1).uniform()) : rng.fork(1).int(0, pool.length - 1);
      const phase = pool[self]!;
      const effects = drawEffects(this.config, rng.fork(2));
      const impurities: Phase[] = [];
      if (pool.length > 1) {
        for (const imp of effects.impurities) {
          let j = Math.floor(imp.pick * (pool.length - 1));
          if (j >= self) j++;
          impurities.push(pool[j]!);
        }
      }
      effects.impurities = effects.impurities.slice(0, impurities.length);
      specs.push(applyEffects([phase, ...impurities], effects, this.grid));
      spaceGroup[k] = phase.spaceGroup - 1;
      crystalSystem[k] = CRYSTAL_SYSTEMS.indexOf(phase.crystalSystem);
    }
    return { specs, rows: null, spaceGroup, crystalSystem };
  }

  render(p: PreparedBatch, from: number, to: number): Tensor<'f32'> {
    return renderPrepared(this.engine, this.grid, p, from, to);
  }

  close(): void {}
}

interface DatasetJson {
  count: number;
  grid?: { twoThetaMin: number; step: number; points: number; wavelength: number };
  files?: string[];
}

/**
 * Rows of a dataset written by `xrd synth` (patterns.npy, labels.json); rows are read from disk
 * on demand, so datasets larger than memory work. The last `holdout` rows are kept apart: the
 * 'train' part draws uniformly with replacement from the others, the 'holdout' part gives the
 * held-out rows in order (for validation).
 */
export class DatasetSource implements TrainingSource {
  readonly grid: Grid;
  private readonly fd: number;
  private readonly dataOffset: number;
  private readonly count: number;
  private readonly labels: { sg: Int32Array; cs: Int32Array };
  private readonly samplesRoot: Rng;

  private readonly trainRows: number;

  constructor(
    private readonly engine: Engine,
    private readonly dir: string,
    seed: string,
    private readonly holdout = 0,
    private readonly part: 'train' | 'holdout' = 'train',
  ) {
    let meta: DatasetJson;
    try {
      meta = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8')) as DatasetJson;
    } catch (e) {
      throw new TrainingDataError(`${dir} is not a dataset written by 'xrd synth' (dataset.json: ${(e as Error).message})`);
    }
    if (!meta.grid) throw new TrainingDataError(`${join(dir, 'dataset.json')} has no grid; write the dataset again with 'xrd synth'`);
    this.grid = gridOf(meta.grid);
    const npyPath = join(dir, 'patterns.npy');
    try {
      this.fd = openSync(npyPath, 'r');
    } catch (e) {
      throw new TrainingDataError(`cannot open ${npyPath} (${(e as Error).message}); datasets in CSV format cannot be used for training, write them with the default npy format`);
    }
    const head = new Uint8Array(4096);
    readSync(this.fd, head, 0, head.length, 0);
    let header;
    try {
      header = parseNpyHeader(head);
    } catch (e) {
      closeSync(this.fd);
      throw new TrainingDataError(`${npyPath}: ${(e as Error).message}`);
    }
    if (header.descr !== '<f4' || header.shape.length !== 2 || header.shape[1] !== this.grid.points) {
      closeSync(this.fd);
      throw new TrainingDataError(`${npyPath} must hold float32 [count, ${this.grid.points}], got ${header.descr} [${header.shape}]`);
    }
    this.dataOffset = header.dataOffset;
    this.count = header.shape[0]!;
    // labels.json: '[', one object per line (comma-separated), ']'
    const lines = readFileSync(join(dir, 'labels.json'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && l !== '[' && l !== ']');
    if (lines.length !== this.count) {
      closeSync(this.fd);
      throw new TrainingDataError(`${dir}: labels.json has ${lines.length} rows but patterns.npy has ${this.count}; the dataset is incomplete, write it again`);
    }
    const sg = new Int32Array(this.count);
    const cs = new Int32Array(this.count);
    lines.forEach((line, i) => {
      const row = JSON.parse(line.endsWith(',') ? line.slice(0, -1) : line) as { space_group: number };
      sg[i] = row.space_group - 1;
      cs[i] = CRYSTAL_SYSTEMS.indexOf(crystalSystemOf(row.space_group));
    });
    this.labels = { sg, cs };
    this.samplesRoot = new Rng(`${seed}/dataset`);
    this.trainRows = this.count - holdout;
    if (this.trainRows < 1) {
      closeSync(this.fd);
      throw new TrainingDataError(`${dir} has ${this.count} patterns, too few to hold out ${holdout} for validation; lower --val-size`);
    }
  }

  describe(): string {
    return `dataset ${this.dir} (${this.trainRows} patterns${this.holdout ? `, ${this.holdout} more held out for validation` : ''})`;
  }

  prepare(batch: number, size: number): PreparedBatch {
    const rng = this.samplesRoot.fork(batch);
    const P = this.grid.points;
    const rows = new Float32Array(size * P);
    const spaceGroup = new Int32Array(size);
    const crystalSystem = new Int32Array(size);
    for (let k = 0; k < size; k++) {
      const i = this.part === 'holdout' ? this.trainRows + ((batch * size + k) % this.holdout) : rng.int(0, this.trainRows - 1);
      readSync(this.fd, new Uint8Array(rows.buffer, k * P * 4, P * 4), 0, P * 4, this.dataOffset + i * P * 4);
      spaceGroup[k] = this.labels.sg[i]!;
      crystalSystem[k] = this.labels.cs[i]!;
    }
    return { specs: null, rows, spaceGroup, crystalSystem };
  }

  render(p: PreparedBatch, from: number, to: number): Tensor<'f32'> {
    return renderPrepared(this.engine, this.grid, p, from, to);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The files of a labelled directory in (inFold) or out of fold `fold` of a folds file. */
export function filesOfFold(dir: string, foldsFile: string, fold: number, inFold: boolean): MeasuredPattern[] {
  let folds: { k: number; files: { file: string; fold: number }[] };
  try {
    folds = JSON.parse(readFileSync(foldsFile, 'utf8')) as typeof folds;
  } catch (e) {
    throw new TrainingDataError(`cannot read the folds file ${foldsFile} (${(e as Error).message}); write one with 'xrd folds'`);
  }
  if (!Number.isInteger(fold) || fold < 0 || fold >= folds.k) throw new TrainingDataError(`fold must be an integer from 0 to ${folds.k - 1} for ${foldsFile}, got ${fold}`);
  const foldOf = new Map(folds.files.map((f) => [f.file, f.fold]));
  const patterns = readLabelledDirectory(dir);
  const missing = patterns.filter((p) => !foldOf.has(basename(p.file)));
  if (missing.length) throw new TrainingDataError(`${foldsFile} does not list ${basename(missing[0]!.file)} of ${dir}; write the folds for this directory with 'xrd folds'`);
  return patterns.filter((p) => (foldOf.get(basename(p.file)) === fold) === inFold);
}

/**
 * Measured labelled patterns (on the grid, in memory), drawn uniformly with replacement; with
 * share < 1 each pattern of a batch comes from `simulated` with probability 1 - share.
 */
export class MeasuredSource implements TrainingSource {
  readonly grid: Grid;
  private readonly rows: Float32Array;
  private readonly sg: Int32Array;
  private readonly cs: Int32Array;
  private readonly root: Rng;

  constructor(
    private readonly engine: Engine,
    private readonly patterns: MeasuredPattern[],
    private readonly share: number,
    private readonly simulated: SimulatedSource | null,
    seed: string,
    grid: Partial<Grid>,
  ) {
    this.grid = gridOf(grid);
    if (patterns.length === 0) throw new TrainingDataError('no measured patterns to train on (is every file in the held-out fold?)');
    if (!(share > 0 && share <= 1)) throw new TrainingDataError(`the share of measured patterns must be in (0, 1], got ${share}`);
    if (share < 1 && !simulated) throw new TrainingDataError('a share below 1 needs a simulated source to mix with');
    this.rows = gridRows(patterns, this.grid);
    this.sg = Int32Array.from(patterns, (p) => classIndex('space-group', p));
    this.cs = Int32Array.from(patterns, (p) => classIndex('crystal-system', p));
    this.root = new Rng(`${seed}/measured`);
  }

  /** Whether every pattern has a space-group label (the space-group task needs them). */
  get hasSpaceGroups(): boolean {
    return this.sg.every((g) => g >= 0);
  }

  describe(): string {
    const measured = `${this.patterns.length} measured patterns`;
    return this.share < 1 ? `${this.simulated!.describe()} + ${measured} (${Math.round(this.share * 100)} % of patterns)` : measured;
  }

  prepare(batch: number, size: number): PreparedBatch {
    const rng = this.root.fork(batch);
    const picks: number[] = [];
    for (let k = 0; k < size; k++) {
      const r = rng.fork(k);
      if (this.share >= 1 || r.fork(0).uniform() < this.share) picks.push(r.fork(1).int(0, this.patterns.length - 1));
    }
    const nSim = size - picks.length;
    const sim = nSim > 0 ? this.simulated!.prepare(batch, nSim) : null;
    const P = this.grid.points;
    const rows = new Float32Array(picks.length * P);
    picks.forEach((i, k) => rows.set(this.rows.subarray(i * P, (i + 1) * P), k * P));
    const join = (a: Int32Array | undefined, b: number[]) => Int32Array.from([...(a ?? []), ...b]);
    return {
      specs: sim?.specs ?? null,
      rows,
      spaceGroup: join(sim?.spaceGroup, picks.map((i) => this.sg[i]!)),
      crystalSystem: join(sim?.crystalSystem, picks.map((i) => this.cs[i]!)),
    };
  }

  render(p: PreparedBatch, from: number, to: number): Tensor<'f32'> {
    return renderPrepared(this.engine, this.grid, p, from, to);
  }

  close(): void {
    this.simulated?.close();
  }
}

/**
 * The source DataOptions describe. A dataset keeps its last `holdout` rows apart: the training
 * part never draws them and the validation part gives exactly them.
 */
export function trainingSource(engine: Engine, options: DataOptions, seed: string, grid: Partial<Grid>, holdout = 0, part: 'train' | 'holdout' = 'train'): TrainingSource {
  if (options.dataset) return new DatasetSource(engine, options.dataset, seed, holdout, part);
  const m = options.measured;
  if (m && part === 'train') {
    const patterns = m.folds !== undefined ? filesOfFold(m.dir, m.folds, m.fold ?? 0, false) : readLabelledDirectory(m.dir);
    const sim = m.share < 1 ? new SimulatedSource(engine, options, seed, grid) : null;
    return new MeasuredSource(engine, patterns, m.share, sim, seed, grid);
  }
  return new SimulatedSource(engine, options, seed, grid);
}
