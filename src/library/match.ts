// Search-match: which library phases explain a measured powder pattern.
//
// Both sides are compared as square-root intensity profiles (the strong lines do not swamp the
// weak ones) broadened to a common width: the measurement with its background removed and a light
// Gaussian smoothing, each library entry rendered from its sticks with a Gaussian of
// `libraryFwhm`. Two stages:
//  1. screen (GPU, the engine's conv1d): on a grid uniform in ln d a change of cell size is a
//     shift, so one cross-correlation of every query with every library profile over the shifts of
//     `scaleRange` scores all entries at all scalings at once; each entry keeps its best shift;
//  2. refine (CPU): the best `candidates` entries are rendered on the query's own 2-theta grid at
//     scalings around the screen's best and scored by the Pearson correlation over the measured
//     range; that correlation is the score reported.
// Several phases: the best match's least-squares share is taken off the measurement and the rest
// searched again (other minerals only); a phase is kept when it explains the rest and improves
// the joint fit.
import type { Engine } from '../engine/engine.ts';
import { conv1d } from '../engine/ops/conv1d.ts';
import { topK } from '../engine/ops/reduce.ts';
import type { Tensor } from '../engine/tensor.ts';
import { coveredRange, toModelGrid, type MeasuredPattern } from '../io/pattern-text.ts';
import { crystalSystemOf, type CrystalSystem } from '../sim/crystal.ts';
import { lowerEnvelope } from '../sim/envelope.ts';
import { DEFAULT_GRID, type Grid } from '../sim/render.ts';
import { entryLabel, type Library } from './library.ts';
import type { EntrySticks } from './peaks.ts';

export interface MatchSettings {
  /** FWHM (deg 2-theta) of the library profiles. */
  libraryFwhm: number;
  /** FWHM (deg) of the smoothing applied to the measurement. */
  queryFwhm: number;
  /** Width (deg) of the rolling-minimum background. */
  backgroundWindow: number;
  /** Cell scalings searched (d multiplied by 0.97-1.03: strain, temperature, solid solution). */
  scaleRange: [number, number];
  /** Bin width of the ln d screening grid. */
  du: number;
  /** Entries refined per query after the screen. */
  candidates: number;
}

export const DEFAULT_MATCH: Readonly<MatchSettings> = Object.freeze({
  libraryFwhm: 0.4,
  queryFwhm: 0.2,
  backgroundWindow: 3,
  scaleRange: [0.97, 1.03] as [number, number],
  du: 0.002,
  candidates: 40,
});

const DEG = Math.PI / 180;
/** Relative scaling step of the refinement (0.05 %). */
const REFINE_STEP = 0.0005;
const SIGMA_PER_FWHM = 1 / (2 * Math.sqrt(2 * Math.LN2));

/** The ln d screening grid for the 2-theta grid (both at the grid's wavelength). */
export interface LogGrid {
  uMin: number;
  du: number;
  bins: number;
}

export function logGridFor(grid: Grid, du: number): LogGrid {
  const dOf = (tt: number): number => grid.wavelength / (2 * Math.sin((tt / 2) * DEG));
  const uMin = Math.log(dOf(grid.twoThetaMin + (grid.points - 1) * grid.step));
  const uMax = Math.log(dOf(grid.twoThetaMin));
  return { uMin, du, bins: Math.ceil((uMax - uMin) / du) };
}

/** A measurement ready to be matched. */
export interface PreparedQuery {
  file: string;
  /** Square-root, background-free, smoothed profile on the 2-theta grid (0 outside the coverage). */
  profile: Float32Array;
  /** Covered 2-theta grid points [from, to). */
  from: number;
  to: number;
  /** The same on the ln d grid, centred and of unit norm over the covered bins [binFrom, binTo). */
  log: Float32Array;
  binFrom: number;
  binTo: number;
  /** Median of `profile` over the coverage: the noise floor for counting found lines. */
  floor: number;
}

