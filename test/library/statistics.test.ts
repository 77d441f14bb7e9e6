import { describe, expect, it } from 'vitest';
import { readLibrary } from '../../src/library/library.ts';
import { libraryStatistics, MAX_TEMPLATE_SITES, templateOptions } from '../../src/library/statistics.ts';
import { cellVolume } from '../../src/sim/crystal.ts';
import { Rng } from '../../src/sim/random.ts';
import { generateCrystalDetailed } from '../../src/sim/synth.ts';

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

describe('generator from real statistics (AMCSD)', () => {
  const stats = libraryStatistics(readLibrary());

  it('counts every mineral once in the space-group prior and weights elements by the library', () => {
    const total = stats.spaceGroupCounts.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(4000); // 1,704 named minerals + unnamed formulas
    // P2_1/c and Pnma are common among minerals, P1 (no symmetry) is rare
    expect(stats.spaceGroupCounts[13]!).toBeGreaterThan(10 * stats.spaceGroupCounts[0]!);
    const anion = (el: string) => stats.anions.find((s) => s.element === el)!.weight!;
    expect(anion('O')).toBeGreaterThan(5 * anion('S'));
  });

  it('crystals drawn from templates match their group in volume per atom and sites; random ones do not', () => {
    for (const sg of [14, 62, 166]) {
      const lib = stats.groups[sg - 1]!;
      expect(lib.length).toBeGreaterThan(100);
      const root = new Rng(`stats-${sg}`);
      const vpa: number[] = [];
      const sites: number[] = [];
      const random: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t = generateCrystalDetailed(sg, root.fork(i), templateOptions(stats, sg, root.fork(100 + i)));
        vpa.push(cellVolume(t.crystal.lattice) / t.crystal.sites.length);
        sites.push(t.wyckoff.length);
        const r = generateCrystalDetailed(sg, root.fork(200 + i)).crystal;
        random.push(cellVolume(r.lattice) / r.sites.length);
      }
      const libVpa = median(lib.map((s) => s.volumePerAtom));
      expect(Math.abs(median(vpa) / libVpa - 1)).toBeLessThan(0.15);
      expect(median(random) / libVpa).toBeGreaterThan(1.5); // the random generator's crystals are far less dense
      const libSites = lib.reduce((s, x) => s + Math.min(MAX_TEMPLATE_SITES, x.sites), 0) / lib.length;
      expect(Math.abs(sites.reduce((a, b) => a + b, 0) / sites.length - libSites)).toBeLessThan(1.2);
    }
  });
});
