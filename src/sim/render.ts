// GPU rendering of powder patterns (kernels/pattern.wgsl) from CPU-prepared peak lists.
//
// Public API (stable):
//   DEFAULT_GRID, gridOf(), gridTwoTheta(): the 2-theta grid (default 5.00..89.99 deg in
//     0.01 deg steps, 8500 points, lambda 1.5418 A).
//   PatternSpec: one pattern to render: peaks (centre, FWHM, Lorentzian fraction eta, integrated
//     area, sorted by centre), Chebyshev background, amorphous hump, noise levels, noise seed.
//     Build them with applyEffects() (effects.ts) or by hand.
//   renderPatterns(engine, specs, grid?, options?) -> Tensor f32 [B, P], normalised to max 1
//     (unless options.normalize is false). B * P * 4 bytes must fit the device's storage binding
//     limit (128 MiB on lavapipe: B <= 3947 at 8500 points); renderPatternsChunked() splits a
//     larger batch into several tensors. The caller disposes the tensors.
//   maxPatternsPerTensor(engine, grid): the largest B one tensor can hold.
//
// The math, shared with the CPU reference (test/reference/render.ts), for point x_j = x0 + j step:
//   y_j = sum_i area_i * pV_i(x_j - c_i) [only where |x_j - c_i| <= cut_i]
//         + sum_n cheb_n T_n(t_j) + hump(x_j),    t_j = 2 j / (P - 1) - 1
//   pV = (1 - eta) G + eta L with unit-area G(d) = (2/H) sqrt(ln2/pi) exp(-4 ln2 d^2/H^2) and
//   L(d) = (2/(pi H)) / (1 + 4 d^2/H^2);  hump = A [(1-eta_h) exp(-4ln2 d^2/W^2) + eta_h/(1+4d^2/W^2)].
//   Then Poisson counting noise y <- Poisson(counts * y) / counts (counts > 0), Gaussian
//   detector noise y += sigma N(0,1), uniform noise y += u U[0,1); finally y / max_j y.
//   Random numbers: a 32-bit hash of (seed, j, stream), see hash32/uniform01 below.
// Truncation: a peak is evaluated within |d| <= cut, where its Gaussian and Lorentzian parts have
// both dropped below tolerance/2 x the pattern's tallest peak height (default tolerance 3e-5), but
// never beyond GAUSS_WINDOW = 5 FWHM (pure Gaussian) or lorentzWindow FWHM (any Lorentzian part,
// default 30: there a Lorentzian is at 2.8e-4 of its height and has lost ~1 % of its area). So
// weak peaks get short windows and strong Lorentzian tails long ones. Measured on 'realistic'
// patterns: worst error 7.4e-4 and mean 1.7e-4 of the tallest peak (the test bounds it by 1e-3);
// tolerance 0 gives the same worst case at twice the cost. Peaks below tolerance/2 everywhere
// (cut 0) are left out.
// Each GPU invocation handles 8 consecutive points and visits only the index range of the
// pattern's sorted peaks whose windows can reach them: with the running maximum of window ends
// and the running minimum (from the right) of window starts uploaded per peak, a binary search
// finds the first and the loop stops at the last. So a point's cost grows with the peaks whose
// windows cover it (short windows for weak peaks), not with the pattern's widest window.

import type { Engine } from '../engine/engine.ts';
import { ShapeError, ValueError } from '../engine/errors.ts';
import type { Tensor } from '../engine/tensor.ts';

export interface Grid {
  /** First point, degrees 2-theta. */
  twoThetaMin: number;
  /** Step, degrees. */
  step: number;
  /** Number of points. */
  points: number;
  /** Wavelength in angstrom used to position peaks (unless a K-alpha doublet overrides it). */
  wavelength: number;
}

/** 5.00..89.99 deg in 0.01 deg steps (8500 points), Cu K-alpha 1.5418 A: the paper's grid. */
export const DEFAULT_GRID: Readonly<Grid> = Object.freeze({ twoThetaMin: 5, step: 0.01, points: 8500, wavelength: 1.5418 });

/** A grid with defaults filled in and checked. Throws ValueError. */
export function gridOf(g: Partial<Grid> = {}): Grid {
  const grid = { ...DEFAULT_GRID, ...g };
  const { twoThetaMin, step, points, wavelength } = grid;
  if (!(twoThetaMin >= 0) || !(step > 0) || !Number.isInteger(points) || points < 1 || !(wavelength > 0)) {
    throw new ValueError(
      `grid needs twoThetaMin >= 0, step > 0, an integer points >= 1 and wavelength > 0; got ${JSON.stringify(grid)}`,
    );
  }
  if (twoThetaMin + (points - 1) * step >= 180) {
    throw new ValueError(`grid ends at ${twoThetaMin + (points - 1) * step} deg; it must stay below 180 deg 2-theta`);
  }
  return grid;
}