/** Gaussian smoothing of v[from, to) with sigma in points (truncated at 4 sigma). */
function smooth(v: Float32Array, from: number, to: number, sigma: number): Float32Array {
  if (sigma < 0.3) return v.slice();
  const r = Math.ceil(4 * sigma);
  const k = Float64Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const out = new Float32Array(v.length);
  for (let i = from; i < to; i++) {
    let s = 0;
    let ws = 0;
    for (let j = -r; j <= r; j++) {
      const t = i + j;
      if (t < from || t >= to) continue;
      s += k[j + r]! * v[t]!;
      ws += k[j + r]!;
    }
    out[i] = s / ws;
  }
  return out;
}

/** u = ln d of each 2-theta grid point. */
function logOfGrid(grid: Grid): Float64Array {
  return Float64Array.from({ length: grid.points }, (_, i) => Math.log(grid.wavelength / (2 * Math.sin(((grid.twoThetaMin + i * grid.step) / 2) * DEG))));
}

/** A 2-theta profile averaged into the ln d bins (interpolated where a bin holds no grid point). */
function toLogGrid(profile: Float32Array, from: number, to: number, grid: Grid, lg: LogGrid): { log: Float32Array; binFrom: number; binTo: number } {
  const u = logOfGrid(grid);
  const sum = new Float64Array(lg.bins);
  const count = new Int32Array(lg.bins);
  for (let i = from; i < to; i++) {
    const b = Math.floor((u[i]! - lg.uMin) / lg.du);
    if (b >= 0 && b < lg.bins) {
      sum[b] += profile[i]!;
      count[b]++;
    }
  }
  const log = new Float32Array(lg.bins);
  // u falls as 2-theta rises: the covered bins run from the high-angle end
  const binFrom = Math.max(0, Math.floor((u[to - 1]! - lg.uMin) / lg.du));
  const binTo = Math.min(lg.bins, Math.floor((u[from]! - lg.uMin) / lg.du) + 1);
  for (let b = binFrom; b < binTo; b++) {
    if (count[b]) log[b] = sum[b]! / count[b]!;
    else {
      // the 2-theta point nearest the bin centre (grid index falls as u rises)
      const uc = lg.uMin + (b + 0.5) * lg.du;
      const tt = (2 * Math.asin(grid.wavelength / (2 * Math.exp(uc)))) / DEG;
      const x = (tt - grid.twoThetaMin) / grid.step;
      const i = Math.min(to - 2, Math.max(from, Math.floor(x)));
      const f = Math.min(1, Math.max(0, x - i));
      log[b] = profile[i]! * (1 - f) + profile[i + 1]! * f;
    }
  }
  return { log, binFrom, binTo };
}

/** Centred over [from, to), unit norm there, zero elsewhere (in place); false when flat. */
function standardise(v: Float32Array, from: number, to: number): boolean {
  let mean = 0;
  for (let i = from; i < to; i++) mean += v[i]!;
  mean /= Math.max(1, to - from);
  let ss = 0;
  for (let i = 0; i < v.length; i++) {
    if (i < from || i >= to) v[i] = 0;
    else {
      v[i] = v[i]! - mean;
      ss += v[i]! * v[i]!;
    }
  }
  if (!(ss > 0)) return false;
  const inv = 1 / Math.sqrt(ss);
  for (let i = from; i < to; i++) v[i]! *= inv;
  return true;
}

/** The measurement on the 2-theta grid, background off, square root, smoothed; and on the ln d grid. */
export function prepareQuery(p: MeasuredPattern, settings: MatchSettings = DEFAULT_MATCH, grid: Grid = DEFAULT_GRID, wavelength?: number): PreparedQuery {
  const { values, coverage } = toModelGrid(p, grid, wavelength);
  const { from, to } = coveredRange(coverage, grid);
  return prepareProfile(p.file, values, from, to, settings, grid);
}

