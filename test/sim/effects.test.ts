// Each effect is measured on rendered patterns (CPU reference renderer; the GPU kernel is checked
// against it in render.test.ts): positions and widths from half-maximum crossings, intensities
// from integrated areas.
import { describe, expect, it } from 'vitest';
import type { Crystal, Lattice } from '../../src/sim/crystal.ts';
import { crystalSystemOf } from '../../src/sim/crystal.ts';
import {
  EffectsConfigError,
  applyEffects,
  cagliotiFwhm,
  crystalSystemOfLattice,
  deformLattice,
  displacementShift,
  drawEffects,
  effectsPreset,
  marchDollase,
  preparePhase,
  resolveEffects,
  scherrerFwhm,
  tchPseudoVoigt,
  type PatternEffects,
  type Phase,
} from '../../src/sim/effects.ts';
import { Rng } from '../../src/sim/random.ts';
import { computeReflections } from '../../src/sim/reflections.ts';
import { renderPatternReference } from '../reference/render.ts';
import type { Grid } from '../../src/sim/render.ts';
import { detectSpaceGroup } from '../../src/sim/spacegroup.ts';
import { generateCrystal } from '../../src/sim/synth.ts';

const DEG = Math.PI / 180;
const GRID: Grid = { twoThetaMin: 20, step: 0.002, points: 35001, wavelength: 1.5418 };

function simple(name: string, lattice: Partial<Lattice>, spaceGroup: number, element = 'Cu'): Crystal {
  return {
    name,
    lattice: { a: 3, b: 3, c: 3, alpha: 90, beta: 90, gamma: 90, ...lattice },
    sites: [{ element, charge: null, frac: [0, 0, 0], occupancy: 1, biso: 0 }],
    spaceGroup,
  };
}
const cubic = simple('sc Cu a=3', {}, 221);
const cubicB = simple('sc Mo a=3.7', { a: 3.7, b: 3.7, c: 3.7 }, 221, 'Mo');
const tetragonal = simple('tP a=3 c=4', { c: 4 }, 123);

/** Effects with everything off and a narrow Gaussian (FWHM 0.05 deg). */
function fx(over: Partial<PatternEffects> = {}): PatternEffects {
  return {
    profile: 'gaussian',
    U: 0,
    V: 0,
    W: 0.0025,
    X: 0,
    Y: 0,
    crystalliteSize: null,
    scherrerShape: 'lorentzian',
    scherrerK: 0.9,
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
    seed: 1,
    ...over,
  };
}

const phaseCache = new Map<Crystal, Phase>();
function phase(c: Crystal): Phase {
  let p = phaseCache.get(c);
  if (!p) phaseCache.set(c, (p = preparePhase(c, { grid: GRID, config: resolveEffects('realistic') })));
  return p;
}

function render(phases: Crystal[], e: PatternEffects): Float32Array {
  return renderPatternReference(applyEffects(phases.map(phase), e, GRID), GRID, { normalize: false });
}

const x = (j: number): number => GRID.twoThetaMin + j * GRID.step;
const idx = (t: number): number => Math.round((t - GRID.twoThetaMin) / GRID.step);

/** Centre (midpoint of the half-maximum crossings) and FWHM of the peak nearest `near`. */
function measure(y: Float32Array, near: number, search = 0.5): { center: number; fwhm: number; height: number } {
  let m = idx(near - search);
  for (let j = idx(near - search); j <= idx(near + search); j++) if (y[j] > y[m]) m = j;
  const half = y[m] / 2;
  let l = m;
  while (y[l] > half) l--;
  let r = m;
  while (y[r] > half) r++;
  const left = x(l) + ((half - y[l]) / (y[l + 1] - y[l])) * GRID.step;
  const right = x(r - 1) + ((y[r - 1] - half) / (y[r - 1] - y[r])) * GRID.step;
  return { center: (left + right) / 2, fwhm: right - left, height: y[m] };
}

function area(y: Float32Array, lo: number, hi: number): number {
  let s = 0;
  for (let j = Math.max(0, idx(lo)); j <= Math.min(y.length - 1, idx(hi)); j++) s += y[j];
  return s * GRID.step;
}