/** Last point of the grid, degrees. */
export function gridMax(g: Grid): number {
  return g.twoThetaMin + (g.points - 1) * g.step;
}

/** The 2-theta value of every grid point. */
export function gridTwoTheta(g: Grid = DEFAULT_GRID): Float64Array {
  const x = new Float64Array(g.points);
  for (let j = 0; j < g.points; j++) x[j] = g.twoThetaMin + j * g.step;
  return x;
}

export interface Hump {
  /** Height (same units as peak heights: the strongest peak is 1 before overlap). */
  amplitude: number;
  /** Degrees 2-theta. */
  center: number;
  /** Degrees. */
  fwhm: number;
  /** Lorentzian fraction 0..1. */
  eta: number;
}

/** One pattern for the renderer. Peak arrays are parallel and sorted by `center`. */
export interface PatternSpec {
  count: number;
  /** Degrees 2-theta, ascending. */
  center: Float64Array;
  /** Degrees. */
  fwhm: Float64Array;
  /** Lorentzian fraction 0..1 (0 = Gaussian, 1 = Lorentzian). */
  eta: Float64Array;
  /** Integrated intensity (height x degrees). */
  area: Float64Array;
  /** Chebyshev coefficients (at most MAX_CHEBYSHEV) over the grid mapped to [-1, 1]. */
  chebyshev: number[];
  hump: Hump | null;
  /** Poisson counts at intensity 1; 0 = no counting noise. */
  counts: number;
  /** Gaussian detector noise sigma (intensity units, before normalisation). */
  gaussianSigma: number;
  /** Uniform noise U[0, uniformMax) added per point. */
  uniformMax: number;
  /** Noise seed, a 32-bit unsigned integer. */
  seed: number;
}

export interface RenderOptions {
  /** Divide each pattern by its maximum (default true). */
  normalize?: boolean;
  /** Largest half window of peaks with a Lorentzian part, in FWHM (default LORENTZ_WINDOW). */
  lorentzWindow?: number;
  /** Truncation threshold relative to the tallest peak's height (default DEFAULT_TOLERANCE; 0 = windows at their caps). */
  tolerance?: number;
}

export const MAX_CHEBYSHEV = 8;
/** Half window of pure Gaussian peaks in FWHM: exp(-4 ln2 25) ~ 1e-30. */
export const GAUSS_WINDOW = 5;
/** Default half window of peaks with a Lorentzian part in FWHM: tail height < 1/(1 + 4*30^2). */
export const LORENTZ_WINDOW = 30;

const LN2 = Math.LN2;
const SQRT_LN2_PI = Math.sqrt(Math.LN2 / Math.PI);

/** Default truncation threshold, relative to the tallest peak of a pattern. */
export const DEFAULT_TOLERANCE = 3e-5;

/**
 * Half window (same unit as fwhm) of a peak with Gaussian and Lorentzian heights hG, hL: where
 * both parts are below tolAbs / 2, capped at GAUSS_WINDOW or lorentzWindow FWHM; 0 = negligible.
 */
export function peakCut(fwhm: number, eta: number, hG: number, hL: number, tolAbs: number, lorentzWindow = LORENTZ_WINDOW): number {
  const cap = eta > 0 ? lorentzWindow : GAUSS_WINDOW;
  const half = tolAbs / 2;
  const kG = hG > half ? Math.sqrt(Math.log(hG / half) / (4 * LN2)) : 0;
  const kL = hL > half ? Math.sqrt((hL / half - 1) / 4) : 0;
  return Math.min(cap, Math.max(kG, kL)) * fwhm;
}

/** Absolute truncation threshold of a pattern: tolerance x its tallest peak height. */
export function toleranceOf(spec: PatternSpec, tolerance = DEFAULT_TOLERANCE): number {
  let tallest = 0;
  for (let i = 0; i < spec.count; i++) tallest = Math.max(tallest, Math.abs(spec.area[i]) * profileHeight(spec.fwhm[i], spec.eta[i]));
  return tolerance * tallest;
}

/** Height at the centre of a unit-area pseudo-Voigt of this FWHM (degrees) and eta. */
export function profileHeight(fwhm: number, eta: number): number {
  return (1 - eta) * (2 / fwhm) * SQRT_LN2_PI + eta * (2 / (Math.PI * fwhm));
}

