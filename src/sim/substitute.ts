// Element substitution: new crystals from a real structure by swapping elements for chemically
// similar ones (same common valence and coordination habits), with the cell scaled by the change
// in atomic size. Positions and symmetry operations are kept, and the swap is one-to-one (no two
// elements of the structure end up the same), so the space group is exactly that of the parent.

import type { Crystal, Site } from './crystal.ts';
import type { Rng } from './random.ts';

/**
 * Groups of elements that replace one another in inorganic structures (isomorphous series such as
 * the alkali halides, the calcite and olivine groups, phosphate/arsenate/vanadate, the rare-earth
 * series). An element belongs to at most one group; oxygen, hydrogen and the light elements are
 * never swapped, as they fix a structure's bonding.
 */
export const SUBSTITUTION_GROUPS: readonly (readonly string[])[] = [
  ['Li', 'Na', 'K', 'Rb', 'Cs'],
  ['Ca', 'Sr', 'Ba', 'Pb'],
  ['Mg', 'Mn', 'Fe', 'Co', 'Ni', 'Zn', 'Cd'],
  ['F', 'Cl', 'Br', 'I'],
  ['S', 'Se', 'Te'],
  ['P', 'As', 'V'],
  ['Si', 'Ge'],
  ['Al', 'Ga', 'In', 'Sc', 'Cr'],
  ['Ti', 'Zr', 'Hf', 'Sn'],
  ['Nb', 'Ta'],
  ['Mo', 'W'],
  ['Cu', 'Ag', 'Au'],
  ['Pd', 'Pt'],
  ['Ru', 'Os'],
  ['Rh', 'Ir'],
  ['Y', 'La', 'Ce', 'Pr', 'Nd', 'Sm', 'Eu', 'Gd', 'Tb', 'Dy', 'Ho', 'Er', 'Tm', 'Yb', 'Lu'],
  ['Th', 'U'],
];

/** Covalent radii (angstrom; Cordero et al., Dalton Trans. 2008) of the substitutable elements. */
// prettier-ignore
const RADIUS: Record<string, number> = {
  Li: 1.28, Na: 1.66, K: 2.03, Rb: 2.2, Cs: 2.44, Ca: 1.76, Sr: 1.95, Ba: 2.15, Pb: 1.46,
  Mg: 1.41, Mn: 1.39, Fe: 1.32, Co: 1.26, Ni: 1.24, Zn: 1.22, Cd: 1.44, F: 0.57, Cl: 1.02, Br: 1.2,
  I: 1.39, S: 1.05, Se: 1.2, Te: 1.38, P: 1.07, As: 1.19, V: 1.53, Si: 1.11, Ge: 1.2, Al: 1.21,
  Ga: 1.22, In: 1.42, Sc: 1.7, Cr: 1.39, Ti: 1.6, Zr: 1.75, Hf: 1.75, Sn: 1.39, Nb: 1.64, Ta: 1.7,
  Mo: 1.54, W: 1.62, Cu: 1.32, Ag: 1.45, Au: 1.36, Pd: 1.39, Pt: 1.36, Ru: 1.46, Os: 1.44, Rh: 1.42,
  Ir: 1.41, Y: 1.9, La: 2.07, Ce: 2.04, Pr: 2.03, Nd: 2.01, Sm: 1.98, Eu: 1.98, Gd: 1.96, Tb: 1.94,
  Dy: 1.92, Ho: 1.92, Er: 1.89, Tm: 1.9, Yb: 1.87, Lu: 1.87, Th: 2.06, U: 1.96,
};

const GROUP_OF = new Map<string, readonly string[]>(SUBSTITUTION_GROUPS.flatMap((g) => g.map((e) => [e, g] as const)));

/** The cell-edge factor is kept within these bounds (large swaps such as Li -> Cs distort more than this). */
const SCALE_RANGE: [number, number] = [0.85, 1.2];

export interface Substitution {
  crystal: Crystal;
  /** Element -> replacement, for the elements that changed. */
  swaps: Record<string, string>;
  /** Factor applied to the cell edges. */
  scale: number;
}

/**
 * A variant of `crystal` in which each substitutable element is replaced, with probability
 * `probability` (default 0.5), by another member of its group that the structure does not already
 * hold; at least one element changes when any can. Occupancies, displacement and charges stay (a
 * charge the form-factor table lacks for the new element falls back to the neutral atom). The cell
 * edges are multiplied by the ratio of summed covalent radii over the cell's atoms, within 0.85-1.2.
 * Returns null when no element of the structure can be swapped.
 */
export function substituteElements(crystal: Crystal, rng: Rng, probability = 0.5): Substitution | null {
  const present = [...new Set(crystal.sites.map((s) => s.element))];
  const candidates = present.filter((e) => GROUP_OF.has(e));
  if (candidates.length === 0) return null;
  const taken = new Set(present);
  const swaps: Record<string, string> = {};
  // Visit the candidates in a random order so no element is favoured in taking a shared group's members.
  const order = candidates.map((e) => ({ e, key: rng.uniform() })).sort((a, b) => a.key - b.key).map((x) => x.e);
  const forced = order[0]!;
  for (const element of order) {
    if (element !== forced && rng.uniform() >= probability) continue;
    const options = GROUP_OF.get(element)!.filter((x) => !taken.has(x));
    if (options.length === 0) continue;
    const pick = options[rng.int(0, options.length - 1)]!;
    swaps[element] = pick;
    taken.add(pick);
  }
  if (Object.keys(swaps).length === 0) return null;

  let before = 0;
  let after = 0;
  const sites: Site[] = crystal.sites.map((s) => {
    const to = swaps[s.element];
    const r0 = RADIUS[s.element] ?? 1;
    before += s.occupancy * r0;
    after += s.occupancy * (to ? RADIUS[to]! : r0);
    return to ? { ...s, element: to } : s;
  });
  const scale = Math.min(SCALE_RANGE[1], Math.max(SCALE_RANGE[0], after / before));
  const { lattice } = crystal;
  const tag = Object.entries(swaps)
    .map(([a, b]) => `${a}>${b}`)
    .join(',');
  return {
    crystal: {
      ...crystal,
      name: `${crystal.name} [${tag}]`,
      lattice: { ...lattice, a: lattice.a * scale, b: lattice.b * scale, c: lattice.c * scale },
      sites,
    },
    swaps,
    scale,
  };
}