/** 2-theta of a reflection; |h|,|k|,|l| compared in any order for cubic crystals, in order otherwise. */
function twoThetaOf(c: Crystal, hkl: [number, number, number]): number {
  const r = computeReflections(c, { twoThetaMin: GRID.twoThetaMin, twoThetaMax: 90, wavelength: GRID.wavelength });
  const key = (v: number[]): string => (c.spaceGroup! >= 195 ? v.map(Math.abs).sort() : v.map(Math.abs)).join();
  const want = key(hkl);
  const hit = r.find((x) => key(x.hkl) === want);
  if (!hit) throw new Error(`no reflection ${hkl}`);
  return hit.twoTheta;
}

const dOf = (twoTheta: number, lambda = GRID.wavelength): number => lambda / (2 * Math.sin((twoTheta / 2) * DEG));
const lp = (twoTheta: number): number => {
  const t = (twoTheta / 2) * DEG;
  return (1 + Math.cos(2 * t) ** 2) / (Math.sin(t) ** 2 * Math.cos(t));
};

describe('peak positions', () => {
  it('a zero shift moves fitted peak centres by the amount asked', () => {
    const y0 = render([cubic], fx());
    const y1 = render([cubic], fx({ zeroShift: 0.137 }));
    for (const hkl of [[1, 0, 0], [1, 1, 1], [2, 1, 1]] as [number, number, number][]) {
      const t = twoThetaOf(cubic, hkl);
      const c0 = measure(y0, t).center;
      expect(Math.abs(c0 - t)).toBeLessThan(2e-4);
      expect(measure(y1, t + 0.137).center - c0).toBeCloseTo(0.137, 4);
    }
  });

  it('sample displacement shifts peaks by -2 s cos(theta) / R', () => {
    const y0 = render([cubic], fx());
    const y1 = render([cubic], fx({ displacement: { s: 0.2, radius: 240 } }));
    for (const hkl of [[1, 0, 0], [2, 1, 1]] as [number, number, number][]) {
      const t = twoThetaOf(cubic, hkl);
      const want = (-2 * 0.2 * Math.cos((t / 2) * DEG)) / 240 / DEG;
      expect(displacementShift(0.2, 240, (t / 2) * DEG)).toBeCloseTo(want, 12);
      expect(measure(y1, t + want).center - measure(y0, t).center).toBeCloseTo(want, 4);
    }
  });

  it('isotropic scaling and random cubic strain scale every d-spacing as asked (Bragg law)', () => {
    for (const [lattice, factor] of [
      [{ scale: 1.1, strain: null, uniaxial: null }, 1.1],
      [{ scale: 0.8, strain: null, uniaxial: null }, 0.8],
      [{ scale: 1, strain: { edges: [0.015, 0.3, -0.2], angles: [1, 1, 1] }, uniaxial: null }, 1.015],
    ] as [PatternEffects['lattice'], number][]) {
      const y = render([cubic], fx({ lattice }));
      for (const hkl of [[1, 0, 0], [1, 1, 0], [1, 1, 1]] as [number, number, number][]) {
        const t0 = twoThetaOf(cubic, hkl);
        const d1 = dOf(t0) * factor;
        const t1 = (2 * Math.asin(GRID.wavelength / (2 * d1))) / DEG;
        if (t1 > 88) continue;
        expect(dOf(measure(y, t1).center) / dOf(t0)).toBeCloseTo(factor, 5);
      }
    }
  });

  it('lattice changes apply to the main phase only; impurities keep their cells', () => {
    const y = render([cubic, cubicB], fx({ lattice: { scale: 1.1, strain: null, uniaxial: null }, impurities: [{ fraction: 0.3, pick: 0 }] }));
    const tB = twoThetaOf(cubicB, [1, 1, 0]);
    expect(measure(y, tB, 0.1).center).toBeCloseTo(tB, 4);
    const tA = twoThetaOf(cubic, [1, 0, 0]);
    const tA1 = (2 * Math.asin(GRID.wavelength / (2 * 3.3))) / DEG;
    expect(measure(y, tA1, 0.1).center).toBeCloseTo(tA1, 4);
    expect(y[idx(tA)]).toBeLessThan(1e-6);
  });

  it('uniaxial strain of a cubic crystal splits {100} into d = a (x4) and d = c (1+e) (x2)', () => {
    const e = 0.02;
    const y = render([cubic], fx({ lattice: { scale: 1, strain: null, uniaxial: { axis: 2, strain: e } } }));
    const tA = twoThetaOf(cubic, [1, 0, 0]);
    const tC = (2 * Math.asin(GRID.wavelength / (2 * 3 * (1 + e)))) / DEG;
    expect(dOf(measure(y, tA, 0.1).center)).toBeCloseTo(3, 5);
    expect(dOf(measure(y, tC, 0.1).center)).toBeCloseTo(3 * (1 + e), 5);
    // Areas: multiplicity 4 vs 2 times Lorentz-polarisation (|F|^2 is kept from the unstrained cell).
    const ratio = area(y, tC - 0.25, tC + 0.25) / area(y, tA - 0.25, tA + 0.25);
    expect(ratio).toBeCloseTo((2 * lp(tC)) / (4 * lp(tA)), 3);
  });

  it('the K-alpha2 doublet sits where the Bragg law puts it, at the asked intensity ratio', () => {
    const k = { lambda1: 1.5406, lambda2: 1.5444, ratio: 0.5 };
    const y = render([cubic], fx({ kAlpha2: k }));
    const d = 3 / Math.sqrt(6); // (211)
    const t1 = (2 * Math.asin(k.lambda1 / (2 * d))) / DEG;
    const t2 = (2 * Math.asin(k.lambda2 / (2 * d))) / DEG;
    const c1 = measure(y, t1, 0.05).center;
    const c2 = measure(y, t2, 0.05).center;
    expect(c1).toBeCloseTo(t1, 4);
    expect(Math.sin((c2 / 2) * DEG) / Math.sin((c1 / 2) * DEG)).toBeCloseTo(k.lambda2 / k.lambda1, 6);
    const mid = (t1 + t2) / 2;
    const ratio = area(y, mid, t2 + 0.3) / area(y, t1 - 0.3, mid);
    expect(ratio).toBeCloseTo((0.5 * lp(t2)) / lp(t1), 3);
  });
});

