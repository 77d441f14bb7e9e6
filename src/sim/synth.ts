// Synthetic crystals for any of the 230 space groups, for training data.
//
// One draw: a lattice of the group's crystal system (moyo's standard setting: monoclinic unique
// axis b, trigonal/hexagonal and rhombohedral groups on hexagonal axes, rhombohedral obverse), a
// random set of Wyckoff positions with random free parameters, elements/ions from a pool (all
// with Waasmaier-Kirfel form factors), occupancies mostly 1 with some partial and mixed sites,
// the cell scaled to a drawn volume per atom and a minimum periodic interatomic distance enforced
// by redrawing free parameters. Finally moyo checks the symmetry: a draw whose structure happens
// to have a supergroup (only special positions, a pseudo-translation, ...) is thrown away and
// redrawn, with later attempts pushed towards general positions and more sites. The check runs
// on the primitive cell (fewer atoms, same group type); distance checks skip neighbour cells
// that cannot hold an image closer than the minimum distance.

import type { Crystal, Lattice, Mat3, Site, SymOp, Vec3 } from './crystal.ts';
import { cellVolume, crystalSystemOf, latticeMatrix } from './crystal.ts';
import type { Centering } from './spacegroup.ts';
import { WAASMAIER_KIRFEL } from './data/formfactors.ts';
import { ionName } from './formfactors.ts';
import { Rng, type Seed } from './random.ts';
import { detectSpaceGroup, parseSymOp, spaceGroupInfo, symmetryOperations, wyckoffPositions } from './spacegroup.ts';

/** Invalid generator options (a caller's mistake). */
export class SynthOptionsError extends Error {
  override name = 'SynthOptionsError';
}

/** No crystal with the requested group was found within the attempt budget. */
export class SynthesisError extends Error {
  override name = 'SynthesisError';
}

/** One species of the element pool: element, formal charge (null = neutral), relative weight. */
export interface PoolSpecies {
  element: string;
  charge: number | null;
  /** Relative frequency among species of its role; default 1. */
  weight?: number;
}

export interface SynthOptions {
  /** Range of the number of Wyckoff sites (inclusive); default [1, 6]. */
  sites?: [number, number];
  /** Most atoms (positions) in the conventional cell; default 200. */
  maxAtoms?: number;
  /** Minimum periodic interatomic distance in angstrom; default 1.5. */
  minDistance?: number;
  /** Range of the volume per atom (angstrom^3), drawn uniformly; default [8, 40]. */
  volumePerAtom?: [number, number];
  /** Cations (or neutral metals/metalloids) to draw from; default DEFAULT_CATIONS. */
  cations?: PoolSpecies[];
  /** Anions (or neutral non-metals) to draw from; default DEFAULT_ANIONS. */
  anions?: PoolSpecies[];
  /** Probability that a site has a single species with occupancy < 1; default 0.08. */
  partialProbability?: number;
  /** Probability that a site holds two species sharing the position; default 0.07. */
  mixedProbability?: number;
  /** Probability that a Wyckoff pick is the general position (when it fits); default 0.4. */
  generalProbability?: number;
  /** Range of isotropic displacement parameters B (angstrom^2); default [0.3, 1.5]. */
  biso?: [number, number];
  /** Whole-crystal attempts before giving up with SynthesisError; default 200. */
  maxAttempts?: number;
  /**
   * Check with moyo that the result has exactly the requested group (default true). Turn off
   * only to measure the raw generator.
   */
  verify?: boolean;
  /** Tolerance of that check in angstrom; default 0.1 (so near-supergroups are rejected too). */
  symprec?: number;
}

/** Result of generateCrystalDetailed. */
export interface SynthResult {
  crystal: Crystal;
  /** Whole-crystal attempts used (1 = first draw accepted). */
  attempts: number;
  /** Wyckoff position of each asymmetric site, e.g. '4e', in the order the sites were placed. */
  wyckoff: string[];
}

const sp = (element: string, charge: number | null, weight = 1): PoolSpecies => ({ element, charge, weight });

/**
 * Default cations: common metals and metalloids of inorganic crystals with typical charges.
 * Elements without a Waasmaier-Kirfel ion entry (P, B, Y, ...) are neutral atoms.
 */
