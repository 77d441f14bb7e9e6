// The log-q input axis: bins against a direct count, the shape of compact-logq, the round trip
// of attributions onto the grid, and clear errors for grids the axis cannot bin.
import { describe, expect, it } from 'vitest';
import { LOG_Q_STEP, modelConfig, validateModelConfig } from '../../src/npcnn/config.ts';
import { logQBinStarts, networkInputLength, spreadToGrid } from '../../src/npcnn/input-axis.ts';
import { DEFAULT_GRID } from '../../src/sim/render.ts';

const grid = { ...DEFAULT_GRID, logQStep: LOG_Q_STEP };

describe('log-q axis', () => {
  it('bins every grid point by ln Q, each bin LOG_Q_STEP wide and non-empty', () => {
    const starts = logQBinStarts(grid);
    // 5-89.99 deg at Cu K-alpha: ln Q runs from ln 0.3554 to ln 5.7633, i.e. 2.786 / 0.002 bins
    expect(starts.length - 1).toBe(1392);
    expect(starts[0]).toBe(0);
    expect(starts[starts.length - 1]).toBe(grid.points);
    const lnQ = (i: number) => Math.log((4 * Math.PI * Math.sin(((grid.twoThetaMin + i * grid.step) * Math.PI) / 360)) / grid.wavelength);
    for (let s = 0; s + 1 < starts.length; s++) {
      expect(starts[s + 1]!).toBeGreaterThan(starts[s]!);
      // every point of bin s lies in [s, s + 1) steps of ln Q from the first point (the last bin takes the rest)
      for (const i of [starts[s]!, starts[s + 1]! - 1]) {
        const k = (lnQ(i) - lnQ(0)) / LOG_Q_STEP;
        expect(k).toBeGreaterThanOrEqual(s - 1e-9);
        if (s < starts.length - 2) expect(k).toBeLessThan(s + 1 + 1e-9);
      }
    }
    // one or two grid points per bin at 5 deg, more than 20 at 90 deg
    expect(starts[1]! - starts[0]!).toBeLessThanOrEqual(2);
    expect(starts[starts.length - 1]! - starts[starts.length - 2]!).toBeGreaterThan(20);
  });

  it('compact-logq takes 1392 bins, reaches 30 positions of 64 channels and has about 0.7M parameters', () => {
    const c = modelConfig({ architecture: 'compact-logq', task: 'crystal-system' });
    expect(c.input).toMatchObject({ axis: 'log-q', logQStep: LOG_Q_STEP, transform: 'log', points: 8500 });
    expect(networkInputLength(c.input)).toBe(1392);
    const dense = c.layers.filter((l) => l.type === 'dense');
    expect(dense.map((l) => [l.in, l.out])).toEqual([
      [64 * 30, 256],
      [256, 7],
    ]);
    expect(networkInputLength(modelConfig({ architecture: 'compact', task: 'crystal-system' }).input)).toBe(8500);
  });

  it('spreads per-bin values back onto the grid keeping each bin total', () => {
    const starts = Int32Array.from([0, 1, 4, 6]);
    expect(Array.from(spreadToGrid([2, 3, -1], starts))).toEqual([2, 1, 1, 1, -0.5, -0.5]);
  });

  it('refuses grids it cannot bin, naming the field', () => {
    expect(() => logQBinStarts({ ...grid, logQStep: 0.0005 })).toThrow(/logQStep 0.0005 is finer than the grid.*use a wider step/);
    expect(() => logQBinStarts({ ...grid, logQStep: 5 })).toThrow(/wider than the whole grid/);
    expect(() => logQBinStarts({ ...grid, logQStep: undefined })).toThrow(/needs input.logQStep > 0/);
    expect(() => logQBinStarts({ ...grid, twoThetaMin: 0 })).toThrow(/within 0 < 2-theta < 180/);
    const c = modelConfig({ architecture: 'compact-logq', task: 'crystal-system' });
    expect(() => validateModelConfig({ ...c, input: { ...c.input, axis: 'q' } }, 'config.json')).toThrow(/config.json: input.axis must be 'two-theta' or 'log-q', got 'q'/);
    expect(() => validateModelConfig({ ...c, input: { ...c.input, logQStep: 0.004 } }, 'config.json')).toThrow(/config.json: .*in must be 64 x 30|config.json: layer/);
    expect(() => modelConfig({ architecture: 'compact-logq', task: 'crystal-system', grid: { step: 0.1, points: 850 } })).toThrow(/finer than the grid.*compact-logq/);
  });
});
