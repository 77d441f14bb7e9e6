// Experimental effects on simulated powder patterns: a seeded config of ranges, per-pattern draws,
// and the CPU step that turns a crystal's structure factors plus one draw into a PatternSpec for
// the renderer (render.ts). Structure factors are computed once per crystal (preparePhase);
// everything here is per pattern and cheap (one pass over the hkl list, a sort).
//
// Public API (stable):
//   EffectsConfig, PRESETS ('paper' | 'clean' | 'realistic'), effectsPreset(name),
//   resolveEffects(config | name) (validated copy; throws EffectsConfigError),
//   drawEffects(config, rng) -> PatternEffects (plain numbers, JSON-serialisable),
//   preparePhase(crystal, { grid, config }) -> Phase (structure factors, once per crystal),
//   applyEffects(phases, effects, grid) -> PatternSpec (phases[0] = main phase, phases[1..] =
//     impurities, paired with effects.impurities in order),
//   and the formulas: cagliotiFwhm, scherrerFwhm, tchPseudoVoigt, marchDollase,
//   displacementShift, deformLattice, crystalSystemOfLattice.
//
// Conventions and definitions:
//   Widths in degrees 2-theta. Gaussian instrument width from Caglioti,
//     H_G^2 = U tan^2 th + V tan th + W (clamped at 0), Lorentzian instrument width
//     H_L = X tan th + Y / cos th. Scherrer crystallite broadening beta = K lambda / (L cos th)
//     (radians 2-theta, K = 0.9, L in angstrom) adds to H_L ('lorentzian' shape, linear sum) or to
//     H_G ('gaussian' shape, in quadrature). Profiles: 'pseudo-voigt' = Thompson-Cox-Hastings
//     (total FWHM and eta from H_G and H_L); 'gaussian' = one Gaussian of FWHM
//     sqrt(H_G^2 + H_L^2); 'lorentzian' = one Lorentzian of FWHM H_G + H_L.
//   Intensity of a reflection: |F|^2 x multiplicity x Lorentz-polarisation x March-Dollase.
//   K-alpha doublet: alpha1 peaks at lambda1 and alpha2 peaks at lambda2 from the same d (Bragg's
//     law), alpha2 area = ratio x alpha1 area. Without the doublet peaks sit at grid.wavelength.
//   Zero shift z (deg) and sample displacement s (mm, goniometer radius R mm):
//     2th_obs = 2th + z - (2 s cos th / R) (rad -> deg).
//   Preferred orientation (March-Dollase): P = (r^2 cos^2 a + sin^2 a / r)^(-3/2), a the angle
//     between the reflection's reciprocal vector and the direction's. Approximation: a merged
//     reflection (a set of equivalent hkl) uses its representative hkl only, not the average of P
//     over its members; exact when all members make the same angle with the direction (e.g. [001]
//     in a tetragonal or hexagonal crystal), approximate otherwise.
//   Impurity fraction f_k: the integrated intensity of phase k over the grid (sum of the areas of
//     its peaks whose centres fall on the grid) divided by that of all phases is f_k; the main
//     phase gets 1 - sum f_k. This is an intensity fraction, not a true weight fraction (which
//     would need each phase's reference intensity ratio).
//   Lattice changes (main phase only; impurities keep their cells), in this order: random strain that keeps the crystal system's constraints
//     (lengths x (1 + e), free angles + delta; cubic stays cubic, tetragonal keeps a = b,
//     hexagonal/trigonal keep a = b and gamma = 120, rhombohedral axes keep a = b = c and
//     alpha = beta = gamma, monoclinic keeps the two right angles), then uniaxial strain (one
//     cell edge x (1 + e), which may lower the symmetry: equivalent reflections then split, so the
//     unmerged hkl list is used), then isotropic scaling. |F|^2 is kept from the unstrained cell.
//   Heights: after weighting the phases, areas are scaled so the tallest single peak on the grid
//     is 1; background levels, hump amplitude, noise sigma and uniform noise are in those units,
//     Poisson counts are the counts at height 1. The renderer finally divides by the maximum.
//   Every effect has `enabled` and `probability` (applied in that fraction of patterns).
// The paper's lattice-augmentation test: start from 'paper' and set
//   scale = { enabled: true, range: [0.5, 1.5] } (uniaxial: uniaxialStrain.range); preparePhase
//   then enumerates hkl far enough for the smallest cell (sMaxFactor; 8x the hkl at scale 0.5).
// Typical use (what stream.ts does):
//   const config = resolveEffects('realistic');
//   const phase = preparePhase(crystal, { grid, config });            // once per crystal
//   const spec = applyEffects([phase], drawEffects(config, rng.fork(i)), grid);  // per pattern
//   const patterns = renderPatterns(engine, specs, grid);             // per batch, on the GPU

