// Test patterns for the physics suites: peak lists rendered on a 0.01 deg grid as pseudo-Voigt
// lines (optionally with the Cu K-alpha2 component), a smooth background and seeded noise.
import { CU_KA1, KA2_RATIO, kalpha2Position } from '../../src/physics/peaks.ts';

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Standard normal deviates (Box-Muller) from a seeded uniform source. */
export function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(1e-12, r()))) * Math.cos(2 * Math.PI * r());
}

export interface RenderLine {
  twoTheta: number;
  /** Peak height of the K-alpha1 component before scaling. */
  height: number;
}

export interface Rendered {
  twoTheta: Float64Array;
  intensity: Float64Array;
}

/** Lines (K-alpha1 positions) rendered with FWHM `fwhm`, the doublet if asked, background and noise. */
export function renderLines(lines: RenderLine[], o: { doublet: boolean; fwhm?: number; counts?: number; background?: number; seed?: number; noise?: boolean }): Rendered {
  const n = 8500;
  const x = Float64Array.from({ length: n }, (_, i) => 5 + i * 0.01);
  const y = new Float64Array(n);
  const counts = o.counts ?? 5000;
  const w = o.fwhm ?? 0.08;
  const pv = (d: number) => {
    const u = (d * d) / (w * w);
    return 0.5 * Math.exp(-4 * Math.LN2 * u) + 0.5 / (1 + 4 * u);
  };
  const top = Math.max(...lines.map((l) => l.height));
  for (const l of lines) {
    const h = (l.height / top) * counts;
    const x2 = kalpha2Position(l.twoTheta);
    for (let i = 0; i < n; i++) {
      const d = x[i]! - l.twoTheta;
      if (Math.abs(d) > 3) continue;
      y[i]! += h * pv(d);
      if (o.doublet) y[i]! += KA2_RATIO * h * pv(x[i]! - x2);
    }
  }
  const r = rng(o.seed ?? 1);
  const bg = o.background ?? 100;
  for (let i = 0; i < n; i++) {
    const mean = y[i]! + bg * (1 + 0.5 * Math.exp(-(x[i]! - 5) / 20));
    y[i] = o.noise === false ? mean : Math.max(0, mean + Math.sqrt(mean) * gauss(r));
  }
  return { twoTheta: x, intensity: y };
}

export const KA1 = CU_KA1;