describe('peak widths', () => {
  it('Scherrer broadening (Gaussian and Lorentzian shapes) matches K lambda / (L cos theta)', () => {
    const cases = [
      { profile: 'gaussian' as const, size: 200, shape: 'gaussian' as const },
      { profile: 'pseudo-voigt' as const, size: 1000, shape: 'lorentzian' as const },
      { profile: 'lorentzian' as const, size: 1000, shape: 'lorentzian' as const },
    ];
    for (const c of cases) {
      const y = render([cubic], fx({ profile: c.profile, W: 0, crystalliteSize: c.size, scherrerShape: c.shape }));
      for (const hkl of [[1, 0, 0], [2, 0, 0]] as [number, number, number][]) {
        const t = twoThetaOf(cubic, hkl);
        const want = ((0.9 * GRID.wavelength) / (c.size * Math.cos((t / 2) * DEG))) / DEG;
        expect(scherrerFwhm(0.9, GRID.wavelength, c.size, (t / 2) * DEG)).toBeCloseTo(want, 12);
        expect(measure(y, t, 2).fwhm / want).toBeCloseTo(1, 3);
      }
    }
  });

  it('Caglioti widths match sqrt(U tan^2 + V tan + W) for the paper settings', () => {
    for (const [U, V, W] of [
      [0.05, -0.06, 0.07],
      [0.05, -0.01, 0.01],
    ]) {
      const y = render([cubic], fx({ U, V, W }));
      for (const hkl of [[1, 0, 0], [2, 1, 1]] as [number, number, number][]) {
        const t = twoThetaOf(cubic, hkl);
        const th = (t / 2) * DEG;
        const want = Math.sqrt(U * Math.tan(th) ** 2 + V * Math.tan(th) + W);
        expect(cagliotiFwhm(U, V, W, th)).toBeCloseTo(want, 12);
        expect(measure(y, t, 1).fwhm / want).toBeCloseTo(1, 3);
      }
    }
  });

  it('Thompson-Cox-Hastings limits and a mixed case', () => {
    expect(tchPseudoVoigt(0.2, 0)).toEqual({ fwhm: expect.closeTo(0.2, 12), eta: 0 });
    const l = tchPseudoVoigt(0, 0.3);
    expect(l.fwhm).toBeCloseTo(0.3, 12);
    expect(l.eta).toBeCloseTo(1, 4);
    // H^5 = 1 + 2.69269 + 2.42843 + 4.47163 + 0.07842 + 1 for H_G = H_L = 1.
    const m = tchPseudoVoigt(1, 1);
    expect(m.fwhm).toBeCloseTo(Math.pow(11.67117, 0.2), 10);
    const q = 1 / m.fwhm;
    expect(m.eta).toBeCloseTo(1.36603 * q - 0.47719 * q * q + 0.11116 * q ** 3, 10);
  });
});