/** prepareQuery for a profile already on the grid (intensities >= 0 over [from, to)). */
export function prepareProfile(file: string, values: Float32Array, from: number, to: number, settings: MatchSettings = DEFAULT_MATCH, grid: Grid = DEFAULT_GRID): PreparedQuery {
  const bg = lowerEnvelope(values, from, to, Math.max(1, Math.floor(settings.backgroundWindow / grid.step / 2)));
  const root = new Float32Array(grid.points);
  for (let i = from; i < to; i++) root[i] = Math.sqrt(Math.max(0, values[i]! - bg[i]!));
  const profile = smooth(root, from, to, (settings.queryFwhm * SIGMA_PER_FWHM) / grid.step);
  const sorted = Array.from(profile.subarray(from, to)).sort((a, b) => a - b);
  return queryOf(file, profile, from, to, sorted[Math.floor(sorted.length / 2)] ?? 0, settings, grid);
}

/** A query from its 2-theta profile: the profile on the ln d grid, centred and of unit norm. */
function queryOf(file: string, profile: Float32Array, from: number, to: number, floor: number, settings: MatchSettings, grid: Grid): PreparedQuery {
  const { log, binFrom, binTo } = toLogGrid(profile, from, to, grid, logGridFor(grid, settings.du));
  standardise(log, binFrom, binTo);
  return { file, profile, from, to, log, binFrom, binTo, floor };
}

/** Library profiles on the ln d grid, [entries, bins], heights sqrt(I / 100) at unit scale. */
export function logProfiles(sticks: readonly EntrySticks[], grid: Grid, settings: MatchSettings = DEFAULT_MATCH): Float32Array {
  const lg = logGridFor(grid, settings.du);
  const out = new Float32Array(sticks.length * lg.bins);
  const sigmaTheta = (settings.libraryFwhm / 2) * DEG * SIGMA_PER_FWHM;
  sticks.forEach((s, e) => {
    const row = out.subarray(e * lg.bins, (e + 1) * lg.bins);
    for (let k = 0; k < s.twoTheta.length; k++) {
      const theta = (s.twoTheta[k]! / 2) * DEG;
      const u = Math.log(grid.wavelength / (2 * Math.sin(theta)));
      const sigma = sigmaTheta / Math.tan(theta);
      const w = Math.sqrt(s.intensity[k]! / 100);
      const b0 = Math.max(0, Math.floor((u - 4 * sigma - lg.uMin) / lg.du));
      const b1 = Math.min(lg.bins - 1, Math.floor((u + 4 * sigma - lg.uMin) / lg.du));
      const c = (Math.sqrt(Math.PI / 2) * sigma) / lg.du;
      for (let b = b0; b <= b1; b++) {
        const lo = (lg.uMin + b * lg.du - u) / (Math.SQRT2 * sigma);
        row[b]! += w * c * (erf(lo + lg.du / (Math.SQRT2 * sigma)) - erf(lo));
      }
    }
  });
  return out;
}

/** erf, Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Shifts searched on the ln d grid: -S..S bins. */
export function shiftRange(settings: MatchSettings): number {
  return Math.max(Math.round(Math.log(settings.scaleRange[1]) / settings.du), Math.round(-Math.log(settings.scaleRange[0]) / settings.du));
}

/** Screen result per (query, entry): the best raw cross-correlation and its shift in bins. */
export interface ScreenResult {
  best: Float32Array;
  shift: Int32Array;
}

/**
 * CPU screen: best[q * entries + e] = max over shifts d in -S..S of sum_t log_q[t + d] L_e[t].
 * The reference the GPU screen is tested against; fast enough for small libraries.
 */
export function screenCpu(queries: readonly PreparedQuery[], profiles: Float32Array, bins: number, S: number): ScreenResult {
  const n = profiles.length / bins;
  const best = new Float32Array(queries.length * n).fill(-Infinity);
  const shift = new Int32Array(queries.length * n);
  queries.forEach((q, qi) => {
    for (let e = 0; e < n; e++) {
      const L = profiles.subarray(e * bins, (e + 1) * bins);
      for (let d = -S; d <= S; d++) {
        let s = 0;
        const t0 = Math.max(0, -d);
        const t1 = Math.min(bins, bins - d);
        for (let t = t0; t < t1; t++) s += q.log[t + d]! * L[t]!;
        if (s > best[qi * n + e]!) {
          best[qi * n + e] = s;
          shift[qi * n + e] = d;
        }
      }
    }
  });
  return { best, shift };
}

