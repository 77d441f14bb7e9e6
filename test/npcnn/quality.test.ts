import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLabelledDirectory, readPatternFile, toModelGrid } from '../../src/io/patterns.ts';
import { finiteProbabilities, patternQuality } from '../../src/npcnn/quality.ts';
import { DEFAULT_GRID } from '../../src/sim/render.ts';
import { repoRoot } from '../helpers/cli.ts';

const grid = DEFAULT_GRID;
const full = { from: 5, to: 89.99, fraction: 1 };
function noisy(f: (t: number) => number): Float32Array {
  let r = 7;
  return Float32Array.from({ length: grid.points }, (_, i) => {
    r = (r * 1103515245 + 12345) % 2147483648;
    return f(grid.twoThetaMin + i * grid.step) + 0.003 * (r / 2147483648);
  });
}
const gauss = (t: number, c: number, w = 0.1) => Math.exp(-(((t - c) / w) ** 2));

describe('prediction quality', () => {
  it('a flat line, one peak and a sliver of the range are unreliable; a real pattern is ok', () => {
    expect(patternQuality(noisy(() => 0.5), full, grid).verdict).toBe('unreliable');
    const one = patternQuality(noisy((t) => 0.05 + gauss(t, 30)), full, grid);
    expect(one).toMatchObject({ verdict: 'unreliable', peaks: 1 });
    expect(one.warnings[0]).toMatch(/only 1 peak above the noise/);
    const many = noisy((t) => 0.05 + [20, 28, 33, 41, 47, 52, 58, 66, 71, 80].reduce((s, c, i) => s + gauss(t, c) / (1 + i), 0));
    expect(patternQuality(many, full, grid)).toMatchObject({ verdict: 'ok', peaks: 10, warnings: [] });
    const sliver = patternQuality(many, { from: 40, to: 43.4, fraction: 0.04 }, grid);
    expect(sliver.verdict).toBe('unreliable');
    expect(sliver.warnings.join(' ')).toMatch(/covers 4 % of the model's 2-theta range/);
    const rutile = readPatternFile(join(repoRoot, 'examples/TiO2-rutile-realistic.xy'));
    const g = toModelGrid(rutile, grid);
    expect(patternQuality(g.values, g.coverage, grid).verdict).toBe('ok');
  });

  const rruff = join(repoRoot, '../shared/data/rruff-dev');
  it.skipIf(!existsSync(rruff))('passes nearly every measured mineral of rruff-dev', () => {
    const verdicts = readLabelledDirectory(rruff).map((p) => {
      const g = toModelGrid(p, grid);
      return patternQuality(g.values, g.coverage, grid).verdict;
    });
    expect(verdicts.filter((v) => v === 'unreliable')).toHaveLength(0);
    expect(verdicts.filter((v) => v === 'ok').length / verdicts.length).toBeGreaterThan(0.98);
  });

  it('non-finite probabilities are caught', () => {
    expect(finiteProbabilities([0.2, 0.8])).toBe(true);
    expect(finiteProbabilities([Number.NaN, 1])).toBe(false);
    expect(finiteProbabilities([Infinity])).toBe(false);
  });
});
