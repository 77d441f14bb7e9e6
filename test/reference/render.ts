// CPU reference of kernels/pattern.wgsl (float64 inside, Float32Array out), for tests: the same
// peak windows, background, hash-based noise and normalisation as the GPU renderer (see the header
// of render.ts for the math). Slow by design (every peak against every point in its window).

import { DEFAULT_GRID, DEFAULT_TOLERANCE, LORENTZ_WINDOW, gridOf, hash32, peakCut, profileValue, toleranceOf, uniform01, type Grid, type PatternSpec, type RenderOptions } from '../../src/sim/render.ts';

function normal01(key: number, j: number, s: number): number {
  const u1 = 1 - uniform01(key, j, s);
  const u2 = uniform01(key, j, s + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Same algorithm as the kernel: CDF inversion below lambda 40, rounded normal above. */
export function poissonSample(lambda: number, key: number, j: number): number {
  if (lambda <= 0) return 0;
  if (lambda < 40) {
    const u = uniform01(key, j, 0);
    let term = Math.exp(-lambda);
    let cdf = term;
    let k = 0;
    while (!(u < cdf) && k < 200) {
      k++;
      term = (term * lambda) / k;
      cdf += term;
    }
    return k;
  }
  return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal01(key, j, 1)));
}

/** Chebyshev polynomials T_0..T_{n-1} at t. */
function chebyshevSum(coef: readonly number[], t: number): number {
  let y = 0;
  let prev = 1;
  let cur = t;
  for (let n = 0; n < coef.length; n++) {
    let tn: number;
    if (n === 0) tn = 1;
    else if (n === 1) tn = t;
    else {
      const next = 2 * t * cur - prev;
      prev = cur;
      cur = next;
      tn = next;
    }
    y += coef[n] * tn;
  }
  return y;
}

/** Renders one pattern on the CPU. */
export function renderPatternReference(spec: PatternSpec, grid: Partial<Grid> = DEFAULT_GRID, options: RenderOptions = {}): Float32Array {
  const g = gridOf(grid);
  const P = g.points;
  const lw = options.lorentzWindow ?? LORENTZ_WINDOW;
  const tolAbs = toleranceOf(spec, options.tolerance ?? DEFAULT_TOLERANCE);
  const y = new Float64Array(P);
  for (let i = 0; i < spec.count; i++) {
    const c = spec.center[i];
    const eta = spec.eta[i];
    const hG = Math.abs(spec.area[i] * (1 - eta)) * (2 / spec.fwhm[i]) * Math.sqrt(Math.LN2 / Math.PI);
    const hL = Math.abs((spec.area[i] * eta * 2) / (Math.PI * spec.fwhm[i]));
    const cut = peakCut(spec.fwhm[i], eta, hG, hL, tolAbs, lw);
    if (cut <= 0) continue;
    const jLo = Math.max(0, Math.ceil((c - cut - g.twoThetaMin) / g.step) - 1);
    const jHi = Math.min(P - 1, Math.floor((c + cut - g.twoThetaMin) / g.step) + 1);
    for (let j = jLo; j <= jHi; j++) {
      const d = g.twoThetaMin + j * g.step - c;
      if (Math.abs(d) <= cut) y[j] += profileValue(d, spec.area[i], spec.fwhm[i], spec.eta[i]);
    }
  }
  const key = hash32(spec.seed);
  const h = spec.hump;
  for (let j = 0; j < P; j++) {
    let v = y[j] + chebyshevSum(spec.chebyshev, (2 * j) / Math.max(P - 1, 1) - 1);
    if (h && h.amplitude !== 0) {
      const x2 = ((g.twoThetaMin + j * g.step - h.center) / h.fwhm) ** 2;
      v += h.amplitude * ((1 - h.eta) * Math.exp(-4 * Math.LN2 * x2) + h.eta / (1 + 4 * x2));
    }
    if (spec.counts > 0) v = poissonSample(spec.counts * v, key, j) / spec.counts;
    if (spec.gaussianSigma > 0) v += spec.gaussianSigma * normal01(key, j, 3);
    if (spec.uniformMax > 0) v += spec.uniformMax * uniform01(key, j, 5);
    y[j] = Math.max(v, 0); // counts are never negative
  }
  const out = new Float32Array(P);
  let max = -Infinity;
  for (let j = 0; j < P; j++) max = Math.max(max, y[j]);
  const scale = (options.normalize ?? true) && max > 0 ? 1 / max : 1;
  for (let j = 0; j < P; j++) out[j] = y[j] * scale;
  return out;
}