export const DEFAULT_CATIONS: readonly PoolSpecies[] = [
  sp('Li', 1), sp('Na', 1), sp('K', 1), sp('Rb', 1, 0.3), sp('Cs', 1, 0.3), sp('Be', 2, 0.2),
  sp('Mg', 2), sp('Ca', 2), sp('Sr', 2, 0.6), sp('Ba', 2, 0.6), sp('Al', 3), sp('Ga', 3, 0.4),
  sp('In', 3, 0.3), sp('Si', 4), sp('Ge', 4, 0.4), sp('Sn', 4, 0.4), sp('Sn', 2, 0.2), sp('Pb', 2, 0.4),
  sp('Bi', 3, 0.4), sp('Sb', 3, 0.2), sp('Sc', 3, 0.3), sp('Y', null, 0.4), sp('Ti', 4, 0.8),
  sp('Ti', 3, 0.2), sp('V', 3, 0.3), sp('V', 5, 0.3), sp('Cr', 3, 0.4), sp('Mn', 2, 0.5), sp('Mn', 3, 0.3),
  sp('Mn', 4, 0.3), sp('Fe', 2, 0.6), sp('Fe', 3, 0.6), sp('Co', 2, 0.4), sp('Co', 3, 0.2), sp('Ni', 2, 0.5),
  sp('Cu', 1, 0.3), sp('Cu', 2, 0.5), sp('Zn', 2, 0.5), sp('Zr', 4, 0.4), sp('Nb', 5, 0.3), sp('Mo', 6, 0.3),
  sp('W', 6, 0.3), sp('Ag', 1, 0.3), sp('Cd', 2, 0.2), sp('La', 3, 0.4), sp('Ce', 3, 0.2), sp('Ce', 4, 0.2),
  sp('Nd', 3, 0.3), sp('Gd', 3, 0.2), sp('Hf', 4, 0.2), sp('Ta', 5, 0.2), sp('P', null, 0.6),
  sp('B', null, 0.3),
];

/** Default anions (and neutral non-metals without an anion entry: S, Se, N, C). */
export const DEFAULT_ANIONS: readonly PoolSpecies[] = [
  sp('O', -2, 10), sp('F', -1, 2), sp('Cl', -1, 1.5), sp('Br', -1, 0.4), sp('I', -1, 0.4),
  sp('S', null, 1.5), sp('Se', null, 0.4), sp('N', null, 0.4), sp('C', null, 0.2),
];

// ---------------------------------------------------------------------------------------------
// Per-group tables, built once per group.

interface WyckoffSpec {
  label: string; // '4e'
  multiplicity: number;
  /** Representative: position = A * (x, y, z) + t. */
  a: Mat3;
  t: Vec3;
  /** Free parameters used (subset of 0=x, 1=y, 2=z). */
  params: number[];
  general: boolean;
}

interface GroupTables {
  /** Operations flattened: 12 numbers each (rotation row-major, then translation). */
  ops: Float64Array;
  wyckoff: WyckoffSpec[];
}

const tablesCache = new Map<number, GroupTables>();

function flattenOps(ops: SymOp[]): Float64Array {
  const flat = new Float64Array(ops.length * 12);
  ops.forEach((op, i) => {
    const r = op.rotation;
    flat.set(r, i * 12);
    flat.set(op.translation, i * 12 + 9);
  });
  return flat;
}

/** Every Wyckoff representative at a generic parameter value has an orbit of its multiplicity. */
function opsMatchWyckoff(ops: Float64Array, wyckoff: WyckoffSpec[]): boolean {
  const v: Vec3 = [0.1234, 0.2345, 0.3456];
  return wyckoff.every((w) => orbit(ops, affine(w, v)).length === w.multiplicity * 3);
}

function wyckoffSpecs(n: number): WyckoffSpec[] {
  return wyckoffPositions(n).map((w, i): WyckoffSpec => {
    const rep = parseSymOp(w.coordinates);
    const params = [0, 1, 2].filter((j) => rep.rotation[j] !== 0 || rep.rotation[3 + j] !== 0 || rep.rotation[6 + j] !== 0);
    return {
      label: `${w.multiplicity}${w.letter}`,
      multiplicity: w.multiplicity,
      a: rep.rotation,
      t: rep.translation,
      params,
      general: i === 0, // moyo lists the general position first
    };
  });
}

