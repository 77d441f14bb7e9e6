// GPU pattern rendering against the CPU reference, normalisation, determinism, truncation error,
// chunking and errors. One engine for the file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import { applyEffects, drawEffects, preparePhase, resolveEffects, type Phase, type PresetName } from '../../src/sim/effects.ts';
import { Rng } from '../../src/sim/random.ts';
import { renderPatternReference } from '../reference/render.ts';
import {
  DEFAULT_GRID,
  LORENTZ_WINDOW,
  profileValue,
  renderPatterns,
  renderPatternsChunked,
  type Grid,
  type PatternSpec,
} from '../../src/sim/render.ts';
import { generateCrystal } from '../../src/sim/synth.ts';

let engine: Engine;
let phases: Phase[];
beforeAll(async () => {
  engine = await createEngine();
  const config = resolveEffects('realistic');
  phases = [221, 194, 62, 14, 166, 2].map((sg, i) => preparePhase(generateCrystal(sg, new Rng(50 + i)), { config }));
});
afterAll(() => engine?.destroy());

function specsFor(preset: PresetName, n: number, seed: number, grid: Grid = DEFAULT_GRID): PatternSpec[] {
  const config = resolveEffects(preset);
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, b) => {
    const e = drawEffects(config, rng.fork(b));
    const imps = e.impurities.map((x) => phases[(b + 1 + Math.floor(x.pick * 5)) % phases.length]);
    return applyEffects([phases[b % phases.length], ...imps], e, grid);
  });
}

function emptySpec(over: Partial<PatternSpec> = {}): PatternSpec {
  const z = new Float64Array(0);
  return { count: 0, center: z, fwhm: z, eta: z, area: z, chebyshev: [], hump: null, counts: 0, gaussianSigma: 0, uniformMax: 0, seed: 0, ...over };
}

/** Max |gpu - cpu| / max(1, |cpu|) over all points, and the number of points off by more than `tol`. */
function compare(gpu: Float32Array, specs: PatternSpec[], grid: Grid, normalize = true, tol = 1e-5): { maxDiff: number; off: number } {
  let maxDiff = 0;
  let off = 0;
  specs.forEach((s, b) => {
    const ref = renderPatternReference(s, grid, { normalize });
    for (let j = 0; j < grid.points; j++) {
      const d = Math.abs(ref[j] - gpu[b * grid.points + j]) / Math.max(1, Math.abs(ref[j]));
      maxDiff = Math.max(maxDiff, d);
      if (d > tol) {
        off++;
        if (process.env.DEBUG_RENDER) console.log(b, j, ref[j], gpu[b * grid.points + j]);
      }
    }
  });
  return { maxDiff, off };
}

describe('GPU rendering vs the CPU reference', () => {
  it('noise-free patterns (clean and realistic peaks, backgrounds, humps) agree to fp32 precision', async () => {
    const specs = [...specsFor('clean', 4, 1), ...specsFor('realistic', 12, 2)].map((s) => ({ ...s, counts: 0, gaussianSigma: 0, uniformMax: 0 }));
    const out = renderPatterns(engine, specs);
    expect(out.shape).toEqual([16, 8500]);
    const { maxDiff } = compare(await out.read(), specs, DEFAULT_GRID);
    out.dispose();
    expect(maxDiff).toBeLessThan(2e-5);
  });

  it('noisy patterns agree (rare Poisson draws at a CDF boundary may differ by one count)', async () => {
    const specs = [...specsFor('paper', 8, 3), ...specsFor('realistic', 16, 4)];
    const out = renderPatterns(engine, specs);
    const { off } = compare(await out.read(), specs, DEFAULT_GRID, true, 1e-4);
    out.dispose();
    expect(off).toBeLessThan(specs.length * 8500 * 1e-4);
  });

  it('ragged and tiny grids, a batch of one, and a pattern without peaks', async () => {
    for (const grid of [
      { twoThetaMin: 10, step: 0.037, points: 1001, wavelength: 1.5406 },
      { twoThetaMin: 30, step: 0.01, points: 7, wavelength: 1.5418 },
      { twoThetaMin: 30, step: 0.01, points: 1, wavelength: 1.5418 },
    ]) {
      const specs = [...specsFor('realistic', 3, 5, grid), emptySpec({ chebyshev: [0.2, 0.1], gaussianSigma: 0.01, seed: 9 })];
      for (const batch of [specs, specs.slice(0, 1)]) {
        const out = renderPatterns(engine, batch, grid, { normalize: false });
        const { off } = compare(await out.read(), batch, grid, false, 1e-4);
        out.dispose();
        expect(off).toBe(0);
      }
    }
  });
});