/** Library profiles held on the GPU in chunks that fit one storage binding. */
export class GpuLibrary {
  private readonly chunks: { tensor: Tensor<'f32'>; first: number; count: number }[] = [];

  constructor(
    private readonly engine: Engine,
    profiles: Float32Array,
    readonly bins: number,
    readonly S: number,
  ) {
    const entries = profiles.length / bins;
    const perChunk = Math.max(1, Math.min(8192, Math.floor(engine.info.limits.maxStorageBufferBindingSize / 4 / bins)));
    for (let first = 0; first < entries; first += perChunk) {
      const count = Math.min(perChunk, entries - first);
      this.chunks.push({ tensor: engine.tensor(profiles.subarray(first * bins, (first + count) * bins), [count, 1, bins]), first, count });
    }
  }

  get entries(): number {
    return this.chunks.reduce((s, c) => s + c.count, 0);
  }

  /** The screen of `queries` (as screenCpu), batched so each output fits one binding. */
  async screen(queries: readonly PreparedQuery[]): Promise<ScreenResult> {
    const n = this.entries;
    const best = new Float32Array(queries.length * n);
    const shift = new Int32Array(queries.length * n);
    const outs = 2 * this.S + 1;
    for (const c of this.chunks) {
      const batch = Math.max(1, Math.min(64, Math.floor(this.engine.info.limits.maxStorageBufferBindingSize / 4 / (c.count * outs))));
      for (let q0 = 0; q0 < queries.length; q0 += batch) {
        const part = queries.slice(q0, q0 + batch);
        const x = new Float32Array(part.length * this.bins);
        part.forEach((q, i) => x.set(q.log, i * this.bins));
        const xt = this.engine.tensor(x, [part.length, 1, this.bins]);
        const y = conv1d(this.engine, xt, c.tensor, null, { padding: this.S });
        const top = topK(this.engine, y, 1);
        const [values, indices] = await Promise.all([top.values.read(), top.indices.read()]);
        for (const t of [xt, y, top.values, top.indices]) t.dispose();
        part.forEach((_, i) => {
          for (let e = 0; e < c.count; e++) {
            best[(q0 + i) * n + c.first + e] = values[i * c.count + e]!;
            shift[(q0 + i) * n + c.first + e] = indices[i * c.count + e]! - this.S;
          }
        });
      }
    }
    return { best, shift };
  }

  dispose(): void {
    for (const c of this.chunks) c.tensor.dispose();
    this.chunks.length = 0;
  }
}

/** Grid position (fractional index) of a stick at 2-theta `twoTheta` once d is multiplied by `scale`; null beyond 180 deg. */
function scaledPosition(twoTheta: number, scale: number, grid: Grid): number | null {
  const sin = Math.sin((twoTheta / 2) * DEG) / scale;
  return sin >= 1 ? null : ((2 * Math.asin(sin)) / DEG - grid.twoThetaMin) / grid.step;
}

/** A library entry's profile on the 2-theta grid at cell scaling `scale` (d multiplied by it). */
export function renderSticks(s: EntrySticks, scale: number, from: number, to: number, grid: Grid, fwhm: number, out = new Float32Array(grid.points)): Float32Array {
  out.fill(0);
  const sigma = (fwhm * SIGMA_PER_FWHM) / grid.step;
  const r = Math.ceil(4 * sigma);
  for (let k = 0; k < s.twoTheta.length; k++) {
    const x = scaledPosition(s.twoTheta[k]!, scale, grid);
    if (x === null) continue;
    const i0 = Math.max(from, Math.ceil(x - r));
    const i1 = Math.min(to - 1, Math.floor(x + r));
    if (i1 < i0) continue;
    // exp(-(i - x)^2 / 2 sigma^2) by its ratio recurrence: two multiplications a point
    const inv = 1 / (2 * sigma * sigma);
    let g = Math.sqrt(s.intensity[k]! / 100) * Math.exp(-((i0 - x) ** 2) * inv);
    let ratio = Math.exp(-(2 * (i0 - x) + 1) * inv);
    const step = Math.exp(-2 * inv);
    for (let i = i0; i <= i1; i++) {
      out[i]! += g;
      g *= ratio;
      ratio *= step;
    }
  }
  return out;
}