import type { Crystal, CrystalSystem, Lattice, Mat3, Vec3 } from './crystal.ts';
import { crystalSystemOf, reciprocalMetric } from './crystal.ts';
import type { Rng } from './random.ts';
import { mergeEquivalents, structureFactors, type StructureFactors } from './reflections.ts';
import { DEFAULT_GRID, GAUSS_WINDOW, LORENTZ_WINDOW, MAX_CHEBYSHEV, gridMax, profileHeight, type Grid, type PatternSpec } from './render.ts';
import { detectSpaceGroup } from './spacegroup.ts';

export class EffectsConfigError extends Error {
  override name = 'EffectsConfigError';
}

export type Range = [number, number];
export type ProfileShape = 'gaussian' | 'lorentzian' | 'pseudo-voigt';

interface Toggle {
  enabled: boolean;
  /** Fraction of patterns that get the effect when enabled (default 1). */
  probability?: number;
}

/** One instrument setting; each value drawn uniformly from its range ([x, x] = fixed). */
export interface CagliotiSetting {
  U: Range;
  V: Range;
  W: Range;
  /** Lorentzian instrument width H_L = X tan th + Y / cos th (default [0, 0]). */
  X?: Range;
  Y?: Range;
}

export interface EffectsConfig {
  /** Profile shapes, one picked uniformly per pattern. */
  profiles: ProfileShape[];
  /** Instrument settings, one picked uniformly per pattern. */
  caglioti: CagliotiSetting[];
  /** Crystallite size L in angstrom; K default 0.9. */
  scherrer: Toggle & { size: Range; shape: 'lorentzian' | 'gaussian'; K?: number };
  kAlpha2: Toggle & { lambda1: number; lambda2: number; ratio: number };
  /** Degrees 2-theta. */
  zeroShift: Toggle & { range: Range };
  /** Displacement in mm, goniometer radius in mm. */
  displacement: Toggle & { range: Range; radius: number };
  preferredOrientation: Toggle & { r: Range; directions: Vec3[] };
  /** Number of impurity phases [min, max] and the intensity fraction of each. */
  impurities: Toggle & { count: [number, number]; fraction: Range };
  /** Isotropic lattice scale factor. */
  scale: Toggle & { range: Range };
  /** Relative strain of one cell edge (a, b or c, picked uniformly). */
  uniaxialStrain: Toggle & { range: Range };
  /** Relative strain of each free edge, and change of each free angle in degrees. */
  randomStrain: Toggle & { range: Range; angleRange: Range };
  /**
   * Chebyshev background: c0 drawn from `level`, c1..c_{order} from +-variation * c0 / order (so
   * the background stays >= (1 - variation) c0 > 0).
   */
  background: Toggle & { order: number; level: Range; variation: number };
  /** Amorphous hump: pseudo-Voigt of this height, centre (deg), FWHM (deg) and eta. */
  hump: Toggle & { amplitude: Range; center: Range; fwhm: Range; eta: Range };
  /** Poisson counts at height 1, drawn log-uniformly. */
  poisson: Toggle & { counts: Range };
  /** Gaussian detector noise sigma (height units). */
  gaussianNoise: Toggle & { sigma: Range };
  /** Uniform noise U[0, a) per point, a drawn from `amplitude` (height units). */
  uniformNoise: Toggle & { amplitude: Range };
}

/** One pattern's effects: plain numbers (JSON-serialisable, recorded in stream metadata). */
export interface PatternEffects {
  profile: ProfileShape;
  U: number;
  V: number;
  W: number;
  X: number;
  Y: number;
  /** Crystallite size (angstrom) or null. */
  crystalliteSize: number | null;
  scherrerShape: 'lorentzian' | 'gaussian';
  scherrerK: number;
  kAlpha2: { lambda1: number; lambda2: number; ratio: number } | null;
  zeroShift: number;
  displacement: { s: number; radius: number } | null;
  preferredOrientation: { hkl: Vec3; r: number } | null;
  /** Intensity fraction of each impurity; `pick` in [0, 1) lets the caller choose the phase. */
  impurities: { fraction: number; pick: number }[];
  lattice: {
    scale: number;
    /** Relative strains e0..e2 of the edges and angle changes d0..d2 (degrees), or null. */
    strain: { edges: Vec3; angles: Vec3 } | null;
    uniaxial: { axis: 0 | 1 | 2; strain: number } | null;
  };
  chebyshev: number[];
  hump: { amplitude: number; center: number; fwhm: number; eta: number } | null;
  counts: number;
  gaussianSigma: number;
  uniformMax: number;
  /** Noise seed (u32). */
  seed: number;
}

const off = { enabled: false };
const r = (a: number, b: number = a): Range => [a, b];

