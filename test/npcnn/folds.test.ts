// Folds that keep near-duplicates together, and the baselines scored on them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assignFolds, correlations, foldBaselines } from '../../src/npcnn/folds.ts';

const root = resolve(import.meta.dirname, '../..');
const RRUFF = join(root, '../shared/data/rruff-dev');
const tmp = mkdtempSync(join(tmpdir(), 'xrd-folds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A pattern with peaks at the given positions (of 200 points), plus a little noise. */
function row(peaks: number[], noise: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: 200 }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return peaks.reduce((a, p) => a + Math.exp(-(((i - p) / 2) ** 2)), 0) + noise * (s / 2 ** 31);
  });
}

describe('folds', () => {
  // 0-1-2 a chain of near-duplicates (0~1, 1~2), 3-4 a pair, 5..9 distinct
  const rows = [
    row([20, 60], 0.05, 1),
    row([20, 60, 61], 0.05, 2),
    row([21, 61, 62], 0.05, 3),
    row([100, 150], 0.05, 4),
    row([100, 150], 0.05, 5),
    row([30], 0.05, 6),
    row([80], 0.05, 7),
    row([120], 0.05, 8),
    row([170], 0.05, 9),
    row([190], 0.05, 10),
  ];
  const corr = correlations(rows);

  it('correlation is symmetric, 1 on the diagonal, high for near-duplicates and low otherwise', () => {
    const n = rows.length;
    for (let i = 0; i < n; i++) {
      expect(corr[i * n + i]).toBe(1);
      for (let j = 0; j < n; j++) expect(corr[i * n + j]).toBeCloseTo(corr[j * n + i]!, 12);
    }
    expect(corr[0 * n + 1]).toBeGreaterThan(0.7);
    expect(corr[3 * n + 4]).toBeGreaterThan(0.95);
    expect(corr[5 * n + 6]).toBeLessThan(0.3);
  });

  it('joins near-duplicates transitively, keeps each group in one fold, and balances fold sizes', () => {
    const a = assignFolds(corr, rows.length, 3, 0.7);
    expect(a.fold[0]).toBe(a.fold[1]);
    expect(a.fold[1]).toBe(a.fold[2]);
    expect(a.fold[3]).toBe(a.fold[4]);
    expect(a.groups).toBe(7);
    expect(a.withDuplicate).toBe(5);
    const sizes = [0, 1, 2].map((f) => a.fold.filter((x) => x === f).length).sort();
    expect(sizes).toEqual([3, 3, 4]);
    expect(() => assignFolds(corr, rows.length, 1)).toThrow(/k must be an integer from 2/);
  });

  it('baselines: a near-duplicate in another fold would make the lookup look skilled; grouped folds do not', () => {
    const sg = [14, 14, 14, 62, 62, 2, 12, 15, 225, 194];
    const cs = sg.map((g) => (g === 14 || g === 12 || g === 15 ? 'monoclinic' : g === 62 ? 'orthorhombic' : g === 2 ? 'triclinic' : g === 225 ? 'cubic' : 'hexagonal'));
    const grouped = assignFolds(corr, rows.length, 5, 0.7);
    const b = foldBaselines(corr, sg, cs, grouped.fold, 5);
    // every pattern's neighbours in the other folds are unrelated
    expect(b.nearest.spaceGroup.top1).toBeLessThan(0.35);
    // leave-one-out (each pattern its own fold) finds the duplicates: 5 of 10 right at least
    const loo = foldBaselines(corr, sg, cs, [...rows.keys()], rows.length);
    expect(loo.nearest.spaceGroup.top1).toBeGreaterThanOrEqual(0.5);
    expect(loo.nearest.spaceGroup.n).toBe(10);
    expect(b.majority.crystalSystem.n).toBe(10);
  });

  it.skipIf(!existsSync(RRUFF))('xrd folds on rruff-dev: 347 groups, 170 patterns with a near-duplicate, baselines printed (skipped without ../shared/data)', () => {
    const out = join(tmp, 'folds.json');
    const text = execFileSync(process.execPath, [join(root, 'bin/xrd.js'), 'folds', RRUFF, '--k', '5', '-o', out], { encoding: 'utf8' });
    expect(text).toMatch(/^454 patterns in 347 groups \(170 have a near-duplicate at r >= 0.7\); folds of 91, 91, 91, 91, 90/);
    expect(text).toMatch(/nearest neighbour\s+crystal system \d+\.\d%\s+space group \d+\.\d%/);
    const f = JSON.parse(readFileSync(out, 'utf8')) as { files: { file: string; fold: number; group: number }[] };
    expect(f.files).toHaveLength(454);
    const foldOfGroup = new Map<number, number>();
    for (const x of f.files) {
      if (foldOfGroup.has(x.group)) expect(foldOfGroup.get(x.group)).toBe(x.fold);
      foldOfGroup.set(x.group, x.fold);
    }
  }, 60_000);
});

describe('nearest-neighbour baseline, by hand', () => {
  it('equals a case worked out by hand', () => {
    // 4 patterns, folds [0, 0, 1, 1]; correlations chosen so that
    //   0 -> nearest in fold 1 is 3 (0.9 > 0.2), 1 -> 2 (0.8 > 0.1), 2 -> 1 (0.8 > 0.3), 3 -> 0 (0.9 > 0.4)
    const c = [
      [1, 0.5, 0.2, 0.9],
      [0.5, 1, 0.8, 0.1],
      [0.2, 0.8, 1, 0.6],
      [0.9, 0.1, 0.6, 1],
    ];
    const corr = Float64Array.from(c.flat());
    const sg = [14, 62, 62, 225];
    const cs = ['monoclinic', 'orthorhombic', 'orthorhombic', 'cubic'];
    const b = foldBaselines(corr, sg, cs, [0, 0, 1, 1], 2);
    // predictions: 0 -> 225 (wrong), 1 -> 62 (right), 2 -> 62 (right), 3 -> 14 (wrong)
    expect(b.nearest.spaceGroup).toEqual({ top1: 0.5, n: 4 });
    expect(b.nearest.crystalSystem).toEqual({ top1: 0.5, n: 4 });
    // majority of the other fold: fold 0 sees {62, 225} (tie -> first counted, 62): patterns 0, 1 -> 1 right;
    // fold 1 sees {14, 62} (tie -> 14): patterns 2, 3 -> 0 right
    expect(b.majority.spaceGroup).toEqual({ top1: 0.25, n: 4 });
  });
});