describe('intensities', () => {
  it('an impurity fraction sets the integrated intensity ratio of the phases', () => {
    const pa = computeReflections(cubic, { twoThetaMin: 20, twoThetaMax: 90 }).map((r) => r.twoTheta);
    const pb = computeReflections(cubicB, { twoThetaMin: 20, twoThetaMax: 90 }).map((r) => r.twoTheta);
    // The test needs the two phases' peaks apart (each grid point is given to its nearest peak).
    const sep = Math.min(...pa.map((a) => Math.min(...pb.map((b) => Math.abs(a - b)))));
    expect(sep).toBeGreaterThan(0.3);
    for (const fraction of [0.2, 0.05]) {
      const y = render([cubic, cubicB], fx({ impurities: [{ fraction, pick: 0 }] }));
      let sa = 0;
      let sb = 0;
      for (let j = 0; j < y.length; j++) {
        const da = Math.min(...pa.map((t) => Math.abs(t - x(j))));
        const db = Math.min(...pb.map((t) => Math.abs(t - x(j))));
        if (da < db) sa += y[j];
        else sb += y[j];
      }
      expect(sb / (sa + sb)).toBeCloseTo(fraction, 4);
    }
  });

  it('March-Dollase changes the (001)/(100) ratio by P(0)/P(90) = r^-4.5', () => {
    const t001 = twoThetaOf(tetragonal, [0, 0, 1]);
    const t100 = twoThetaOf(tetragonal, [1, 0, 0]);
    const ratio = (y: Float32Array): number => area(y, t001 - 0.3, t001 + 0.3) / area(y, t100 - 0.3, t100 + 0.3);
    const base = ratio(render([tetragonal], fx()));
    for (const r of [0.8, 1.25]) {
      const withPo = ratio(render([tetragonal], fx({ preferredOrientation: { hkl: [0, 0, 1], r } })));
      expect(marchDollase(r, 1) / marchDollase(r, 0)).toBeCloseTo(r ** -4.5, 12);
      expect(withPo / base).toBeCloseTo(r ** -4.5, 4);
    }
  });

  it('heights are scaled so the tallest peak is 1 before noise', () => {
    const y = render([cubic], fx());
    expect(Math.max(...y)).toBeCloseTo(1, 3);
  });
});