function baseConfig(): EffectsConfig {
  return {
    profiles: ['gaussian'],
    caglioti: [{ U: r(0), V: r(0), W: r(0.0025) }],
    scherrer: { ...off, size: r(200, 2000), shape: 'lorentzian' },
    kAlpha2: { ...off, lambda1: 1.5406, lambda2: 1.5444, ratio: 0.5 },
    zeroShift: { ...off, range: r(-0.1, 0.1) },
    displacement: { ...off, range: r(-0.1, 0.1), radius: 240 },
    preferredOrientation: { ...off, r: r(0.7, 1.3), directions: [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]] },
    impurities: { ...off, count: [1, 2], fraction: r(0.02, 0.15) },
    scale: { ...off, range: r(0.98, 1.02) },
    uniaxialStrain: { ...off, range: r(-0.01, 0.01) },
    randomStrain: { ...off, range: r(-0.01, 0.01), angleRange: r(-0.3, 0.3) },
    background: { ...off, order: 4, level: r(0, 0.08), variation: 0.5 },
    hump: { ...off, amplitude: r(0, 0.06), center: r(15, 35), fwhm: r(5, 15), eta: r(0, 1) },
    poisson: { ...off, counts: r(200, 50000) },
    gaussianNoise: { ...off, sigma: r(0, 0.005) },
    uniformNoise: { ...off, amplitude: r(0.002, 0.019) },
  };
}

export type PresetName = 'paper' | 'clean' | 'realistic';

/**
 * 'paper': the paper's four Caglioti settings, Gaussian peaks, uniform noise of 2-19 on the 0-1000
 *   scale, nothing else. 'clean': one fixed narrow Gaussian (FWHM 0.05 deg), no effects.
 *   'realistic': every effect on with moderate ranges (the training default).
 */
export const PRESETS: Record<PresetName, () => EffectsConfig> = {
  clean: baseConfig,
  paper: () => ({
    ...baseConfig(),
    caglioti: [
      { U: r(0.05), V: r(-0.06), W: r(0.07) },
      { U: r(0.05), V: r(-0.01), W: r(0.01) },
      { U: r(0), V: r(0), W: r(0.01) },
      { U: r(0), V: r(0), W: r(0.001, 0.1) },
    ],
    uniformNoise: { enabled: true, amplitude: r(0.002, 0.019) },
  }),
  realistic: () => {
    const c = baseConfig();
    return {
      ...c,
      profiles: ['pseudo-voigt', 'pseudo-voigt', 'gaussian'],
      caglioti: [{ U: r(0, 0.03), V: r(-0.02, 0), W: r(0.001, 0.02), X: r(0, 0.03), Y: r(0, 0.02) }],
      scherrer: { ...c.scherrer, enabled: true, probability: 0.7 },
      kAlpha2: { ...c.kAlpha2, enabled: true, probability: 0.5 },
      zeroShift: { ...c.zeroShift, enabled: true, probability: 0.7 },
      displacement: { ...c.displacement, enabled: true, probability: 0.5 },
      preferredOrientation: { ...c.preferredOrientation, enabled: true, probability: 0.3 },
      impurities: { ...c.impurities, enabled: true, probability: 0.2 },
      scale: { ...c.scale, enabled: true, probability: 0.3 },
      uniaxialStrain: { ...c.uniaxialStrain, enabled: true, probability: 0.1 },
      randomStrain: { ...c.randomStrain, enabled: true, probability: 0.3 },
      background: { ...c.background, enabled: true, probability: 0.9 },
      hump: { ...c.hump, enabled: true, probability: 0.3 },
      poisson: { ...c.poisson, enabled: true, probability: 0.8 },
      gaussianNoise: { ...c.gaussianNoise, enabled: true, probability: 0.5 },
      uniformNoise: { ...c.uniformNoise, enabled: true, probability: 0.3, amplitude: r(0.002, 0.01) },
    };
  },
};

/** A fresh copy of a preset (modify it freely). */
export function effectsPreset(name: PresetName): EffectsConfig {
  const make = PRESETS[name];
  if (!make) throw new EffectsConfigError(`unknown effects preset '${name}'; use one of ${Object.keys(PRESETS).join(', ')}`);
  return make();
}

function checkRange(path: string, v: Range, lo = -Infinity, hi = Infinity): void {
  if (!Array.isArray(v) || v.length !== 2 || !Number.isFinite(v[0]) || !Number.isFinite(v[1]) || v[0] > v[1]) {
    throw new EffectsConfigError(`effects.${path} must be a range [lo, hi] of finite numbers with lo <= hi, got ${JSON.stringify(v)}`);
  }
  if (v[0] < lo || v[1] > hi) throw new EffectsConfigError(`effects.${path} must lie within [${lo}, ${hi}], got ${JSON.stringify(v)}`);
}

function checkToggle(path: string, t: Toggle | undefined): void {
  if (!t || typeof t.enabled !== 'boolean') throw new EffectsConfigError(`effects.${path}.enabled must be true or false`);
  const p = t.probability ?? 1;
  if (!(p >= 0 && p <= 1)) throw new EffectsConfigError(`effects.${path}.probability must be in [0, 1], got ${p}`);
}

