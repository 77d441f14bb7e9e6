// Peak picking: positions on simulated patterns of known structures (with and without the
// K-alpha2 doublet), the pieces it is built from, noise only, and pymatgen-rendered patterns.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CU_KA1, kalpha2Position, pickPeaks, savitzkyGolayCoefficients, snipBackground } from '../../src/physics/peaks.ts';
import { readCif } from '../../src/sim/cif.ts';
import { peakList } from '../../src/sim/reflections.ts';
import { readPatternFile } from '../../src/io/patterns.ts';
import { renderLines } from './helpers.ts';

const REF = new URL('../../../shared/data/reference-xrd/', import.meta.url).pathname;

/** Lines of an example structure at Cu K-alpha1 (merged within 0.05 deg; heights from intensities). */
function structureLines(name: string) {
  const c = readCif(new URL(`../../examples/${name}.cif`, import.meta.url).pathname);
  return peakList(c, { wavelength: CU_KA1, twoThetaMin: 10, twoThetaMax: 88 })
    .filter((p) => p.intensity >= 8)
    .map((p) => ({ twoTheta: p.two_theta, height: p.intensity }));
}

describe('peak picking on simulated patterns', () => {
  for (const name of ['NaCl-halite', 'TiO2-rutile', 'Si-diamond']) {
    for (const doublet of [true, false]) {
      it(`${name} ${doublet ? 'with' : 'without'} K-alpha2: every line found within 0.01 deg, no satellite`, () => {
        const lines = structureLines(name);
        // lines closer than one width cannot be told apart: keep the well-separated ones
        const separated = lines.filter((l) => lines.every((m) => m === l || Math.abs(m.twoTheta - l.twoTheta) > 0.3));
        const pat = renderLines(lines, { doublet, seed: 3 });
        const pick = pickPeaks(pat.twoTheta, pat.intensity, { wavelength: 1.5418 });
        expect(pick.kalpha2).toBe(doublet);
        for (const l of separated) {
          const near = pick.peaks.map((p) => Math.abs(p.twoTheta - l.twoTheta));
          expect(Math.min(...near)).toBeLessThan(0.01);
        }
        // nothing at a K-alpha2 position of a strong line above 40 deg
        if (doublet) {
          for (const l of separated.filter((l) => l.twoTheta > 40 && l.height > 30)) {
            const x2 = kalpha2Position(l.twoTheta);
            expect(pick.peaks.some((p) => Math.abs(p.twoTheta - x2) < 0.03)).toBe(false);
          }
        }
        // d-spacings use K-alpha1 when the doublet is modelled
        expect(pick.wavelength).toBeCloseTo(doublet ? CU_KA1 : 1.5418, 6);
        for (const p of pick.peaks) {
          expect(p.sigma).toBeGreaterThan(0);
          expect(p.sigma).toBeLessThan(0.02);
          expect(p.relative).toBeGreaterThanOrEqual(0.05);
        }
      });
    }
  }

  it('uncertainties grow with the noise', () => {
    const lines = structureLines('TiO2-rutile');
    const quiet = pickPeaks(renderLines(lines, { doublet: false, counts: 100000 }).twoTheta, renderLines(lines, { doublet: false, counts: 100000 }).intensity);
    const loud = renderLines(lines, { doublet: false, counts: 1000, seed: 5 });
    const noisy = pickPeaks(loud.twoTheta, loud.intensity);
    const strongest = (p: typeof quiet) => p.peaks.reduce((a, b) => (b.height > a.height ? b : a));
    expect(strongest(noisy).sigma).toBeGreaterThan(2 * strongest(quiet).sigma);
  });

  it('noise on a background gives no peaks', () => {
    const pat = renderLines([], { doublet: false, seed: 9 });
    expect(pickPeaks(pat.twoTheta, pat.intensity).peaks.length).toBe(0);
  });

  it('a flat zero pattern and a tiny one give no peaks', () => {
    expect(pickPeaks(new Float64Array(500).map((_, i) => 5 + i * 0.01), new Float64Array(500)).peaks).toEqual([]);
    expect(pickPeaks([1, 2, 3], [0, 5, 0]).peaks).toEqual([]);
  });
});

describe('peak picking pieces', () => {
  it('Savitzky-Golay coefficients sum to one and keep a parabola', () => {
    for (const m of [2, 4, 7]) {
      const c = savitzkyGolayCoefficients(m);
      expect(c.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      // smoothing t^2 at t = 0 over a symmetric window returns 0
      let s = 0;
      for (let j = -m; j <= m; j++) s += c[j + m]! * j * j;
      expect(s).toBeCloseTo(0, 10);
    }
  });

  it('SNIP follows a sloped background under a narrow peak', () => {
    const y = Array.from({ length: 1000 }, (_, i) => 200 + 0.1 * i + 5000 * Math.exp(-(((i - 500) / 4) ** 2)));
    const bg = snipBackground(y, 40);
    expect(Math.abs(bg[500]! - 250)).toBeLessThan(10);
    expect(Math.abs(bg[100]! - 210)).toBeLessThan(5);
  });

  it('the K-alpha2 position follows the wavelength ratio', () => {
    // 2-theta 60: separation 2 tan(30 deg) (dl/l) rad, about 0.164 deg
    expect(kalpha2Position(60) - 60).toBeCloseTo(0.1641, 3);
    expect(kalpha2Position(20) - 20).toBeCloseTo(0.0502, 3);
  });
});

describe.skipIf(!existsSync(REF))('peak picking on pymatgen-rendered reference patterns', () => {
  it('strong lines (>= 20 % of the strongest, 0.2 deg from any other) within 0.01 deg for the median and 0.03 for 90 %', () => {
    const index = JSON.parse(readFileSync(`${REF}index.json`, 'utf8')) as { name: string }[];
    const errors: number[] = [];
    for (const { name } of index) {
      const p = readPatternFile(`${REF}${name}.xy`);
      const ref = JSON.parse(readFileSync(`${REF}${name}.peaks.json`, 'utf8')) as { two_theta: number[]; intensity: number[] };
      const pick = pickPeaks(p.twoTheta, p.intensity, { wavelength: p.wavelength ?? 1.5418 });
      ref.two_theta.forEach((t, i) => {
        if (ref.intensity[i]! < 20) return;
        if (ref.two_theta.some((u, j) => j !== i && Math.abs(u - t) < 0.2)) return;
        errors.push(Math.min(...pick.peaks.map((q) => Math.abs(q.twoTheta - t))));
      });
    }
    errors.sort((a, b) => a - b);
    expect(errors.length).toBeGreaterThan(100);
    expect(errors[errors.length >> 1]).toBeLessThan(0.01);
    expect(errors[Math.floor(errors.length * 0.9)]).toBeLessThan(0.03);
  });
});