/** Pearson correlation of a and b over [from, to). */
export function pearson(a: Float32Array, b: Float32Array, from: number, to: number): number {
  let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  const n = to - from;
  for (let i = from; i < to; i++) {
    const x = a[i]!, y = b[i]!;
    sa += x;
    sb += y;
    saa += x * x;
    sbb += y * y;
    sab += x * y;
  }
  const cov = sab - (sa * sb) / n;
  const va = saa - (sa * sa) / n;
  const vb = sbb - (sb * sb) / n;
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0;
}

/** One candidate phase for a measurement. */
export interface Match {
  /** Index into the library's entries. */
  entry: number;
  id: string;
  mineral: string;
  formula: string;
  spaceGroup: number;
  crystalSystem: CrystalSystem;
  /** Pearson correlation of the square-root profiles over the measured range (-1..1). */
  correlation: number;
  /** Cell scaling of the best fit (d multiplied by it). */
  scale: number;
  /** Strong library lines (>= 20 % of the strongest) in range, and how many stand above the noise. */
  strongLines: number;
  linesFound: number;
}

/** Filters on the entries a search may return. */
export interface EntryFilter {
  /** Every one of these elements must be in the entry. */
  require?: readonly string[];
  /** None of these may be. */
  exclude?: readonly string[];
  /** Entries left out by index (for leave-out controls). */
  skip?: ReadonlySet<number>;
}

/** Which entries pass a filter (null: all). */
export function filterMask(lib: Library, filter: EntryFilter): Uint8Array | null {
  const req = filter.require ?? [];
  const exc = filter.exclude ?? [];
  if (!req.length && !exc.length && !filter.skip?.size) return null;
  return Uint8Array.from(lib.entries, (e, i) => {
    if (filter.skip?.has(i)) return 0;
    const els = new Set(e.sites.map((s) => s.element));
    return req.every((x) => els.has(x)) && !exc.some((x) => els.has(x)) ? 1 : 0;
  });
}

/** Line count of `Match`: strong sticks in range and those where the measurement rises above its floor. */
function lineCounts(q: PreparedQuery, s: EntrySticks, scale: number, grid: Grid): { strong: number; found: number } {
  let strong = 0;
  let found = 0;
  const win = Math.round(0.1 / grid.step);
  for (let k = 0; k < s.twoTheta.length; k++) {
    if (s.intensity[k]! < 20) continue;
    const at = scaledPosition(s.twoTheta[k]!, scale, grid);
    if (at === null) continue;
    const x = Math.round(at);
    if (x < q.from || x >= q.to) continue;
    strong++;
    let top = 0;
    for (let i = Math.max(q.from, x - win); i <= Math.min(q.to - 1, x + win); i++) top = Math.max(top, q.profile[i]!);
    if (top > 3 * q.floor + 0.02) found++;
  }
  return { strong, found };
}

/**
 * Ranks the screened entries of one query: norms over the covered bins turn raw scores into
 * correlations, the best `candidates` passing `mask` are refined on the 2-theta grid; returns the
 * top `top` by refined correlation.
 */