/** A validated copy of a config or preset. Throws EffectsConfigError naming the bad field. */
export function resolveEffects(config: EffectsConfig | PresetName): EffectsConfig {
  const c: EffectsConfig = typeof config === 'string' ? effectsPreset(config) : structuredClone(config);
  const profiles: ProfileShape[] = ['gaussian', 'lorentzian', 'pseudo-voigt'];
  if (!Array.isArray(c.profiles) || c.profiles.length === 0 || c.profiles.some((p) => !profiles.includes(p))) {
    throw new EffectsConfigError(`effects.profiles must be a non-empty list of ${profiles.join(', ')}; got ${JSON.stringify(c.profiles)}`);
  }
  if (!Array.isArray(c.caglioti) || c.caglioti.length === 0) throw new EffectsConfigError('effects.caglioti needs at least one setting');
  c.caglioti.forEach((s, i) => {
    for (const k of ['U', 'V', 'W'] as const) checkRange(`caglioti[${i}].${k}`, s[k]);
    if (s.X) checkRange(`caglioti[${i}].X`, s.X);
    if (s.Y) checkRange(`caglioti[${i}].Y`, s.Y);
  });
  checkToggle('scherrer', c.scherrer);
  checkRange('scherrer.size', c.scherrer.size, 1e-6);
  if (c.scherrer.shape !== 'lorentzian' && c.scherrer.shape !== 'gaussian') throw new EffectsConfigError(`effects.scherrer.shape must be 'lorentzian' or 'gaussian'`);
  checkToggle('kAlpha2', c.kAlpha2);
  if (!(c.kAlpha2.lambda1 > 0 && c.kAlpha2.lambda2 > 0 && c.kAlpha2.ratio >= 0)) {
    throw new EffectsConfigError('effects.kAlpha2 needs lambda1 > 0, lambda2 > 0 and ratio >= 0');
  }
  checkToggle('zeroShift', c.zeroShift);
  checkRange('zeroShift.range', c.zeroShift.range);
  checkToggle('displacement', c.displacement);
  checkRange('displacement.range', c.displacement.range);
  if (!(c.displacement.radius > 0)) throw new EffectsConfigError('effects.displacement.radius must be > 0 (mm)');
  checkToggle('preferredOrientation', c.preferredOrientation);
  checkRange('preferredOrientation.r', c.preferredOrientation.r, 1e-6);
  if (c.preferredOrientation.directions.length === 0 || c.preferredOrientation.directions.some((d) => d.length !== 3 || d.every((x) => x === 0))) {
    throw new EffectsConfigError('effects.preferredOrientation.directions must be a non-empty list of non-zero [h, k, l]');
  }
  checkToggle('impurities', c.impurities);
  const [n0, n1] = c.impurities.count;
  if (!Number.isInteger(n0) || !Number.isInteger(n1) || n0 < 0 || n1 < n0) throw new EffectsConfigError('effects.impurities.count must be integers [min, max] with 0 <= min <= max');
  checkRange('impurities.fraction', c.impurities.fraction, 0, 1);
  if (n1 * c.impurities.fraction[1] >= 1) throw new EffectsConfigError('effects.impurities: count max x fraction max must be < 1 (the main phase needs a share)');
  checkToggle('scale', c.scale);
  checkRange('scale.range', c.scale.range, 1e-3);
  checkToggle('uniaxialStrain', c.uniaxialStrain);
  checkRange('uniaxialStrain.range', c.uniaxialStrain.range, -0.5, 0.5);
  checkToggle('randomStrain', c.randomStrain);
  checkRange('randomStrain.range', c.randomStrain.range, -0.5, 0.5);
  checkRange('randomStrain.angleRange', c.randomStrain.angleRange, -10, 10);
  checkToggle('background', c.background);
  if (!Number.isInteger(c.background.order) || c.background.order < 0 || c.background.order >= MAX_CHEBYSHEV) {
    throw new EffectsConfigError(`effects.background.order must be an integer 0..${MAX_CHEBYSHEV - 1}`);
  }
  checkRange('background.level', c.background.level, 0);
  if (!(c.background.variation >= 0 && c.background.variation <= 1)) throw new EffectsConfigError('effects.background.variation must be in [0, 1]');
  checkToggle('hump', c.hump);
  checkRange('hump.amplitude', c.hump.amplitude, 0);
  checkRange('hump.center', c.hump.center);
  checkRange('hump.fwhm', c.hump.fwhm, 1e-6);
  checkRange('hump.eta', c.hump.eta, 0, 1);
  checkToggle('poisson', c.poisson);
  checkRange('poisson.counts', c.poisson.counts, 1e-9);
  checkToggle('gaussianNoise', c.gaussianNoise);
  checkRange('gaussianNoise.sigma', c.gaussianNoise.sigma, 0);
  checkToggle('uniformNoise', c.uniformNoise);
  checkRange('uniformNoise.amplitude', c.uniformNoise.amplitude, 0);
  return c;
}

// ---- drawing ------------------------------------------------------------------------------

const draw = (rng: Rng, [lo, hi]: Range): number => (lo === hi ? lo : rng.uniform(lo, hi));
const on = (rng: Rng, t: Toggle): boolean => t.enabled && rng.uniform() < (t.probability ?? 1);

/**
 * One pattern's effects from a (validated, see resolveEffects) config. Deterministic in the rng
 * state; use rng.fork(i) per pattern for reproducible streams.
 */
