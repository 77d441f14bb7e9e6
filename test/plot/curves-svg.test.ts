// Tick labels of the training-curve plot: large and small values in exponent form with the digits
// they need, so no two ticks read the same and none is rounded to a neighbouring value.
import { describe, expect, it } from 'vitest';
import { curvesSvg } from '../../src/plot/curves-svg.ts';

const labels = (svg: string): string[] => [...svg.matchAll(/text-anchor="(?:middle|end)">([^<]*)</g)].map((m) => m[1]!);

describe('curvesSvg tick labels', () => {
  it('labels a 150000 tick 1.5e+5, not 2e+5', () => {
    const points: [number, number][] = [[0, 1], [160000, 0.5]];
    const svg = curvesSvg([{ title: 'Loss', yLabel: 'loss', series: [{ name: 'training', color: '#000', points }] }], 'patterns seen');
    const ticks = labels(svg);
    expect(ticks).toEqual(expect.arrayContaining(['50000', '1e+5', '1.5e+5']));
    expect(ticks).not.toContain('2e+5');
  });

  it('writes small values with their digits too', () => {
    const points: [number, number][] = [[0, 0.00025], [1, 0.0001]];
    const svg = curvesSvg([{ title: 'lr', yLabel: 'lr', series: [{ name: 'lr', color: '#000', points }] }], 'step');
    expect(labels(svg)).toEqual(expect.arrayContaining(['1.5e-4', '2.5e-4']));
  });
});