export function refineQuery(
  lib: Library,
  sticks: readonly EntrySticks[],
  profiles: Float32Array,
  q: PreparedQuery,
  row: { best: Float32Array; shift: Int32Array },
  mask: Uint8Array | null,
  settings: MatchSettings,
  grid: Grid,
  top: number,
): Match[] {
  const lg = logGridFor(grid, settings.du);
  const n = lib.entries.length;
  const approx = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    if (mask && !mask[e]) {
      approx[e] = -Infinity;
      continue;
    }
    const L = profiles.subarray(e * lg.bins, (e + 1) * lg.bins);
    let s = 0, ss = 0;
    for (let b = q.binFrom; b < q.binTo; b++) {
      s += L[b]!;
      ss += L[b]! * L[b]!;
    }
    const m = q.binTo - q.binFrom;
    const v = ss - (s * s) / m;
    approx[e] = v > 0 ? row.best[e]! / Math.sqrt(v) : -Infinity;
  }
  const order = Array.from({ length: n }, (_, i) => i)
    .filter((i) => approx[i]! > -Infinity)
    .sort((a, b) => approx[b]! - approx[a]!)
    .slice(0, Math.max(top, settings.candidates));
  const buf = new Float32Array(grid.points);
  const matches: Match[] = order.map((e) => {
    // scalings within one screening bin of the screen's best: a coarse pass, then the neighbours of its best
    const centre = Math.exp(row.shift[e]! * settings.du);
    let best = -Infinity;
    let bestScale = centre;
    const tryScale = (scale: number): void => {
      const c = pearson(q.profile, renderSticks(sticks[e]!, scale, q.from, q.to, grid, settings.libraryFwhm, buf), q.from, q.to);
      if (c > best) {
        best = c;
        bestScale = scale;
      }
    };
    for (const k of [-3, -1.5, 0, 1.5, 3]) tryScale(centre * (1 + k * REFINE_STEP));
    const coarse = bestScale;
    for (const k of [-1, -0.5, 0.5, 1]) tryScale(coarse * (1 + k * REFINE_STEP));
    const entry = lib.entries[e]!;
    const lines = lineCounts(q, sticks[e]!, bestScale, grid);
    return {
      entry: e,
      id: entry.id,
      mineral: entry.mineral,
      formula: entry.formula,
      spaceGroup: entry.spaceGroup!,
      crystalSystem: crystalSystemOf(entry.spaceGroup!),
      correlation: best,
      scale: bestScale,
      strongLines: lines.strong,
      linesFound: lines.found,
    };
  });
  return matches.sort((a, b) => b.correlation - a.correlation).slice(0, top);
}

/** Non-negative least-squares weights of two profiles against q over [from, to) (2x2, clamped). */
function fitWeights(q: Float32Array, parts: Float32Array[], from: number, to: number): number[] {
  // Coordinate descent: a handful of components, converges in a few sweeps.
  const w = parts.map(() => 0);
  const gram = parts.map((a) => parts.map((b) => dot(a, b, from, to)));
  const rhs = parts.map((a) => dot(a, q, from, to));
  for (let sweep = 0; sweep < 50; sweep++) {
    for (let i = 0; i < parts.length; i++) {
      let r = rhs[i]!;
      for (let j = 0; j < parts.length; j++) if (j !== i) r -= gram[i]![j]! * w[j]!;
      w[i] = gram[i]![i]! > 0 ? Math.max(0, r / gram[i]![i]!) : 0;
    }
  }
  return w;
}

function dot(a: Float32Array, b: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]! * b[i]!;
  return s;
}

/** The result for one measurement. */
export interface Identification {
  file: string;
  /** Best single-phase matches, best first. */
  matches: Match[];
  /** The phases kept by the multi-phase search (the first is matches[0]), with their fitted weights. */
  phases: (Match & { weight: number })[];
  /** Correlation of the joint fit of `phases` with the measurement. */
  jointCorrelation: number;
}

export interface IdentifyOptions {
  settings?: MatchSettings;
  grid?: Grid;
  filter?: EntryFilter;
  /** Matches listed per measurement (default 5). */
  top?: number;
  /** Phases searched at most (default 3; 1: single phase). */
  maxPhases?: number;
  /** A further phase is kept when it correlates this well with what is left ... */
  minResidualCorrelation?: number;
  /** ... and raises the joint fit's correlation by this much. */
  minGain?: number;
}

/**
 * Search-match of prepared measurements against a library on the GPU. `profiles` are the
 * library's ln d profiles (logProfiles) and `gpu` the same on the device.
 */