/** Value at offset d (degrees) of a pseudo-Voigt with this area, FWHM and eta. */
export function profileValue(d: number, area: number, fwhm: number, eta: number): number {
  const x2 = (d * d) / (fwhm * fwhm);
  return area * ((1 - eta) * (2 / fwhm) * SQRT_LN2_PI * Math.exp(-4 * LN2 * x2) + (eta * 2) / (Math.PI * fwhm * (1 + 4 * x2)));
}

// ---- counter-based random numbers (identical in the WGSL) --------------------------------

export function hash32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform [0, 1) with 24 bits for (key = hash32(seed), point j, stream). */
export function uniform01(key: number, j: number, stream: number): number {
  const h = hash32((key ^ hash32((Math.imul(j, 8) + stream) >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

// ---- packing ----------------------------------------------------------------------------

function checkSpec(s: PatternSpec, b: number): void {
  const where = `renderPatterns: pattern ${b}`;
  if (!Number.isInteger(s.count) || s.count < 0) throw new ValueError(`${where}: count must be a non-negative integer, got ${s.count}`);
  for (const k of ['center', 'fwhm', 'eta', 'area'] as const) {
    if (s[k].length < s.count) throw new ShapeError(`${where}: ${k} has ${s[k].length} values for ${s.count} peaks`);
  }
  if (s.chebyshev.length > MAX_CHEBYSHEV) {
    throw new ValueError(`${where}: at most ${MAX_CHEBYSHEV} Chebyshev coefficients, got ${s.chebyshev.length}`);
  }
  if (!Number.isInteger(s.seed) || s.seed < 0 || s.seed > 0xffffffff) throw new ValueError(`${where}: seed must be a u32, got ${s.seed}`);
  if (!(s.counts >= 0) || !(s.gaussianSigma >= 0) || !(s.uniformMax >= 0)) {
    throw new ValueError(`${where}: counts, gaussianSigma and uniformMax must be >= 0`);
  }
  for (let i = 0; i < s.count; i++) {
    if (!(s.fwhm[i] > 0) || !(s.eta[i] >= 0 && s.eta[i] <= 1) || !Number.isFinite(s.area[i]) || !Number.isFinite(s.center[i])) {
      throw new ValueError(
        `${where}, peak ${i}: needs a finite centre and area, FWHM > 0 and 0 <= eta <= 1 (got centre ${s.center[i]}, FWHM ${s.fwhm[i]}, eta ${s.eta[i]}, area ${s.area[i]})`,
      );
    }
    if (i > 0 && s.center[i] < s.center[i - 1]) throw new ValueError(`${where}: peaks must be sorted by centre (peak ${i})`);
  }
}

interface Packed {
  peaks: Float32Array;
  info: Uint32Array;
  params: Float32Array;
}

/** Typed arrays for the kernel (layout in kernels/pattern.wgsl). */
function pack(specs: readonly PatternSpec[], grid: Grid, lorentzWindow: number, tolerance: number): Packed {
  let total = 0;
  for (const s of specs) total += s.count;
  const peaks = new Float32Array(Math.max(1, total) * 8);
  const info = new Uint32Array(specs.length * 4);
  const params = new Float32Array(specs.length * 16);
  const x0 = grid.twoThetaMin;
  const inv = 1 / grid.step;
  let maxCount = 0;
  for (const s of specs) maxCount = Math.max(maxCount, s.count);
  const scratchC = new Float64Array(maxCount);
  const scratchCut = new Float64Array(maxCount);
  let o = 0;
  specs.forEach((s, b) => {
    info[b * 4] = o;
    info[b * 4 + 2] = s.seed;
    info[b * 4 + 3] = s.chebyshev.length;
    const tolAbs = toleranceOf(s, tolerance);
    let n = 0;
    for (let i = 0; i < s.count; i++) {
      const eta = s.eta[i];
      const hG = s.area[i] * (1 - eta) * (2 / s.fwhm[i]) * SQRT_LN2_PI;
      const hL = (s.area[i] * eta * 2) / (Math.PI * s.fwhm[i]);
      const h = s.fwhm[i] * inv;
      const cut = peakCut(h, eta, Math.abs(hG), Math.abs(hL), tolAbs, lorentzWindow);
      if (cut <= 0) continue;
      const c = (s.center[i] - x0) * inv;
      const ci = Math.floor(c);
      const p = (o + n) * 8;
      scratchC[n] = c;
      scratchCut[n] = cut;
      peaks[p] = ci;
      peaks[p + 1] = c - ci;
      peaks[p + 2] = cut;
      peaks[p + 4] = hG;
      peaks[p + 6] = hL;
      peaks[p + 7] = 4 / (h * h);
      n++;
    }
    // Running max of window ends (forwards) and min of window starts (backwards).
    let endMax = -Infinity;
    for (let i = 0; i < n; i++) {
      endMax = Math.max(endMax, scratchC[i] + scratchCut[i]);
      peaks[(o + i) * 8 + 3] = endMax;
    }
    let startMin = Infinity;
    for (let i = n - 1; i >= 0; i--) {
      startMin = Math.min(startMin, scratchC[i] - scratchCut[i]);
      peaks[(o + i) * 8 + 5] = startMin;
    }
    info[b * 4 + 1] = n;
    o += n;
    const q = b * 16;
    params[q + 1] = s.counts;
    params[q + 2] = s.gaussianSigma;
    params[q + 3] = s.uniformMax;
    if (s.hump && s.hump.amplitude !== 0) {
      const w = s.hump.fwhm * inv;
      params[q + 4] = s.hump.amplitude;
      params[q + 5] = (s.hump.center - x0) * inv;
      params[q + 6] = (4 * LN2) / (w * w);
      params[q + 7] = s.hump.eta;
    }
    for (let n = 0; n < s.chebyshev.length; n++) params[q + 8 + n] = s.chebyshev[n];
  });
  return { peaks, info, params };
}

/** Largest number of patterns of this grid that fit one storage binding. */
export function maxPatternsPerTensor(engine: Engine, grid: Grid = DEFAULT_GRID): number {
  return Math.floor(engine.info.limits.maxStorageBufferBindingSize / (grid.points * 4));
}

/**
 * Renders patterns into a new f32 tensor [specs.length, grid.points] (records GPU work, no
 * readback). Throws ShapeError when the batch does not fit one tensor (use renderPatternsChunked).
 */
export function renderPatterns(
  engine: Engine,
  specs: readonly PatternSpec[],
  grid: Partial<Grid> = DEFAULT_GRID,
  options: RenderOptions = {},
): Tensor<'f32'> {
  const g = gridOf(grid);
  const B = specs.length;
  if (B === 0) throw new ShapeError('renderPatterns: no patterns given');
  const maxB = maxPatternsPerTensor(engine, g);
  if (B > maxB) {
    throw new ShapeError(
      `renderPatterns: ${B} patterns of ${g.points} points need ${B * g.points * 4} bytes, over this device's storage binding limit; ` +
        `render at most ${maxB} per tensor (renderPatternsChunked does this)`,
    );
  }
  if (B > engine.info.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(`renderPatterns: batch ${B} exceeds ${engine.info.limits.maxComputeWorkgroupsPerDimension} workgroups per dimension`);
  }
  const lorentzWindow = options.lorentzWindow ?? LORENTZ_WINDOW;
  if (!(lorentzWindow > 0)) throw new ValueError(`renderPatterns: lorentzWindow must be > 0, got ${lorentzWindow}`);
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  if (!(tolerance >= 0 && tolerance < 1)) throw new ValueError(`renderPatterns: tolerance must be in [0, 1), got ${tolerance}`);
  specs.forEach(checkSpec);
  const packed = pack(specs, g, lorentzWindow, tolerance);
  const peaks = engine.tensor(packed.peaks, [packed.peaks.length]);
  const info = engine.tensor(packed.info, [packed.info.length], 'u32');
  const params = engine.tensor(packed.params, [packed.params.length]);
  const out = engine.empty([B, g.points]);
  const p = { batch: B, points: g.points, _pad0: 0, _pad1: 0 };
  engine.dispatch('pattern', 'render', {
    bindings: { p, peaks, info, params, out },
    workgroups: [Math.ceil(g.points / (8 * 64)), B],
  });
  if (options.normalize ?? true) engine.dispatch('pattern', 'normalize', { bindings: { p, out }, workgroups: [B] });
  peaks.dispose();
  info.dispose();
  params.dispose();
  return out;
}

/** Renders any number of patterns as tensors of at most `maxPerTensor` patterns each (in order). */
export function renderPatternsChunked(
  engine: Engine,
  specs: readonly PatternSpec[],
  grid: Partial<Grid> = DEFAULT_GRID,
  options: RenderOptions & { maxPerTensor?: number } = {},
): Tensor<'f32'>[] {
  const g = gridOf(grid);
  const per = Math.min(options.maxPerTensor ?? Infinity, maxPatternsPerTensor(engine, g));
  if (!(per >= 1)) throw new ShapeError(`renderPatternsChunked: maxPerTensor must be >= 1, got ${options.maxPerTensor}`);
  const out: Tensor<'f32'>[] = [];
  for (let i = 0; i < specs.length; i += per) out.push(renderPatterns(engine, specs.slice(i, i + per), g, options));
  return out;
}
