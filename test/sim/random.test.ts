import { describe, expect, it } from 'vitest';
import { Rng, RandomSeedError, rng } from '../../src/sim/random.ts';

const draw = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.nextU32());

describe('Rng', () => {
  it('is deterministic per seed and differs between seeds', () => {
    expect(draw(new Rng(42), 50)).toEqual(draw(new Rng(42), 50));
    expect(draw(rng('abc'), 10)).toEqual(draw(new Rng('abc'), 10));
    expect(draw(new Rng(42), 10)).not.toEqual(draw(new Rng(43), 10));
    // Seeds differing only above bit 32 give different streams.
    expect(draw(new Rng(1), 10)).not.toEqual(draw(new Rng(1 + 2 ** 32), 10));
    expect(() => new Rng(Number.NaN)).toThrow(RandomSeedError);
  });

  it('uniform() has the moments of U(0, 1) and stays in range', () => {
    const r = new Rng(7);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      s += u;
      s2 += u * u;
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(s / n).toBeCloseTo(0.5, 2); // sd of the mean ~ 0.0006
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 2);
    const v = r.uniform(-3, 5);
    expect(v).toBeGreaterThanOrEqual(-3);
    expect(v).toBeLessThan(5);
  });

  it('normal() has the requested mean and standard deviation', () => {
    const r = new Rng(11);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let beyond2 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal(2, 3);
      s += z;
      s2 += z * z;
      if (Math.abs(z - 2) > 6) beyond2++;
    }
    const mean = s / n;
    expect(mean).toBeCloseTo(2, 1);
    expect(Math.sqrt(s2 / n - mean * mean)).toBeCloseTo(3, 1);
    expect(beyond2 / n).toBeCloseTo(0.0455, 2); // P(|Z| > 2)
  });

  it('int() covers both ends uniformly; pick() and weightedIndex() follow their weights', () => {
    const r = new Rng(3);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 50_000; i++) counts[r.int(-2, 2) + 2]++;
    for (const c of counts) expect(c / 50_000).toBeCloseTo(0.2, 2);
    expect(() => r.int(3, 2)).toThrow(RangeError);
    expect(() => r.int(0.5, 2)).toThrow(RangeError);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(r.pick(['a', 'b', 'c']));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    expect(() => r.pick([])).toThrow(RangeError);
    const w = [0, 0, 0];
    for (let i = 0; i < 40_000; i++) w[r.weightedIndex([1, 0, 3])]++;
    expect(w[1]).toBe(0);
    expect(w[2] / 40_000).toBeCloseTo(0.75, 2);
  });

  it('fork(i) depends on the seed and i only, not on how far the parent has advanced', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    draw(b, 1000);
    expect(draw(a.fork(3), 20)).toEqual(draw(b.fork(3), 20));
    expect(draw(a.fork(3), 20)).not.toEqual(draw(a.fork(4), 20));
    expect(draw(a.fork(0), 20)).not.toEqual(draw(new Rng(5), 20));
    expect(draw(a.fork(1).fork(2), 5)).toEqual(draw(b.fork(1).fork(2), 5));
    // Neighbouring substreams are uncorrelated.
    const x = a.fork(10);
    const y = a.fork(11);
    let sxy = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) sxy += (x.uniform() - 0.5) * (y.uniform() - 0.5);
    expect(Math.abs(sxy / n) / (1 / 12)).toBeLessThan(0.02);
  });
});