export async function identify(
  lib: Library,
  sticks: readonly EntrySticks[],
  profiles: Float32Array,
  gpu: GpuLibrary,
  queries: readonly PreparedQuery[],
  options: IdentifyOptions = {},
): Promise<Identification[]> {
  const settings = options.settings ?? DEFAULT_MATCH;
  const grid = options.grid ?? DEFAULT_GRID;
  const top = options.top ?? 5;
  const maxPhases = options.maxPhases ?? 3;
  const minRes = options.minResidualCorrelation ?? 0.5;
  const minGain = options.minGain ?? 0.03;
  const mask = filterMask(lib, options.filter ?? {});
  const n = lib.entries.length;
  const screen = await gpu.screen(queries);
  const results: Identification[] = queries.map((q, qi) => {
    const row = { best: screen.best.subarray(qi * n, (qi + 1) * n), shift: screen.shift.subarray(qi * n, (qi + 1) * n) };
    const matches = refineQuery(lib, sticks, profiles, q, row, mask, settings, grid, top);
    const first = matches[0];
    return { file: q.file, matches, phases: first ? [{ ...first, weight: 1 }] : [], jointCorrelation: first?.correlation ?? 0 };
  });
  // Further phases, one round per phase for all measurements at once.
  let open = results.map((_, i) => i).filter((i) => results[i]!.phases.length > 0);
  for (let phase = 2; phase <= maxPhases && open.length; phase++) {
    const residuals: PreparedQuery[] = [];
    const fits: Float32Array[][] = [];
    for (const i of open) {
      const q = queries[i]!;
      const parts = results[i]!.phases.map((p) => renderSticks(sticks[p.entry]!, p.scale, q.from, q.to, grid, settings.libraryFwhm));
      const w = fitWeights(q.profile, parts, q.from, q.to);
      const rest = new Float32Array(grid.points);
      for (let t = q.from; t < q.to; t++) {
        let fit = 0;
        parts.forEach((p, j) => (fit += w[j]! * p[t]!));
        rest[t] = Math.max(0, q.profile[t]! - fit);
      }
      residuals.push(prepareResidual(q, rest, settings, grid));
      fits.push(parts);
    }
    const rs = await gpu.screen(residuals);
    const still: number[] = [];
    open.forEach((i, k) => {
      const q = queries[i]!;
      const res = results[i]!;
      const used = new Set(res.phases.map((p) => entryLabel(lib.entries[p.entry]!)));
      const m2 = Uint8Array.from(lib.entries, (e, j) => ((mask ? mask[j] : 1) && !used.has(entryLabel(e)) ? 1 : 0));
      const row = { best: rs.best.subarray(k * n, (k + 1) * n), shift: rs.shift.subarray(k * n, (k + 1) * n) };
      const cand = refineQuery(lib, sticks, profiles, residuals[k]!, row, m2, settings, grid, 1)[0];
      if (!cand || cand.correlation < minRes) return;
      const parts = [...fits[k]!, renderSticks(sticks[cand.entry]!, cand.scale, q.from, q.to, grid, settings.libraryFwhm)];
      const w = fitWeights(q.profile, parts, q.from, q.to);
      const joint = new Float32Array(grid.points);
      for (let t = q.from; t < q.to; t++) parts.forEach((p, j) => (joint[t]! += w[j]! * p[t]!));
      const c = pearson(q.profile, joint, q.from, q.to);
      if (c - res.jointCorrelation < minGain || w[w.length - 1]! <= 0) return;
      res.phases.push({ ...cand, weight: 0 });
      const total = w.reduce((a, b) => a + b, 0);
      res.phases.forEach((p, j) => (p.weight = w[j]! / total));
      res.jointCorrelation = c;
      still.push(i);
    });
    open = still;
  }
  return results;
}

/** A residual profile as a query (same coverage and floor as the measurement it came from). */
function prepareResidual(q: PreparedQuery, rest: Float32Array, settings: MatchSettings, grid: Grid): PreparedQuery {
  return queryOf(q.file, rest, q.from, q.to, q.floor, settings, grid);
}