export function drawEffects(config: EffectsConfig, rng: Rng): PatternEffects {
  const c = config;
  const setting = rng.pick(c.caglioti);
  const e: PatternEffects = {
    profile: rng.pick(c.profiles),
    U: draw(rng, setting.U),
    V: draw(rng, setting.V),
    W: draw(rng, setting.W),
    X: setting.X ? draw(rng, setting.X) : 0,
    Y: setting.Y ? draw(rng, setting.Y) : 0,
    crystalliteSize: null,
    scherrerShape: c.scherrer.shape,
    scherrerK: c.scherrer.K ?? 0.9,
    kAlpha2: null,
    zeroShift: 0,
    displacement: null,
    preferredOrientation: null,
    impurities: [],
    lattice: { scale: 1, strain: null, uniaxial: null },
    chebyshev: [],
    hump: null,
    counts: 0,
    gaussianSigma: 0,
    uniformMax: 0,
    seed: rng.nextU32(),
  };
  if (on(rng, c.scherrer)) e.crystalliteSize = draw(rng, c.scherrer.size);
  if (on(rng, c.kAlpha2)) e.kAlpha2 = { lambda1: c.kAlpha2.lambda1, lambda2: c.kAlpha2.lambda2, ratio: c.kAlpha2.ratio };
  if (on(rng, c.zeroShift)) e.zeroShift = draw(rng, c.zeroShift.range);
  if (on(rng, c.displacement)) e.displacement = { s: draw(rng, c.displacement.range), radius: c.displacement.radius };
  if (on(rng, c.preferredOrientation)) {
    const d = rng.pick(c.preferredOrientation.directions);
    e.preferredOrientation = { hkl: [d[0], d[1], d[2]], r: draw(rng, c.preferredOrientation.r) };
  }
  if (on(rng, c.impurities)) {
    const n = rng.int(c.impurities.count[0], c.impurities.count[1]);
    for (let i = 0; i < n; i++) e.impurities.push({ fraction: draw(rng, c.impurities.fraction), pick: rng.uniform() });
  }
  if (on(rng, c.scale)) e.lattice.scale = draw(rng, c.scale.range);
  if (on(rng, c.randomStrain)) {
    const s = c.randomStrain;
    e.lattice.strain = {
      edges: [draw(rng, s.range), draw(rng, s.range), draw(rng, s.range)],
      angles: [draw(rng, s.angleRange), draw(rng, s.angleRange), draw(rng, s.angleRange)],
    };
  }
  if (on(rng, c.uniaxialStrain)) e.lattice.uniaxial = { axis: rng.int(0, 2) as 0 | 1 | 2, strain: draw(rng, c.uniaxialStrain.range) };
  if (on(rng, c.background)) {
    const b = c.background;
    const c0 = draw(rng, b.level);
    e.chebyshev.push(c0);
    const amp = b.order > 0 ? (b.variation * c0) / b.order : 0;
    for (let k = 1; k <= b.order; k++) e.chebyshev.push(rng.uniform(-amp, amp));
  }
  if (on(rng, c.hump)) {
    const h = c.hump;
    e.hump = { amplitude: draw(rng, h.amplitude), center: draw(rng, h.center), fwhm: draw(rng, h.fwhm), eta: draw(rng, h.eta) };
  }
  if (on(rng, c.poisson)) {
    const [lo, hi] = c.poisson.counts;
    e.counts = lo === hi ? lo : Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
  }
  if (on(rng, c.gaussianNoise)) e.gaussianSigma = draw(rng, c.gaussianNoise.sigma);
  if (on(rng, c.uniformNoise)) e.uniformMax = draw(rng, c.uniformNoise.amplitude);
  return e;
}

// ---- formulas -----------------------------------------------------------------------------

const DEG = Math.PI / 180;

/** Caglioti Gaussian FWHM (deg) at Bragg angle theta (radians); negative H^2 clamps to 0. */
export function cagliotiFwhm(U: number, V: number, W: number, theta: number): number {
  const t = Math.tan(theta);
  return Math.sqrt(Math.max(0, U * t * t + V * t + W));
}

/** Scherrer broadening in degrees 2-theta: K lambda / (L cos theta) radians. */
export function scherrerFwhm(K: number, wavelength: number, size: number, theta: number): number {
  return (K * wavelength) / (size * Math.cos(theta)) / DEG;
}

/** Thompson-Cox-Hastings pseudo-Voigt: total FWHM and Lorentzian fraction from H_G and H_L. */
export function tchPseudoVoigt(hg: number, hl: number): { fwhm: number; eta: number } {
  const g2 = hg * hg;
  const l2 = hl * hl;
  const h5 = g2 * g2 * hg + 2.69269 * g2 * g2 * hl + 2.42843 * g2 * hg * l2 + 4.47163 * g2 * l2 * hl + 0.07842 * hg * l2 * l2 + l2 * l2 * hl;
  const fwhm = Math.pow(h5, 0.2);
  if (!(fwhm > 0)) return { fwhm: 0, eta: 0 };
  const q = hl / fwhm;
  return { fwhm, eta: Math.min(1, Math.max(0, 1.36603 * q - 0.47719 * q * q + 0.11116 * q * q * q)) };
}