describe('GPU rendering properties', () => {
  it('every pattern has maximum exactly 1', async () => {
    const specs = specsFor('realistic', 32, 6);
    const out = renderPatterns(engine, specs);
    const y = await out.read();
    out.dispose();
    for (let b = 0; b < 32; b++) {
      let m = -Infinity;
      for (let j = 0; j < 8500; j++) m = Math.max(m, y[b * 8500 + j]);
      expect(m).toBe(1);
    }
  });

  it('same seed -> the same pattern bitwise (alone or in any batch); another seed differs', async () => {
    const specs = specsFor('realistic', 8, 7);
    const a = renderPatterns(engine, specs);
    const b = renderPatterns(engine, [specs[5]]);
    const c = renderPatterns(engine, [{ ...specs[5], seed: (specs[5].seed ^ 1) >>> 0 }]);
    const ya = await a.read();
    const yb = await b.read();
    const yc = await c.read();
    [a, b, c].forEach((t) => t.dispose());
    const row = ya.slice(5 * 8500, 6 * 8500);
    expect(Buffer.from(row.buffer).equals(Buffer.from(yb.buffer))).toBe(true);
    const again = renderPatterns(engine, specs);
    expect(Buffer.from((await again.read()).buffer).equals(Buffer.from(ya.buffer))).toBe(true);
    again.dispose();
    expect(specs[5].counts + specs[5].gaussianSigma + specs[5].uniformMax).toBeGreaterThan(0);
    expect(Buffer.from(yc.buffer).equals(Buffer.from(yb.buffer))).toBe(false);
  });

  it('window truncation: a Lorentzian differs from the untruncated profile by < 1/(1 + 4 w^2) of its height', async () => {
    const grid = { twoThetaMin: 5, step: 0.01, points: 8500, wavelength: 1.5418 };
    const spec = emptySpec({ count: 1, center: Float64Array.of(47.503), fwhm: Float64Array.of(0.2), eta: Float64Array.of(1), area: Float64Array.of(1) });
    const out = renderPatterns(engine, [spec], grid, { normalize: false });
    const y = await out.read();
    out.dispose();
    const height = profileValue(0, 1, 0.2, 1);
    let maxErr = 0;
    for (let j = 0; j < grid.points; j++) maxErr = Math.max(maxErr, Math.abs(y[j] - profileValue(5 + j * 0.01 - 47.503, 1, 0.2, 1)));
    const bound = height / (1 + 4 * LORENTZ_WINDOW ** 2);
    expect(maxErr).toBeLessThan(bound * 1.01);
    expect(maxErr).toBeGreaterThan(bound * 0.9); // the cut is where it is documented to be
  });

  it('truncation at the default tolerance: realistic patterns differ from untruncated peak sums by < 1e-3 of the tallest peak', async () => {
    const specs = specsFor('realistic', 4, 10).map((s) => ({ ...s, counts: 0, gaussianSigma: 0, uniformMax: 0, chebyshev: [], hump: null }));
    const out = renderPatterns(engine, specs, DEFAULT_GRID, { normalize: false });
    const y = await out.read();
    out.dispose();
    let worst = 0;
    specs.forEach((s, b) => {
      const exact = new Float64Array(8500);
      let tallest = 0;
      for (let i = 0; i < s.count; i++) {
        tallest = Math.max(tallest, profileValue(0, s.area[i], s.fwhm[i], s.eta[i]));
        for (let j = 0; j < 8500; j++) exact[j] += profileValue(5 + j * 0.01 - s.center[i], s.area[i], s.fwhm[i], s.eta[i]);
      }
      for (let j = 0; j < 8500; j++) worst = Math.max(worst, Math.abs(y[b * 8500 + j] - exact[j]) / tallest);
    });
    expect(worst).toBeLessThan(1e-3);
    expect(worst).toBeGreaterThan(0);
  });

  it('renderPatternsChunked splits a batch into tensors with the same contents', async () => {
    const specs = specsFor('paper', 7, 8);
    const whole = renderPatterns(engine, specs);
    const parts = renderPatternsChunked(engine, specs, DEFAULT_GRID, { maxPerTensor: 3 });
    expect(parts.map((t) => t.shape[0])).toEqual([3, 3, 1]);
    const joined = new Float32Array(7 * 8500);
    let o = 0;
    for (const t of parts) {
      const y = await t.read();
      joined.set(y, o);
      o += y.length;
      t.dispose();
    }
    expect(Buffer.from(joined.buffer).equals(Buffer.from((await whole.read()).buffer))).toBe(true);
    whole.dispose();
  });

  it('measures patterns/second at batch 256 (paper and realistic presets)', async () => {
    for (const preset of ['paper', 'realistic'] as const) {
      const specs = specsFor(preset, 256, 9);
      const warm = renderPatterns(engine, specs);
      await warm.read();
      warm.dispose();
      const t0 = performance.now();
      const reps = 3;
      for (let r = 0; r < reps; r++) {
        const out = renderPatterns(engine, specs);
        await out.read();
        out.dispose();
      }
      const perS = (256 * reps) / ((performance.now() - t0) / 1000);
      console.log(`render ${preset}: ${perS.toFixed(0)} patterns/s (batch 256, ${(specs.reduce((s, x) => s + x.count, 0) / 256).toFixed(0)} peaks/pattern, incl. upload and readback)`);
      expect(perS).toBeGreaterThan(50);
    }
  });
});

describe('errors', () => {
  it('too large a batch for one binding, unsorted peaks, bad values', () => {
    const huge = { twoThetaMin: 5, step: 1e-6, points: 40_000_000, wavelength: 1.5418 };
    expect(() => renderPatterns(engine, [emptySpec()], huge)).toThrow(ShapeError);
    expect(() => renderPatterns(engine, [emptySpec()], huge)).toThrow(/renderPatternsChunked/);
    expect(() => renderPatterns(engine, [])).toThrow(ShapeError);
    const unsorted = emptySpec({ count: 2, center: Float64Array.of(30, 20), fwhm: Float64Array.of(0.1, 0.1), eta: Float64Array.of(0, 0), area: Float64Array.of(1, 1) });
    expect(() => renderPatterns(engine, [unsorted])).toThrow(ValueError);
    expect(() => renderPatterns(engine, [emptySpec({ chebyshev: new Array(9).fill(0) })])).toThrow(/Chebyshev/);
    expect(() => renderPatterns(engine, [emptySpec({ seed: -1 })])).toThrow(/seed/);
    expect(() => renderPatterns(engine, [emptySpec()], { step: 0 })).toThrow(ValueError);
  });
});