function groupTables(n: number): GroupTables {
  let g = tablesCache.get(n);
  if (g) return g;
  const wyckoff = wyckoffSpecs(n);
  const ops = flattenOps(symmetryOperations(n));
  if (!opsMatchWyckoff(ops, wyckoff)) {
    throw new Error(`internal: symmetry operations of space group ${n} do not reproduce its Wyckoff multiplicities`);
  }
  g = { ops, wyckoff };
  tablesCache.set(n, g);
  return g;
}

function affine(w: WyckoffSpec, v: Vec3): Vec3 {
  const a = w.a;
  return [
    a[0] * v[0] + a[1] * v[1] + a[2] * v[2] + w.t[0],
    a[3] * v[0] + a[4] * v[1] + a[5] * v[2] + w.t[1],
    a[6] * v[0] + a[7] * v[1] + a[8] * v[2] + w.t[2],
  ];
}

// ---------------------------------------------------------------------------------------------
// Options

interface ResolvedOptions {
  sites: [number, number];
  maxAtoms: number;
  minDistance: number;
  volumePerAtom: [number, number];
  cations: PoolSpecies[];
  anions: PoolSpecies[];
  partialProbability: number;
  mixedProbability: number;
  generalProbability: number;
  biso: [number, number];
  maxAttempts: number;
  verify: boolean;
  symprec: number;
}

function checkRange(name: string, r: [number, number], lo: number, integer = false): void {
  if (!Array.isArray(r) || r.length !== 2 || !(r[0] >= lo) || !(r[1] >= r[0]) || !Number.isFinite(r[1])) {
    throw new SynthOptionsError(`option ${name} must be [min, max] with ${lo} <= min <= max, got ${JSON.stringify(r)}`);
  }
  if (integer && !(Number.isInteger(r[0]) && Number.isInteger(r[1]))) {
    throw new SynthOptionsError(`option ${name} must hold integers, got ${JSON.stringify(r)}`);
  }
}

function checkProbability(name: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new SynthOptionsError(`option ${name} must be a probability in [0, 1], got ${p}`);
}

function checkPool(name: string, pool: PoolSpecies[]): PoolSpecies[] {
  if (!Array.isArray(pool) || pool.length === 0) {
    throw new SynthOptionsError(`option ${name} must be a non-empty list of {element, charge} species`);
  }
  for (const s of pool) {
    if (!WAASMAIER_KIRFEL[ionName(s.element, s.charge)]) {
      throw new SynthOptionsError(
        `species ${ionName(s.element, s.charge)} in option ${name} has no Waasmaier-Kirfel form factor; ` +
          `use an ion of that table (e.g. 'Fe' with charge 3) or the neutral atom (charge null)`,
      );
    }
    if (!((s.weight ?? 1) > 0)) throw new SynthOptionsError(`species ${s.element} in option ${name} needs a positive weight`);
  }
  return pool;
}