/** March-Dollase factor for an angle alpha (radians) between the scattering vector and the direction. */
export function marchDollase(r: number, cosAlpha: number): number {
  const c2 = cosAlpha * cosAlpha;
  return Math.pow(r * r * c2 + (1 - c2) / r, -1.5);
}

/** Peak shift in degrees 2-theta of a sample displaced by s (mm) on a goniometer of radius R (mm). */
export function displacementShift(s: number, radius: number, theta: number): number {
  return (-2 * s * Math.cos(theta)) / radius / DEG;
}

const near = (x: number, y: number, tol: number): boolean => Math.abs(x - y) <= tol;

/** Crystal system a lattice's metric is compatible with (the highest one), for crystals without a group. */
export function crystalSystemOfLattice(l: Lattice, tol = 1e-4): CrystalSystem {
  const lt = tol * Math.max(l.a, l.b, l.c);
  const ab = near(l.a, l.b, lt);
  const bc = near(l.b, l.c, lt);
  const r90 = (x: number): boolean => near(x, 90, tol * 100);
  if (ab && bc && r90(l.alpha) && r90(l.beta) && r90(l.gamma)) return 'cubic';
  if (ab && bc && near(l.alpha, l.beta, 0.01) && near(l.beta, l.gamma, 0.01)) return 'trigonal';
  if (ab && r90(l.alpha) && r90(l.beta) && near(l.gamma, 120, 0.01)) return 'hexagonal';
  if (ab && r90(l.alpha) && r90(l.beta) && r90(l.gamma)) return 'tetragonal';
  if (r90(l.alpha) && r90(l.beta) && r90(l.gamma)) return 'orthorhombic';
  if ([l.alpha, l.beta, l.gamma].filter(r90).length >= 2) return 'monoclinic';
  return 'triclinic';
}

/**
 * The lattice after the pattern's lattice changes (random strain within the crystal system's
 * constraints, then uniaxial strain, then isotropic scale).
 */
export function deformLattice(l: Lattice, system: CrystalSystem, change: PatternEffects['lattice']): Lattice {
  let { a, b, c, alpha, beta, gamma } = l;
  const s = change.strain;
  if (s) {
    const [e0, e1, e2] = s.edges;
    const [d0, d1, d2] = s.angles;
    switch (system) {
      case 'cubic':
        a *= 1 + e0;
        b *= 1 + e0;
        c *= 1 + e0;
        break;
      case 'tetragonal':
        a *= 1 + e0;
        b *= 1 + e0;
        c *= 1 + e2;
        break;
      case 'hexagonal':
      case 'trigonal': {
        const rhombohedralAxes = near(l.a, l.c, 1e-4 * l.a) && near(l.alpha, l.beta, 0.01) && near(l.beta, l.gamma, 0.01);
        if (rhombohedralAxes) {
          a *= 1 + e0;
          b *= 1 + e0;
          c *= 1 + e0;
          alpha += d0;
          beta += d0;
          gamma += d0;
        } else {
          a *= 1 + e0;
          b *= 1 + e0;
          c *= 1 + e2;
        }
        break;
      }
      case 'orthorhombic':
        a *= 1 + e0;
        b *= 1 + e1;
        c *= 1 + e2;
        break;
      case 'monoclinic': {
        a *= 1 + e0;
        b *= 1 + e1;
        c *= 1 + e2;
        // The one angle that is not 90 (beta in the standard unique-axis-b setting).
        const dev = [Math.abs(alpha - 90), Math.abs(beta - 90), Math.abs(gamma - 90)];
        const k = dev[0] > dev[1] && dev[0] > dev[2] ? 0 : dev[2] > dev[1] ? 2 : 1;
        if (k === 0) alpha += d1;
        else if (k === 1) beta += d1;
        else gamma += d1;
        break;
      }
      case 'triclinic':
        a *= 1 + e0;
        b *= 1 + e1;
        c *= 1 + e2;
        alpha += d0;
        beta += d1;
        gamma += d2;
        break;
    }
  }
  const u = change.uniaxial;
  if (u) {
    if (u.axis === 0) a *= 1 + u.strain;
    else if (u.axis === 1) b *= 1 + u.strain;
    else c *= 1 + u.strain;
  }
  const k = change.scale;
  return { a: a * k, b: b * k, c: c * k, alpha, beta, gamma };
}

// ---- phases -------------------------------------------------------------------------------

/** A crystal prepared for many patterns: structure factors computed once. */
export interface Phase {
  name: string;
  spaceGroup: number;
  crystalSystem: CrystalSystem;
  lattice: Lattice;
  /** Symmetry-equivalent hkl merged (used unless the pattern has uniaxial strain). */
  merged: StructureFactors;
  /** One entry per Friedel pair (used with uniaxial strain, which may split equivalents). */
  unmerged: StructureFactors;
}

/**
 * How far 1/d may grow under a config's lattice changes (to enumerate enough hkl): the inverse of
 * the smallest combined edge factor.
 */