describe('background and noise', () => {
  const flat = (over: Partial<PatternEffects>): Float32Array => {
    const spec = applyEffects([phase(cubic)], fx(over), GRID);
    return renderPatternReference({ ...spec, count: 0 }, GRID, { normalize: false });
  };

  /** Least-squares Chebyshev coefficients of y over the grid (normal equations). */
  function fitChebyshev(y: Float32Array, n: number): number[] {
    const A = Array.from({ length: n }, () => new Float64Array(n));
    const b = new Float64Array(n);
    const T = new Float64Array(n);
    for (let j = 0; j < y.length; j++) {
      const t = (2 * j) / (y.length - 1) - 1;
      T[0] = 1;
      if (n > 1) T[1] = t;
      for (let k = 2; k < n; k++) T[k] = 2 * t * T[k - 1] - T[k - 2];
      for (let r = 0; r < n; r++) {
        b[r] += T[r] * y[j];
        for (let c = 0; c < n; c++) A[r][c] += T[r] * T[c];
      }
    }
    for (let i = 0; i < n; i++) {
      for (let r = i + 1; r < n; r++) {
        const f = A[r][i] / A[i][i];
        for (let c = i; c < n; c++) A[r][c] -= f * A[i][c];
        b[r] -= f * b[i];
      }
    }
    const out = new Array<number>(n).fill(0);
    for (let i = n - 1; i >= 0; i--) {
      let s = b[i];
      for (let c = i + 1; c < n; c++) s -= A[i][c] * out[c];
      out[i] = s / A[i][i];
    }
    return out;
  }

  it('Chebyshev background coefficients are recovered by a least-squares fit', () => {
    const coef = [0.3, 0.05, -0.02, 0.01, 0.004];
    fitChebyshev(flat({ chebyshev: coef }), 5).forEach((c, i) => expect(c).toBeCloseTo(coef[i], 6));
    // With Gaussian noise (sigma 0.005 over 35001 points) within a few standard errors.
    fitChebyshev(flat({ chebyshev: coef, gaussianSigma: 0.005 }), 5).forEach((c, i) => expect(Math.abs(c - coef[i])).toBeLessThan(3e-4));
  });

  it('drawn backgrounds stay positive and the hump peaks at its centre', () => {
    const config = resolveEffects('realistic');
    config.background.probability = 1;
    config.hump.probability = 1;
    for (let s = 0; s < 20; s++) {
      const e = drawEffects(config, new Rng(s));
      const y = flat({ chebyshev: e.chebyshev, hump: e.hump });
      expect(Math.min(...y)).toBeGreaterThan(0);
      const h = e.hump!;
      if (h.amplitude > 1e-3 && h.center > GRID.twoThetaMin + 1) {
        const ys = flat({ hump: h });
        expect(ys[idx(h.center)]).toBeCloseTo(h.amplitude, 5);
      }
    }
  });

  it('Poisson counting noise: mean = lambda and variance = lambda (inversion and normal branches)', () => {
    for (const lambda of [2, 20, 100, 2000]) {
      const counts = lambda / 0.5;
      const y = flat({ chebyshev: [0.5], counts, seed: 7 });
      let m = 0;
      for (const v of y) m += v * counts;
      m /= y.length;
      let v2 = 0;
      for (const v of y) v2 += (v * counts - m) ** 2;
      v2 /= y.length - 1;
      expect(Math.abs(m - lambda)).toBeLessThan(4 * Math.sqrt(lambda / y.length));
      expect(v2 / lambda).toBeCloseTo(1, 1);
      // Every value is a whole number of counts.
      expect(y.filter((v) => Math.abs(v * counts - Math.round(v * counts)) > 1e-3 * Math.max(1, v * counts)).length).toBe(0);
    }
  });

  it('Gaussian detector noise has the asked sigma; uniform noise lies in [0, a) with mean a/2', () => {
    const g = flat({ chebyshev: [0.5], gaussianSigma: 0.01 });
    const mean = g.reduce((s, v) => s + v, 0) / g.length;
    const sd = Math.sqrt(g.reduce((s, v) => s + (v - mean) ** 2, 0) / (g.length - 1));
    expect(mean).toBeCloseTo(0.5, 3);
    expect(sd / 0.01).toBeCloseTo(1, 1);
    const u = flat({ chebyshev: [0.5], uniformMax: 0.019 });
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0.5 - 1e-7);
    expect(Math.max(...u)).toBeLessThan(0.519 + 1e-7);
    expect(u.reduce((s, v) => s + v, 0) / u.length).toBeCloseTo(0.5095, 3);
  });
});

