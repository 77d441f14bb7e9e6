// Statistics of real structures that steer the synthetic crystal generator (after Schopmans et
// al., Digital Discovery 2023: crystals drawn from the statistics of real ones generalise better
// than random ones). From a structure library, per space group: the number of sites of the
// asymmetric unit, the share of them on general positions and the volume per atom, one sample per
// entry; over the whole library: how often each element occurs (as a cation-like or anion-like
// species) and how often each space group occurs, counting every mineral once.
//
// A synthetic crystal of group g then takes a template: one entry of g drawn at random (of g's
// crystal system when g has none), whose site count, general share and volume per atom set the
// generator's options, with elements drawn at the library's frequencies.
import { cellVolume, crystalSystemOf } from '../sim/crystal.ts';
import type { Rng } from '../sim/random.ts';
import { expandBySymmetry, parseSymOp } from '../sim/spacegroup.ts';
import { DEFAULT_ANIONS, DEFAULT_CATIONS, type PoolSpecies, type SynthOptions } from '../sim/synth.ts';
import { entryLabel, type Library } from './library.ts';

/** One entry's sample: asymmetric sites, share on general positions, volume per atom (A^3). */
export interface StructureSample {
  sites: number;
  generalShare: number;
  volumePerAtom: number;
}

export interface LibraryStatistics {
  /** Samples per space group (index = number - 1). */
  groups: StructureSample[][];
  /** Element pools with the library's frequencies (species of the generator's default pools). */
  cations: PoolSpecies[];
  anions: PoolSpecies[];
  /** Space-group counts with every mineral (or unnamed formula) counted once (index = number - 1). */
  spaceGroupCounts: number[];
}

/** Sites a template may ask for at most (the generator's own cap on atoms still applies). */
export const MAX_TEMPLATE_SITES = 10;

export function libraryStatistics(lib: Library): LibraryStatistics {
  const groups: StructureSample[][] = Array.from({ length: 230 }, () => []);
  const elementCount = new Map<string, number>();
  const perMineral = new Map<string, Set<number>>();
  const opsOf = new Map<number, ReturnType<typeof parseSymOp>[]>();
  for (const e of lib.entries) {
    if (e.spaceGroup === null) continue;
    let ops = opsOf.get(e.setting);
    if (!ops) opsOf.set(e.setting, (ops = lib.settings[e.setting]!.ops.map(parseSymOp)));
    // distinct positions of the asymmetric unit (mixed sites share one)
    const positions: typeof e.sites = [];
    for (const s of e.sites) if (!positions.some((p) => p.frac.every((x, i) => Math.abs(x - s.frac[i]!) < 1e-3))) positions.push(s);
    let atoms = 0;
    let general = 0;
    for (const p of positions) {
      const images = expandBySymmetry([{ element: 'X', charge: null, frac: [...p.frac], occupancy: 1, biso: 0 }], ops).length;
      atoms += images;
      if (images === ops.length) general++;
    }
    const [a, b, c, alpha, beta, gamma] = e.cell as [number, number, number, number, number, number];
    const volumePerAtom = cellVolume({ a, b, c, alpha, beta, gamma }) / Math.max(1, atoms);
    if (positions.length > 0 && volumePerAtom > 1 && volumePerAtom < 200) {
      groups[e.spaceGroup - 1]!.push({ sites: positions.length, generalShare: general / positions.length, volumePerAtom });
    }
    for (const el of new Set(e.sites.map((s) => s.element))) elementCount.set(el, (elementCount.get(el) ?? 0) + 1);
    const key = entryLabel(e);
    let gs = perMineral.get(key);
    if (!gs) perMineral.set(key, (gs = new Set()));
    gs.add(e.spaceGroup);
  }
  const spaceGroupCounts = new Array<number>(230).fill(0);
  for (const gs of perMineral.values()) for (const g of gs) spaceGroupCounts[g - 1]! += 1 / gs.size;
  // The default pools' species, weighted by how many entries hold the element (a little floor so
  // no species vanishes), the weight split among the charges a pool lists for one element.
  const weighted = (pool: readonly PoolSpecies[]): PoolSpecies[] => {
    const charges = new Map<string, number>();
    for (const s of pool) charges.set(s.element, (charges.get(s.element) ?? 0) + 1);
    return pool.map((s) => ({ element: s.element, charge: s.charge, weight: (1 + (elementCount.get(s.element) ?? 0)) / charges.get(s.element)! }));
  };
  return { groups, cations: weighted(DEFAULT_CATIONS), anions: weighted(DEFAULT_ANIONS), spaceGroupCounts };
}

/** Generator options for one crystal of group `sg`, from a template drawn with `rng`. */
export function templateOptions(stats: LibraryStatistics, sg: number, rng: Rng): SynthOptions {
  let samples = stats.groups[sg - 1]!;
  if (samples.length === 0) {
    const system = crystalSystemOf(sg);
    samples = stats.groups.filter((_, i) => crystalSystemOf(i + 1) === system).flat();
  }
  const base: SynthOptions = { cations: stats.cations, anions: stats.anions };
  if (samples.length === 0) return base;
  const t = samples[rng.int(0, samples.length - 1)]!;
  const sites = Math.min(MAX_TEMPLATE_SITES, t.sites);
  return {
    ...base,
    sites: [Math.max(1, sites - 1), sites],
    generalProbability: t.generalShare,
    volumePerAtom: [0.9 * t.volumePerAtom, 1.1 * t.volumePerAtom],
  };
}
