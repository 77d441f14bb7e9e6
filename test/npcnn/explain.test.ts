// Integrated gradients through our autograd: attributions add up to the change in the class's
// log-probability from an empty pattern (completeness), vanish where the input is zero, and the
// peaks are credited with shares of the support.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { modelConfig } from '../../src/npcnn/config.ts';
import { explain, peakShares } from '../../src/npcnn/explain.ts';
import { createModel } from '../../src/npcnn/model.ts';
import { predictRows } from '../../src/npcnn/predict.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

/** A pattern of `points` values with Gaussian peaks [index, height] of the given width, cut `reach` points from the centre. */
function gaussianPeaks(points: number, peaks: [number, number][], width: number, reach: number): Float32Array {
  const values = new Float32Array(points);
  for (const [at, h] of peaks) for (let j = at - reach; j <= at + reach; j++) values[j] = h * Math.exp(-(((j - at) / width) ** 2));
  return values;
}

describe('explain', () => {
  it('attributions sum to log p(class | pattern) - log p(class | empty) and are zero where the pattern is', async () => {
    const model = createModel(engine, modelConfig({ architecture: 'compact', task: 'crystal-system', seed: 2, grid: { points: 2000, step: 0.04 } }));
    const values = gaussianPeaks(2000, [
      [400, 1],
      [900, 0.5],
      [1500, 0.3],
    ], 2, 6);
    const e = await explain(model, values, { steps: 64 });
    const p = await predictRows(engine, model, values, 1);
    const p0 = await predictRows(engine, model, new Float32Array(2000), 1);
    const delta = Math.log(p[e.classIndex]!) - Math.log(p0[e.classIndex]!);
    const sum = e.attribution.reduce((a, v) => a + v, 0);
    expect(Math.abs(sum - delta)).toBeLessThan(0.05 * Math.abs(delta) + 0.02);
    // zero input, zero attribution
    expect(Math.abs(e.attribution[100]!)).toBe(0);
    expect(Math.abs(e.attribution[1200]!)).toBe(0);
    expect(e.probability).toBeCloseTo(p[e.classIndex]!, 5);
    expect(e.peaks.map((q) => Math.round((q.twoTheta - 5) / 0.04)).sort((a, b) => a - b)).toEqual([400, 900, 1500]);
    model.dispose();
  });

  it('on the log-q axis, attributions come back on the 2-theta grid and still add up', async () => {
    const model = createModel(engine, modelConfig({ architecture: 'compact-logq', task: 'crystal-system', seed: 3 }));
    const values = gaussianPeaks(8500, [
      [1500, 1],
      [3200, 0.6],
      [6800, 0.4],
    ], 8, 30);
    const e = await explain(model, values, { steps: 64 });
    expect(e.attribution).toHaveLength(8500);
    const p = await predictRows(engine, model, values, 1);
    const p0 = await predictRows(engine, model, new Float32Array(8500), 1);
    const delta = Math.log(p[e.classIndex]!) - Math.log(p0[e.classIndex]!);
    const sum = e.attribution.reduce((a, v) => a + v, 0);
    expect(Math.abs(sum - delta)).toBeLessThan(0.05 * Math.abs(delta) + 0.02);
    expect(Math.abs(e.attribution[500]!)).toBe(0);
    expect(e.peaks.map((q) => Math.round((q.twoTheta - 5) / 0.01)).sort((a, b) => a - b)).toEqual([1500, 3200, 6800]);
    model.dispose();
  });

  it('peak shares split the positive attribution by the windows around local maxima', () => {
    const values = Float32Array.from({ length: 100 }, (_, i) => (i === 20 ? 1 : i === 60 ? 0.5 : 0));
    const attr = Float32Array.from({ length: 100 }, (_, i) => (i === 21 ? 3 : i === 59 ? 1 : i === 90 ? -5 : 0));
    const peaks = peakShares(values, attr, 0, 0.1, 0.2);
    expect(peaks).toEqual([
      { twoTheta: 2, intensity: 1, share: 0.75 },
      { twoTheta: 6, intensity: 0.5, share: 0.25 },
    ]);
  });
});