describe('lattice changes keep the crystal system', () => {
  const lattices: [string, Lattice][] = [
    ['cubic', { a: 4, b: 4, c: 4, alpha: 90, beta: 90, gamma: 90 }],
    ['tetragonal', { a: 4, b: 4, c: 6, alpha: 90, beta: 90, gamma: 90 }],
    ['orthorhombic', { a: 4, b: 5, c: 6, alpha: 90, beta: 90, gamma: 90 }],
    ['hexagonal', { a: 3, b: 3, c: 5, alpha: 90, beta: 90, gamma: 120 }],
    ['trigonal', { a: 5, b: 5, c: 5, alpha: 70, beta: 70, gamma: 70 }],
    ['monoclinic', { a: 4, b: 5, c: 6, alpha: 90, beta: 100, gamma: 90 }],
    ['triclinic', { a: 4, b: 5, c: 6, alpha: 80, beta: 85, gamma: 95 }],
  ];

  it('random strain keeps each system\'s equalities and fixed angles, and changes the cell', () => {
    const config = resolveEffects('realistic');
    config.randomStrain.probability = 1;
    config.randomStrain.range = [-0.03, 0.03];
    config.randomStrain.angleRange = [-2, 2];
    for (const [system, l] of lattices) {
      expect(crystalSystemOfLattice(l)).toBe(system);
      for (let s = 0; s < 10; s++) {
        const e = drawEffects(config, new Rng(100 + s));
        const d = deformLattice(l, system as Parameters<typeof deformLattice>[1], e.lattice);
        expect(crystalSystemOfLattice(d)).toBe(system);
        expect(Math.abs(d.a - l.a) + Math.abs(d.c - l.c) + Math.abs(d.alpha - l.alpha) + Math.abs(d.beta - l.beta)).toBeGreaterThan(0);
      }
    }
  });

  it('strained synthetic crystals keep their space group (moyo)', () => {
    const config = resolveEffects('realistic');
    config.randomStrain.probability = 1;
    config.randomStrain.range = [-0.03, 0.03];
    config.randomStrain.angleRange = [-2, 2];
    for (const sg of [2, 14, 62, 139, 166, 194, 225]) {
      const c = generateCrystal(sg, new Rng(sg));
      const e = drawEffects(config, new Rng(sg + 1000));
      const strained = { ...c, lattice: deformLattice(c.lattice, crystalSystemOf(sg), e.lattice) };
      expect(strained.lattice).not.toEqual(c.lattice);
      expect(detectSpaceGroup(strained).number).toBe(sg);
    }
  });
});

describe('draws, presets and errors', () => {
  it('the same seed gives the same effects and pattern (bitwise); another seed differs', () => {
    const config = resolveEffects('realistic');
    const phases = [phase(cubic), phase(cubicB)];
    const make = (seed: number): Float32Array => {
      const e = drawEffects(config, new Rng(seed));
      const spec = applyEffects([phases[0], ...e.impurities.map(() => phases[1])], e, GRID);
      return renderPatternReference(spec, GRID);
    };
    expect(drawEffects(config, new Rng(3))).toEqual(drawEffects(config, new Rng(3)));
    expect(Buffer.from(make(3).buffer).equals(Buffer.from(make(3).buffer))).toBe(true);
    expect(Buffer.from(make(3).buffer).equals(Buffer.from(make(4).buffer))).toBe(false);
  });

  it("the 'paper' preset draws one of the four Caglioti settings, Gaussian peaks and 2-19/1000 uniform noise only", () => {
    const config = resolveEffects('paper');
    const seen = new Set<string>();
    for (let s = 0; s < 200; s++) {
      const e = drawEffects(config, new Rng(s));
      expect(e.profile).toBe('gaussian');
      if (e.U === 0 && e.V === 0 && e.W !== 0.01) {
        expect(e.W).toBeGreaterThanOrEqual(0.001);
        expect(e.W).toBeLessThanOrEqual(0.1);
        seen.add('W');
      } else seen.add(`${e.U},${e.V},${e.W}`);
      expect(e.uniformMax).toBeGreaterThanOrEqual(0.002);
      expect(e.uniformMax).toBeLessThanOrEqual(0.019);
      expect(e.counts + e.gaussianSigma + e.zeroShift + e.chebyshev.length + e.impurities.length).toBe(0);
      expect(e.crystalliteSize ?? e.kAlpha2 ?? e.displacement ?? e.preferredOrientation ?? e.hump ?? e.lattice.strain ?? e.lattice.uniaxial).toBeNull();
    }
    expect([...seen].sort()).toEqual(['0,0,0.01', '0.05,-0.01,0.01', '0.05,-0.06,0.07', 'W']);
  });

  it('invalid configs raise EffectsConfigError naming the field', () => {
    const c = effectsPreset('realistic');
    c.zeroShift.range = [0.1, -0.1];
    expect(() => resolveEffects(c)).toThrow(EffectsConfigError);
    expect(() => resolveEffects(c)).toThrow(/zeroShift\.range/);
    const d = effectsPreset('realistic');
    d.impurities.count = [1, 8];
    expect(() => resolveEffects(d)).toThrow(/impurities/);
    expect(() => resolveEffects('noisy' as 'paper')).toThrow(/unknown effects preset 'noisy'/);
    expect(() => applyEffects([phase(cubic)], fx({ impurities: [{ fraction: 0.1, pick: 0 }] }), GRID)).toThrow(EffectsConfigError);
  });
});