export function sMaxFactor(config: EffectsConfig): number {
  let f = 1;
  if (config.scale.enabled) f *= Math.min(1, config.scale.range[0]);
  if (config.randomStrain.enabled) f *= Math.min(1, 1 + config.randomStrain.range[0]) * (1 - 0.02 * Math.abs(config.randomStrain.angleRange[0]));
  if (config.uniaxialStrain.enabled) f *= Math.min(1, 1 + config.uniaxialStrain.range[0]);
  return 1 / f;
}

/** Extra range (deg) beyond the grid in which reflections are enumerated, for shifts and tails. */
const EDGE_MARGIN = 5;

/**
 * Structure factors of a crystal for patterns on `grid` under `config` (enough hkl for its
 * largest lattice shrink, the K-alpha doublet and an edge margin). Detects the space group when
 * the crystal has none.
 */
export function preparePhase(crystal: Crystal, opts: { grid?: Grid; config?: EffectsConfig } = {}): Phase {
  const grid = opts.grid ?? DEFAULT_GRID;
  const config = opts.config ?? effectsPreset('clean');
  const spaceGroup = crystal.spaceGroup ?? detectSpaceGroup(crystal).number;
  const top = Math.min(179, gridMax(grid) + EDGE_MARGIN);
  const lambda = Math.min(grid.wavelength, config.kAlpha2.enabled ? Math.min(config.kAlpha2.lambda1, config.kAlpha2.lambda2) : Infinity);
  const sMax = (Math.sin((top / 2) * DEG) / lambda) * sMaxFactor(config) * (1 + 1e-9);
  const unmerged = structureFactors(crystal, { sMax });
  return {
    name: crystal.name,
    spaceGroup,
    crystalSystem: crystalSystemOf(spaceGroup),
    lattice: crystal.lattice,
    merged: mergeEquivalents(unmerged, crystal.lattice),
    unmerged,
  };
}

// ---- one pattern --------------------------------------------------------------------------

/** Growable parallel arrays of peaks. */
class PeakBuffer {
  n = 0;
  center = new Float64Array(256);
  fwhm = new Float64Array(256);
  eta = new Float64Array(256);
  area = new Float64Array(256);
  push(c: number, h: number, e: number, a: number): void {
    if (this.n === this.center.length) {
      const grow = (x: Float64Array) => {
        const y = new Float64Array(x.length * 2);
        y.set(x);
        return y;
      };
      this.center = grow(this.center);
      this.fwhm = grow(this.fwhm);
      this.eta = grow(this.eta);
      this.area = grow(this.area);
    }
    this.center[this.n] = c;
    this.fwhm[this.n] = h;
    this.eta[this.n] = e;
    this.area[this.n] = a;
    this.n++;
  }
}

/** Width and shape of a peak at Bragg angle theta for wavelength lambda. */
function peakShape(e: PatternEffects, theta: number, lambda: number): { fwhm: number; eta: number } {
  const hgC = cagliotiFwhm(e.U, e.V, e.W, theta);
  let hl = e.X * Math.tan(theta) + e.Y / Math.cos(theta);
  let hg2 = hgC * hgC;
  if (e.crystalliteSize !== null) {
    const beta = scherrerFwhm(e.scherrerK, lambda, e.crystalliteSize, theta);
    if (e.scherrerShape === 'lorentzian') hl += beta;
    else hg2 += beta * beta;
  }
  const hg = Math.sqrt(hg2);
  let out: { fwhm: number; eta: number };
  if (e.profile === 'gaussian') out = { fwhm: Math.sqrt(hg2 + hl * hl), eta: 0 };
  else if (e.profile === 'lorentzian') out = { fwhm: hg + hl, eta: 1 };
  else out = tchPseudoVoigt(hg, hl);
  // A zero width (all parameters 0) would be a delta; give it a hair of width instead.
  if (!(out.fwhm > 1e-4)) out.fwhm = 1e-4;
  return out;
}

/**
 * Appends the peaks of one phase to `buf`, scaled to `weight` / its integrated intensity on the
 * grid; lattice changes apply only when `deform` (the main phase).
 */