function resolveOptions(o: SynthOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    sites: o.sites ?? [1, 6],
    maxAtoms: o.maxAtoms ?? 200,
    minDistance: o.minDistance ?? 1.5,
    volumePerAtom: o.volumePerAtom ?? [8, 40],
    cations: checkPool('cations', o.cations ?? [...DEFAULT_CATIONS]),
    anions: checkPool('anions', o.anions ?? [...DEFAULT_ANIONS]),
    partialProbability: o.partialProbability ?? 0.08,
    mixedProbability: o.mixedProbability ?? 0.07,
    generalProbability: o.generalProbability ?? 0.4,
    biso: o.biso ?? [0.3, 1.5],
    maxAttempts: o.maxAttempts ?? 200,
    verify: o.verify ?? true,
    symprec: o.symprec ?? 0.1,
  };
  checkRange('sites', r.sites, 1, true);
  checkRange('volumePerAtom', r.volumePerAtom, 1e-3);
  checkRange('biso', r.biso, 0);
  checkProbability('partialProbability', r.partialProbability);
  checkProbability('mixedProbability', r.mixedProbability);
  checkProbability('generalProbability', r.generalProbability);
  if (r.partialProbability + r.mixedProbability > 1) {
    throw new SynthOptionsError('partialProbability + mixedProbability must not exceed 1');
  }
  if (!(Number.isInteger(r.maxAtoms) && r.maxAtoms >= 1)) throw new SynthOptionsError(`option maxAtoms must be a positive integer, got ${r.maxAtoms}`);
  if (!(r.minDistance >= 0 && Number.isFinite(r.minDistance))) throw new SynthOptionsError(`option minDistance must be >= 0, got ${r.minDistance}`);
  if (!(Number.isInteger(r.maxAttempts) && r.maxAttempts >= 1)) throw new SynthOptionsError(`option maxAttempts must be a positive integer, got ${r.maxAttempts}`);
  if (!(r.symprec > 0 && r.symprec < r.minDistance / 2 + 1)) throw new SynthOptionsError(`option symprec must be positive and well below minDistance, got ${r.symprec}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Lattice

const DEG = Math.PI / 180;

/** A lattice shape of the crystal system, lengths 3-15 A before rescaling to the target volume. */
function drawLatticeShape(n: number, rng: Rng): Lattice {
  const len = (): number => rng.uniform(3, 15);
  // Lengths at least 5 % apart so the metric is not accidentally of a higher system.
  const distinctFrom = (x: number, others: number[]): number => {
    for (let i = 0; i < 100; i++) {
      const y = len();
      if (others.every((o) => Math.abs(y - o) > 0.05 * Math.max(y, o))) return y;
    }
    return x * 1.3;
  };
  switch (crystalSystemOf(n)) {
    case 'cubic':
      return { a: 1, b: 1, c: 1, alpha: 90, beta: 90, gamma: 90 };
    case 'tetragonal': {
      const a = len();
      const c = distinctFrom(a, [a]);
      return { a, b: a, c, alpha: 90, beta: 90, gamma: 90 };
    }
    case 'trigonal':
    case 'hexagonal': {
      const a = len();
      let c = len();
      if (spaceGroupInfo(n).centering === 'R') {
        // Keep the rhombohedral primitive cell away from the cubic metrics (alpha_R = 60, 90,
        // 109.47 deg) at c/a = sqrt(6), sqrt(3/2), sqrt(3/8).
        for (let i = 0; i < 100 && [Math.sqrt(6), Math.sqrt(1.5), Math.sqrt(0.375)].some((r) => Math.abs(c / a / r - 1) < 0.05); i++) c = len();
      }
      return { a, b: a, c, alpha: 90, beta: 90, gamma: 120 };
    }
    case 'orthorhombic': {
      const a = len();
      const b = distinctFrom(a, [a]);
      const c = distinctFrom(b, [a, b]);
      return { a, b, c, alpha: 90, beta: 90, gamma: 90 };
    }
    case 'monoclinic': {
      const a = len();
      const b = len();
      const c = len();
      return { a, b, c, alpha: 90, beta: rng.uniform(92, 120), gamma: 90 };
    }
    case 'triclinic': {
      for (;;) {
        const l = { a: len(), b: len(), c: len(), alpha: rng.uniform(70, 115), beta: rng.uniform(70, 115), gamma: rng.uniform(70, 115) };
        const ca = Math.cos(l.alpha * DEG);
        const cb = Math.cos(l.beta * DEG);
        const cg = Math.cos(l.gamma * DEG);
        // Reject flat cells: normalised volume sqrt(1 - ...) well above 0.
        if (1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg > 0.3) return l;
      }
    }
  }
}

function scaleLattice(l: Lattice, volume: number): Lattice {
  const s = Math.cbrt(volume / cellVolume(l));
  return { ...l, a: l.a * s, b: l.b * s, c: l.c * s };
}

// ---------------------------------------------------------------------------------------------
// Periodic distances

/**
 * Cartesian offsets of the neighbouring cells that can hold an image closer than dmin, used after
 * reducing a difference to [-1/2, 1/2] per axis. An image shifted by n_i != 0 along axis i is at
 * least |d_i + n_i| w_i >= w_i / 2 away (w_i: spacing of the lattice planes normal to a*_i), so
 * axes with w_i / 2 >= dmin need no shift: usually only the zero shift is left of the 27.
 */
function neighbourShifts(m: Mat3, dmin: number): Float64Array {
  // w_i = V / |a_j x a_k|.
  const row = (i: number): Vec3 => [m[i * 3], m[i * 3 + 1], m[i * 3 + 2]];
  const cross = (u: Vec3, v: Vec3): Vec3 => [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
  const vol = Math.abs(cellVolumeOf(m));
  const reach = [0, 1, 2].map((i) => {
    const c = cross(row((i + 1) % 3), row((i + 2) % 3));
    return vol / Math.hypot(...c) / 2 >= dmin ? 0 : 1;
  });
  const out: number[] = [];
  for (let i = -reach[0]; i <= reach[0]; i++) {
    for (let j = -reach[1]; j <= reach[1]; j++) {
      for (let l = -reach[2]; l <= reach[2]; l++) {
        out.push(i * m[0] + j * m[3] + l * m[6], i * m[1] + j * m[4] + l * m[7], i * m[2] + j * m[5] + l * m[8]);
      }
    }
  }
  return Float64Array.from(out);
}

function cellVolumeOf(m: Mat3): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/** Is the periodic distance between fractional points p and q (flat arrays) below dmin? */
function tooClose(m: Mat3, shifts: Float64Array, p: Float64Array, pi: number, q: Float64Array, qi: number, dmin2: number): boolean {
  let dx = p[pi] - q[qi];
  let dy = p[pi + 1] - q[qi + 1];
  let dz = p[pi + 2] - q[qi + 2];
  dx -= Math.round(dx);
  dy -= Math.round(dy);
  dz -= Math.round(dz);
  const cx = dx * m[0] + dy * m[3] + dz * m[6];
  const cy = dx * m[1] + dy * m[4] + dz * m[7];
  const cz = dx * m[2] + dy * m[5] + dz * m[8];
  for (let k = 0; k < shifts.length; k += 3) {
    const x = cx + shifts[k];
    const y = cy + shifts[k + 1];
    const z = cz + shifts[k + 2];
    if (x * x + y * y + z * z < dmin2) return true;
  }
  return false;
}

/** Orbit of a point under the group: unique wrapped images, flat [x0,y0,z0,x1,...]. */
function orbit(ops: Float64Array, p: Vec3): Float64Array {
  const nOps = ops.length / 12;
  const out = new Float64Array(nOps * 3);
  let n = 0;
  for (let o = 0; o < ops.length; o += 12) {
    let x = ops[o] * p[0] + ops[o + 1] * p[1] + ops[o + 2] * p[2] + ops[o + 9];
    let y = ops[o + 3] * p[0] + ops[o + 4] * p[1] + ops[o + 5] * p[2] + ops[o + 10];
    let z = ops[o + 6] * p[0] + ops[o + 7] * p[1] + ops[o + 8] * p[2] + ops[o + 11];
    x -= Math.floor(x);
    y -= Math.floor(y);
    z -= Math.floor(z);
    let dup = false;
    for (let k = 0; k < n * 3; k += 3) {
      let dx = out[k] - x;
      let dy = out[k + 1] - y;
      let dz = out[k + 2] - z;
      dx -= Math.round(dx);
      dy -= Math.round(dy);
      dz -= Math.round(dz);
      if (Math.abs(dx) < 1e-6 && Math.abs(dy) < 1e-6 && Math.abs(dz) < 1e-6) {
        dup = true;
        break;
      }
    }
    if (dup) continue;
    // Exact special values come out as e.g. 0.9999999999999999: snap to 0.
    out[n * 3] = x > 1 - 1e-12 ? 0 : x;
    out[n * 3 + 1] = y > 1 - 1e-12 ? 0 : y;
    out[n * 3 + 2] = z > 1 - 1e-12 ? 0 : z;
    n++;
  }
  return out.subarray(0, n * 3);
}

// ---------------------------------------------------------------------------------------------
// Generation

interface SiteSpecies {
  element: string;
  charge: number | null;
  occupancy: number;
}

interface PlannedSite {
  wyckoff: WyckoffSpec;
  species: SiteSpecies[];
}

function drawSpecies(pool: PoolSpecies[], rng: Rng, avoid: Set<string>): PoolSpecies {
  const free = pool.filter((s) => !avoid.has(s.element));
  const from = free.length > 0 ? free : pool;
  return from[rng.weightedIndex(from.map((s) => s.weight ?? 1))] as PoolSpecies;
}

/**
 * Pick the Wyckoff positions and species of one attempt. `escalation` (0, 1, 2...) grows with
 * failed attempts: it raises the share of general positions and the minimum number of sites.
 */
function planSites(g: GroupTables, o: ResolvedOptions, rng: Rng, escalation: number): PlannedSite[] | null {
  const minSites = Math.min(o.sites[1], o.sites[0] + Math.min(escalation, 2));
  const nSites = rng.int(minSites, o.sites[1]);
  const pGeneral = Math.min(0.9, o.generalProbability + 0.15 * escalation);
  const general = g.wyckoff[0] as WyckoffSpec;
  const usedFixed = new Set<WyckoffSpec>();
  const picks: WyckoffSpec[] = [];
  let atoms = 0;
  // After repeated failures the first pick is the general position when it fits.
  const forceGeneral = escalation >= 2 && general.multiplicity <= o.maxAtoms;
  for (let i = 0; i < nSites; i++) {
    const budget = o.maxAtoms - atoms;
    const specials = g.wyckoff.filter((w) => !w.general && w.multiplicity <= budget && !usedFixed.has(w));
    let w: WyckoffSpec | undefined;
    if (forceGeneral && i === 0) {
      w = general;
    } else if (general.multiplicity <= budget && (specials.length === 0 || rng.uniform() < pGeneral)) {
      w = general;
    } else if (specials.length > 0) {
      w = rng.pick(specials);
    }
    if (!w) break;
    if (w.params.length === 0) usedFixed.add(w);
    picks.push(w);
    atoms += w.multiplicity;
  }
  if (picks.length === 0) return null;

  // Species: at least one cation and one anion when there are two or more sites; anions may
  // repeat on several sites (O1, O2, ...), cations are distinct elements.
  const usedElements = new Set<string>();
  const planned: PlannedSite[] = [];
  picks.forEach((w, i) => {
    const anion = picks.length === 1 ? rng.uniform() < 0.3 : i === 0 ? false : i === 1 ? true : rng.uniform() < 0.45;
    const pool = anion ? o.anions : o.cations;
    const avoid = anion && rng.uniform() < 0.5 ? new Set<string>() : usedElements;
    const first = drawSpecies(pool, rng, avoid);
    usedElements.add(first.element);
    const r = rng.uniform();
    let species: SiteSpecies[];
    if (r < o.mixedProbability) {
      const second = drawSpecies(pool, rng, new Set([...usedElements, first.element]));
      usedElements.add(second.element);
      const f = rng.uniform(0.2, 0.8);
      // Mixed sites are usually fully occupied, sometimes with vacancies as well.
      const total = rng.uniform() < 0.8 ? 1 : rng.uniform(0.7, 0.98);
      species = [
        { element: first.element, charge: first.charge, occupancy: round3(f * total) },
        { element: second.element, charge: second.charge, occupancy: round3((1 - f) * total) },
      ];
    } else if (r < o.mixedProbability + o.partialProbability) {
      species = [{ element: first.element, charge: first.charge, occupancy: round3(rng.uniform(0.3, 0.97)) }];
    } else {
      species = [{ element: first.element, charge: first.charge, occupancy: 1 }];
    }
    planned.push({ wyckoff: w, species });
  });
  return planned;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Cell edges allowed after scaling to the drawn density (angstrom), and shape draws to get there. */
const MIN_EDGE = 2.5;
const MAX_EDGE = 35;
const SHAPE_DRAWS = 20;

/** Free-parameter draws per site before the whole attempt is abandoned. */
const PARAM_DRAWS = 30;

function attempt(n: number, g: GroupTables, o: ResolvedOptions, rng: Rng, escalation: number): { crystal: Crystal; wyckoff: string[] } | null {
  const plan = planSites(g, o, rng, escalation);
  if (!plan) return null;
  const nAtoms = plan.reduce((s, p) => s + p.wyckoff.multiplicity, 0);
  const vpa = rng.uniform(o.volumePerAtom[0], o.volumePerAtom[1]);
  // Redraw the shape until the scaled cell has realistic edges (a few A to a few tens of A).
  let lattice: Lattice | null = null;
  for (let i = 0; i < SHAPE_DRAWS && !lattice; i++) {
    const l = scaleLattice(drawLatticeShape(n, rng), vpa * nAtoms);
    const lo = Math.min(l.a, l.b, l.c);
    if (lo >= Math.max(MIN_EDGE, o.minDistance) && Math.max(l.a, l.b, l.c) <= MAX_EDGE) lattice = l;
  }
  if (!lattice) return null;
  const m = latticeMatrix(lattice);
  const shifts = neighbourShifts(m, o.minDistance);
  const dmin2 = o.minDistance * o.minDistance;

  // Fixed positions first: they cannot move, so later sites adapt to them.
  plan.sort((p, q) => (p.wyckoff.params.length === 0 ? 0 : 1) - (q.wyckoff.params.length === 0 ? 0 : 1));
  const placed = new Float64Array(nAtoms * 3);
  let nPlaced = 0;
  const orbits: Float64Array[] = [];
  for (const p of plan) {
    const w = p.wyckoff;
    let ok = false;
    for (let tries = 0; tries < (w.params.length === 0 ? 1 : PARAM_DRAWS) && !ok; tries++) {
      const v: Vec3 = [0, 0, 0];
      for (const j of w.params) v[j] = rng.uniform();
      const orb = orbit(g.ops, affine(w, v));
      // Fewer images than the multiplicity: the draw hit a more special position.
      if (orb.length !== w.multiplicity * 3) continue;
      ok = true;
      const k = orb.length / 3;
      for (let i = 0; i < k && ok; i++) {
        for (let j = i + 1; j < k; j++) {
          if (tooClose(m, shifts, orb, i * 3, orb, j * 3, dmin2)) {
            ok = false;
            break;
          }
        }
        for (let j = 0; j < nPlaced && ok; j++) {
          if (tooClose(m, shifts, orb, i * 3, placed, j * 3, dmin2)) ok = false;
        }
      }
      if (ok) {
        placed.set(orb, nPlaced * 3);
        nPlaced += k;
        orbits.push(orb);
      }
    }
    if (!ok) return null;
  }

  const sites: Site[] = [];
  const counts = new Map<string, number>();
  plan.forEach((p, si) => {
    const orb = orbits[si] as Float64Array;
    const biso = round3(rng.uniform(o.biso[0], o.biso[1]));
    for (const s of p.species) {
      const index = (counts.get(s.element) ?? 0) + 1;
      counts.set(s.element, index);
      const label = `${s.element}${index}`;
      for (let i = 0; i < orb.length; i += 3) {
        sites.push({ element: s.element, charge: s.charge, frac: [orb[i], orb[i + 1], orb[i + 2]] as Vec3, occupancy: s.occupancy, biso, label });
      }
    }
  });
  const formula = [...counts.keys()].join('');
  const crystal: Crystal = { name: `synthetic ${formula} (SG ${n}, ${spaceGroupInfo(n).hmShort})`, lattice, sites, spaceGroup: n };
  return { crystal, wyckoff: plan.map((p) => p.wyckoff.label) };
}

/** Primitive cell vectors of each centring, as columns in conventional fractional coordinates. */
const PRIMITIVE: Record<Centering, Mat3> = {
  P: [1, 0, 0, 0, 1, 0, 0, 0, 1],
  A: [1, 0, 0, 0, 0.5, -0.5, 0, 0.5, 0.5],
  B: [0.5, 0, -0.5, 0, 1, 0, 0.5, 0, 0.5],
  C: [0.5, -0.5, 0, 0.5, 0.5, 0, 0, 0, 1],
  I: [-0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.5, 0.5, -0.5],
  F: [0, 0.5, 0.5, 0.5, 0, 0.5, 0.5, 0.5, 0],
  R: [2 / 3, -1 / 3, -1 / 3, 1 / 3, 1 / 3, -2 / 3, 1 / 3, 1 / 3, 1 / 3],
};

function inverse3(a: Mat3): Mat3 {
  const [a0, a1, a2, a3, a4, a5, a6, a7, a8] = a;
  const c0 = a4 * a8 - a5 * a7;
  const c1 = a5 * a6 - a3 * a8;
  const c2 = a3 * a7 - a4 * a6;
  const det = a0 * c0 + a1 * c1 + a2 * c2;
  return [c0 / det, (a2 * a7 - a1 * a8) / det, (a1 * a5 - a2 * a4) / det, c1 / det, (a0 * a8 - a2 * a6) / det, (a2 * a3 - a0 * a5) / det, c2 / det, (a1 * a6 - a0 * a7) / det, (a0 * a4 - a1 * a3) / det];
}

/**
 * The same crystal in a primitive cell (1/2, 1/3 or 1/4 of the atoms for centred groups), for a
 * cheaper symmetry check: the space-group type does not depend on the cell chosen.
 */
export function primitiveCrystal(crystal: Crystal, centering: Centering): Crystal {
  if (centering === 'P') return crystal;
  const p = PRIMITIVE[centering];
  const inv = inverse3(p);
  const m = latticeMatrix(crystal.lattice);
  // Primitive vector j = sum_i p[i][j] a_i (a_i: rows of m).
  const v = [0, 1, 2].map((j) => [0, 1, 2].map((x) => p[j] * m[x] + p[3 + j] * m[3 + x] + p[6 + j] * m[6 + x]));
  const len = v.map((u) => Math.hypot(u[0], u[1], u[2]));
  const angle = (i: number, j: number): number => Math.acos((v[i][0] * v[j][0] + v[i][1] * v[j][1] + v[i][2] * v[j][2]) / (len[i] * len[j])) / DEG;
  const lattice: Lattice = { a: len[0], b: len[1], c: len[2], alpha: angle(1, 2), beta: angle(0, 2), gamma: angle(0, 1) };
  const sites: Site[] = [];
  for (const s of crystal.sites) {
    const f = s.frac;
    const x: Vec3 = [0, 1, 2].map((i) => {
      const u = inv[i * 3] * f[0] + inv[i * 3 + 1] * f[1] + inv[i * 3 + 2] * f[2];
      return u - Math.floor(u);
    }) as Vec3;
    // Centring images coincide in the primitive cell: keep one (same species and occupancy).
    let dup = false;
    for (let k = 0; k < sites.length && !dup; k++) {
      const t = sites[k];
      if (t.element !== s.element || t.occupancy !== s.occupancy) continue;
      dup = [0, 1, 2].every((i) => {
        const d = t.frac[i] - x[i];
        return Math.abs(d - Math.round(d)) < 1e-6;
      });
    }
    if (!dup) sites.push({ ...s, frac: x });
  }
  return { ...crystal, lattice, sites };
}

function toRng(r: Rng | Seed): Rng {
  return r instanceof Rng ? r : new Rng(r);
}

/**
 * Like generateCrystal, also reporting the attempts used and the Wyckoff positions chosen.
 * Throws SynthesisError when maxAttempts draws all fail (e.g. options too tight for the group).
 */
export function generateCrystalDetailed(spaceGroup: number, rng: Rng | Seed, options: SynthOptions = {}): SynthResult {
  if (!Number.isInteger(spaceGroup) || spaceGroup < 1 || spaceGroup > 230) {
    throw new SynthOptionsError(`space group must be an integer 1..230, got ${spaceGroup}`);
  }
  const o = resolveOptions(options);
  const g = groupTables(spaceGroup);
  const r = toRng(rng);
  let lastDetected: number | null = null;
  let geometryFailures = 0;
  for (let i = 1; i <= o.maxAttempts; i++) {
    // Escalate on every fourth failure so geometry rejections alone do not distort the mix.
    const res = attempt(spaceGroup, g, o, r, Math.floor((i - 1) / 4));
    if (!res) {
      geometryFailures++;
      continue;
    }
    if (o.verify) {
      const found = detectSpaceGroup(primitiveCrystal(res.crystal, spaceGroupInfo(spaceGroup).centering), o.symprec).number;
      if (found !== spaceGroup) {
        lastDetected = found;
        continue;
      }
    }
    return { crystal: res.crystal, attempts: i, wyckoff: res.wyckoff };
  }
  throw new SynthesisError(
    `no crystal with space group ${spaceGroup} after ${o.maxAttempts} attempts ` +
      `(${geometryFailures} failed the distance/size constraints` +
      (lastDetected === null ? '' : `, the others had a different symmetry, last ${lastDetected}`) +
      `); loosen minDistance, raise maxAtoms or volumePerAtom, or allow more sites`,
  );
}

/**
 * A random crystal whose space group is exactly `spaceGroup` (1..230), with every atom of the
 * conventional cell listed and `spaceGroup` set. Deterministic for a given seed (or Rng state)
 * and options.
 */
export function generateCrystal(spaceGroup: number, rng: Rng | Seed, options: SynthOptions = {}): Crystal {
  return generateCrystalDetailed(spaceGroup, rng, options).crystal;
}