function addPhase(buf: PeakBuffer, phase: Phase, e: PatternEffects, grid: Grid, weight: number, deform: boolean): void {
  const lat = deform ? deformLattice(phase.lattice, phase.crystalSystem, e.lattice) : phase.lattice;
  const sf = deform && e.lattice.uniaxial ? phase.unmerged : phase.merged;
  const G = reciprocalMetric(lat);
  const [g00, g01, g02, , g11, g12, , , g22] = G as Mat3;
  const x0 = grid.twoThetaMin;
  const x1 = gridMax(grid);
  const lines = e.kAlpha2
    ? [
        { lambda: e.kAlpha2.lambda1, factor: 1 },
        { lambda: e.kAlpha2.lambda2, factor: e.kAlpha2.ratio },
      ]
    : [{ lambda: grid.wavelength, factor: 1 }];
  let po: { G: Mat3; d: Vec3; dd: number; r: number } | null = null;
  if (e.preferredOrientation) {
    const d = e.preferredOrientation.hkl;
    const Gd: Vec3 = [G[0] * d[0] + G[1] * d[1] + G[2] * d[2], G[3] * d[0] + G[4] * d[1] + G[5] * d[2], G[6] * d[0] + G[7] * d[1] + G[8] * d[2]];
    po = { G, d: Gd, dd: Gd[0] * d[0] + Gd[1] * d[1] + Gd[2] * d[2], r: e.preferredOrientation.r };
  }
  const start = buf.n;
  let onGrid = 0;
  for (let i = 0; i < sf.count; i++) {
    const h = sf.h[i];
    const k = sf.k[i];
    const l = sf.l[i];
    const q = g00 * h * h + g11 * k * k + g22 * l * l + 2 * (g01 * h * k + g02 * h * l + g12 * k * l);
    let base = sf.f2[i] * sf.multiplicity[i];
    if (po) {
      const dot = h * po.d[0] + k * po.d[1] + l * po.d[2];
      base *= marchDollase(po.r, dot / Math.sqrt(q * po.dd));
    }
    for (const line of lines) {
      const sinT = (line.lambda * Math.sqrt(q)) / 2;
      if (sinT >= 1) continue;
      const theta = Math.asin(sinT);
      const cos2t = 1 - 2 * sinT * sinT;
      const lp = (1 + cos2t * cos2t) / (sinT * sinT * Math.cos(theta));
      let center = (2 * theta) / DEG + e.zeroShift;
      if (e.displacement) center += displacementShift(e.displacement.s, e.displacement.radius, theta);
      const shape = peakShape(e, theta, line.lambda);
      const cut = (shape.eta > 0 ? LORENTZ_WINDOW : GAUSS_WINDOW) * shape.fwhm;
      if (center + cut < x0 || center - cut > x1) continue;
      const area = base * lp * line.factor;
      if (center >= x0 && center <= x1) onGrid += area;
      buf.push(center, shape.fwhm, shape.eta, area);
    }
  }
  if (onGrid > 0) {
    const s = weight / onGrid;
    for (let i = start; i < buf.n; i++) buf.area[i] *= s;
  }
}

/**
 * The renderer's input for one pattern: phases[0] is the main phase, phases[1..] the impurities
 * (paired in order with effects.impurities; extra phases or fractions are an error). Peaks are
 * sorted by centre and coinciding ones (same centre within 1e-9 deg, hence the same width)
 * merged; areas are scaled so the tallest peak on the grid has height 1.
 */
export function applyEffects(phases: readonly Phase[], e: PatternEffects, grid: Grid = DEFAULT_GRID): PatternSpec {
  if (phases.length === 0) throw new EffectsConfigError('applyEffects: no phase given');
  if (phases.length - 1 !== e.impurities.length) {
    throw new EffectsConfigError(`applyEffects: ${phases.length - 1} impurity phases for ${e.impurities.length} impurity fractions; give one phase per fraction`);
  }
  const impurityTotal = e.impurities.reduce((s, x) => s + x.fraction, 0);
  if (!(impurityTotal < 1)) throw new EffectsConfigError(`applyEffects: impurity fractions sum to ${impurityTotal}; they must sum to < 1`);
  const buf = new PeakBuffer();
  phases.forEach((ph, i) => addPhase(buf, ph, e, grid, i === 0 ? 1 - impurityTotal : e.impurities[i - 1].fraction, i === 0));
  const n = buf.n;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const c = buf.center;
  order.sort((a, b) => c[a] - c[b]);
  const center = new Float64Array(n);
  const fwhm = new Float64Array(n);
  const eta = new Float64Array(n);
  const area = new Float64Array(n);
  let m = 0;
  for (let t = 0; t < n; t++) {
    const i = order[t];
    if (m > 0 && c[i] - center[m - 1] <= 1e-9 && Math.abs(buf.fwhm[i] - fwhm[m - 1]) <= 1e-9 * fwhm[m - 1] && Math.abs(buf.eta[i] - eta[m - 1]) <= 1e-9) {
      area[m - 1] += buf.area[i];
      continue;
    }
    center[m] = c[i];
    fwhm[m] = buf.fwhm[i];
    eta[m] = buf.eta[i];
    area[m] = buf.area[i];
    m++;
  }
  const x0 = grid.twoThetaMin;
  const x1 = gridMax(grid);
  let tallest = 0;
  for (let i = 0; i < m; i++) {
    if (center[i] >= x0 && center[i] <= x1) tallest = Math.max(tallest, area[i] * profileHeight(fwhm[i], eta[i]));
  }
  if (tallest > 0) for (let i = 0; i < m; i++) area[i] /= tallest;
  return {
    count: m,
    center: center.slice(0, m),
    fwhm: fwhm.slice(0, m),
    eta: eta.slice(0, m),
    area: area.slice(0, m),
    chebyshev: e.chebyshev.slice(),
    hump: e.hump ? { ...e.hump } : null,
    counts: e.counts,
    gaussianSigma: e.gaussianSigma,
    uniformMax: e.uniformMax,
    seed: e.seed,
  };
}
