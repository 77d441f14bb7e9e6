// Powder diffraction reflections: hkl enumeration, structure factors, positions, peak lists.
//
// Two stages, so that callers (GPU renderer, lattice-strain effects) can re-position peaks without
// recomputing structure factors:
//   1. structureFactors(crystal, { sMax }) -> StructureFactors: every hkl with
//      sin(theta)/lambda <= sMax, one entry per Friedel pair (F(-h) = F(h)* because f0 is real:
//      no anomalous dispersion), |F|^2 and multiplicity 2. Depends on the lattice only through
//      s = 1/(2d) in f0(s) exp(-B s^2).
//      mergeEquivalents(sf, lattice) then folds entries with the same d and |F|^2 (symmetry
//      equivalents) into one entry with the summed multiplicity.
//   2. positionReflections(sf, lattice, { wavelength, twoThetaMin, twoThetaMax }) -> Reflection[]:
//      d from the given lattice's reciprocal metric, 2-theta, Lorentz-polarisation, intensity.
// Passing a strained or scaled lattice to step 2 re-positions the peaks while |F|^2 stays the one
// evaluated at the unstrained s (a small error: f0 varies slowly with s). Use the unmerged list
// for strain that lowers the symmetry (equivalents then split in d); the merged list is valid for
// isotropic scaling. Compute step 1 with sMax large enough for the strained lattice
// (sMax >= sin(theta_max)/lambda times the largest scale factor applied), since hkl beyond sMax
// are not in the list.

import { cellVolume, reciprocalMetric, type Crystal, type Lattice, type Mat3, type Site, type Vec3 } from './crystal.ts';
import type { WaasKirfEntry } from './data/formfactors.ts';
import { formFactorAtS2, formFactorEntry } from './formfactors.ts';
import { symmetryOperations } from './spacegroup.ts';

/** Cu K-alpha (weighted K-alpha1/K-alpha2 mean), angstrom. pymatgen uses 1.54184. */
export const CU_KALPHA = 1.5418;

export class DiffractionInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiffractionInputError';
  }
}

/** Structure factors of a set of hkl (structure-of-arrays, for reuse on the GPU). */
export interface StructureFactors {
  count: number;
  h: Int32Array;
  k: Int32Array;
  l: Int32Array;
  /** |F|^2 in electrons^2, evaluated at the s of the lattice used in structureFactors(). */
  f2: Float64Array;
  /** Number of hkl this entry stands for (2 for a Friedel pair, more after mergeEquivalents). */
  multiplicity: Int32Array;
  /** Largest sin(theta)/lambda enumerated, 1/angstrom. */
  sMax: number;
  /**
   * Set by structureFactors when it used the point group: entries with the same value are one
   * Laue-class orbit (same |F|^2 and, in the lattice structureFactors saw, the same d).
   */
  orbit?: Int32Array;
}

export interface StructureFactorOptions {
  /** Largest sin(theta)/lambda to enumerate, 1/angstrom. */
  sMax: number;
  /**
   * Compute F once per Laue-class orbit instead of once per Friedel pair (default true). Used
   * only when the crystal has `spaceGroup` set and the rotations of that group's standard
   * setting are verified to be symmetries of this crystal in its own cell (atoms and metric);
   * otherwise every Friedel pair is computed. Results agree with `false` to float rounding.
   */
  useSymmetry?: boolean;
}

export interface Reflection {
  /** Representative hkl of the merged set (lexicographically largest). */
  hkl: Vec3;
  d: number;
  /** Degrees. */
  twoTheta: number;
  f2: number;
  multiplicity: number;
  /** Lorentz-polarisation (1 + cos^2 2th) / (sin^2 th cos th). */
  lp: number;
  /** f2 * multiplicity * lp (unnormalised). */
  intensity: number;
}

export interface ReflectionOptions {
  /** Angstrom; default CU_KALPHA. */
  wavelength?: number;
  /** Degrees; defaults 5 and 90. */
  twoThetaMin?: number;
  twoThetaMax?: number;
}

/** One line of a peak list; field names match the peaks JSON format. */
export interface Peak {
  two_theta: number;
  d: number;
  /** One representative hkl per merged reflection (set of equivalents). */
  hkl: Vec3[];
  multiplicity: number;
  /** 0..100, strongest peak 100. */
  intensity: number;
}

export interface PeakOptions extends ReflectionOptions {
  /** Reflections closer than this in 2-theta (degrees) form one peak; pymatgen uses 1e-5. */
  twoThetaTol?: number;
  /** Peaks with scaled intensity <= this (0..100 scale) are left out; pymatgen uses 1e-3. */
  minIntensity?: number;
}

const DEG = Math.PI / 180;
/** |F|^2 below this fraction of F(000)^2 is rounding noise of a systematic absence. */
const ABSENT_F2_REL = 1e-16;
/** Relative tolerance on 1/d^2 and on |F|^2 for treating two hkl as equivalent. */
const SAME_Q_REL = 1e-8;
const SAME_F2_REL = 1e-6;

function checkOptions(o: ReflectionOptions): Required<ReflectionOptions> {
  const wavelength = o.wavelength ?? CU_KALPHA;
  const twoThetaMin = o.twoThetaMin ?? 5;
  const twoThetaMax = o.twoThetaMax ?? 90;
  if (!(wavelength > 0) || !Number.isFinite(wavelength)) {
    throw new DiffractionInputError(`wavelength must be a positive number of angstrom, got ${wavelength}`);
  }
  if (!(twoThetaMin >= 0 && twoThetaMin < twoThetaMax && twoThetaMax < 180)) {
    throw new DiffractionInputError(
      `2-theta range must satisfy 0 <= min < max < 180 degrees, got ${twoThetaMin}..${twoThetaMax}`,
    );
  }
  return { wavelength, twoThetaMin, twoThetaMax };
}

/** Atoms sorted by type (form-factor entry, B): f0 is evaluated once per type and hkl. */
interface Scatterers {
  n: number;
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
  occ: Float64Array;
  /** Atoms of type t are typeStart[t] .. typeStart[t+1]-1. */
  typeStart: Int32Array;
  entries: WaasKirfEntry[];
  biso: number[];
}

function scatterers(crystal: Crystal): Scatterers {
  const sites = crystal.sites;
  if (sites.length === 0) {
    throw new DiffractionInputError(`crystal '${crystal.name}' has no atoms; nothing diffracts`);
  }
  const typeIndex = new Map<string, number>();
  const entries: WaasKirfEntry[] = [];
  const biso: number[] = [];
  const members: Site[][] = [];
  sites.forEach((site, j) => {
    const where = `crystal '${crystal.name}', site ${site.label ?? j} (${site.element})`;
    if (!(site.occupancy >= 0 && site.occupancy <= 1)) {
      throw new DiffractionInputError(`${where}: occupancy must be in 0..1, got ${site.occupancy}`);
    }
    if (!Number.isFinite(site.biso) || site.biso < 0) {
      throw new DiffractionInputError(`${where}: B_iso must be a finite number >= 0, got ${site.biso}`);
    }
    if (!site.frac.every(Number.isFinite)) {
      throw new DiffractionInputError(`${where}: fractional coordinates are not finite: ${site.frac}`);
    }
    const entry = formFactorEntry(site.element, site.charge);
    const key = `${entry.z}:${entry.c}:${site.biso}`;
    let t = typeIndex.get(key);
    if (t === undefined) {
      t = entries.length;
      typeIndex.set(key, t);
      entries.push(entry);
      biso.push(site.biso);
      members.push([]);
    }
    members[t].push(site);
  });
  const n = sites.length;
  const s: Scatterers = {
    n,
    x: new Float64Array(n),
    y: new Float64Array(n),
    z: new Float64Array(n),
    occ: new Float64Array(n),
    typeStart: new Int32Array(entries.length + 1),
    entries,
    biso,
  };
  let j = 0;
  members.forEach((list, t) => {
    s.typeStart[t] = j;
    for (const site of list) {
      [s.x[j], s.y[j], s.z[j]] = site.frac;
      s.occ[j] = site.occupancy;
      j++;
    }
  });
  s.typeStart[entries.length] = n;
  return s;
}

/** cos and sin of 2 pi m u for m = -M..M, laid out m-major: re[(m + M) * n + j] for atom j. */
function phaseTable(u: Float64Array, M: number): { re: Float64Array; im: Float64Array } {
  const n = u.length;
  const re = new Float64Array(n * (2 * M + 1));
  const im = new Float64Array(n * (2 * M + 1));
  for (let m = -M; m <= M; m++) {
    for (let j = 0; j < n; j++) {
      // Reduce m*u mod 1 first so large m keeps full precision.
      const t = 2 * Math.PI * ((m * u[j]) % 1);
      re[(m + M) * n + j] = Math.cos(t);
      im[(m + M) * n + j] = Math.sin(t);
    }
  }
  return { re, im };
}

// ---- point-group symmetry of |F|^2 ------------------------------------------------------------

/** Rotations of a space group's standard setting, and operations whose rotations generate them. */
interface GroupRotations {
  /** Rotations other than the identity, transposed (h' = R^T h acts on hkl), 9 ints each. */
  hklRotations: Int32Array;
  /** Generating operations (rotation row-major then translation, 12 numbers each). */
  generators: Float64Array;
}

const groupRotationsCache = new Map<number, GroupRotations>();

function mulRot(a: number[], b: number[]): number[] {
  const c = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) c[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return c;
}

function groupRotations(spaceGroup: number): GroupRotations {
  let g = groupRotationsCache.get(spaceGroup);
  if (g) return g;
  const ops = symmetryOperations(spaceGroup);
  const identity = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const group = new Map<string, number[]>([[identity.join(), identity]]);
  const generators: number[] = [];
  const genRots: number[][] = [];
  for (const op of ops) {
    const r = [...op.rotation];
    if (group.has(r.join())) continue;
    // A rotation not yet generated: take its operation as a generator and close the group.
    generators.push(...r, ...op.translation);
    genRots.push(r);
    for (let grew = true; grew; ) {
      grew = false;
      for (const a of [...group.values()]) {
        for (const b of genRots) {
          const c = mulRot(a, b);
          if (!group.has(c.join())) {
            group.set(c.join(), c);
            grew = true;
          }
        }
      }
    }
  }
  const hkl: number[] = [];
  for (const r of group.values()) {
    if (r.join() === identity.join()) continue;
    hkl.push(r[0], r[3], r[6], r[1], r[4], r[7], r[2], r[5], r[8]);
  }
  g = { hklRotations: Int32Array.from(hkl), generators: Float64Array.from(generators) };
  groupRotationsCache.set(spaceGroup, g);
  return g;
}

/** Fractional tolerance for an image of an atom to coincide with an atom (per axis). */
const SYM_POS_TOL = 1e-10;
/** Relative tolerance on the reciprocal metric being invariant under a rotation. */
const SYM_METRIC_REL = 1e-9;

/** Atoms of the same type and occupancy within SYM_POS_TOL of (x, y, z). */
function countAt(at: Scatterers, t: number, occ: number, x: number, y: number, z: number): number {
  let n = 0;
  for (let i = at.typeStart[t], end = at.typeStart[t + 1]; i < end; i++) {
    if (at.occ[i] !== occ) continue;
    let dx = at.x[i] - x;
    let dy = at.y[i] - y;
    let dz = at.z[i] - z;
    dx -= Math.round(dx);
    dy -= Math.round(dy);
    dz -= Math.round(dz);
    if (Math.abs(dx) < SYM_POS_TOL && Math.abs(dy) < SYM_POS_TOL && Math.abs(dz) < SYM_POS_TOL) n++;
  }
  return n;
}

/**
 * hkl rotations under which |F|^2 is invariant for this crystal, or null when the crystal's
 * space group is unknown, trivial, or its standard-setting operations are not symmetries of the
 * crystal in its own cell (non-standard setting, symmetry broken by the sites or the metric).
 * Checking the generators suffices: products of symmetries are symmetries.
 */
function laueRotations(crystal: Crystal, at: Scatterers, G: Mat3): Int32Array | null {
  const sg = crystal.spaceGroup;
  if (sg === null || !Number.isInteger(sg) || sg < 1 || sg > 230) return null;
  const { hklRotations, generators } = groupRotations(sg);
  if (hklRotations.length === 0) return null;
  const gScale = Math.max(Math.abs(G[0]), Math.abs(G[4]), Math.abs(G[8]));
  const nt = at.entries.length;
  const self = new Int32Array(at.n);
  for (let t = 0; t < nt; t++) {
    for (let j = at.typeStart[t]; j < at.typeStart[t + 1]; j++) self[j] = countAt(at, t, at.occ[j], at.x[j], at.y[j], at.z[j]);
  }
  for (let o = 0; o < generators.length; o += 12) {
    const r = generators.subarray(o, o + 9);
    // q(R^T h) = q(h) for all h  <=>  R G R^T = G.
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let v = 0;
        for (let k = 0; k < 3; k++) for (let m = 0; m < 3; m++) v += r[i * 3 + k] * G[k * 3 + m] * r[j * 3 + m];
        if (Math.abs(v - G[i * 3 + j]) > SYM_METRIC_REL * gScale) return null;
      }
    }
    // Every atom maps onto as many atoms of its type and occupancy as sit on its own position.
    for (let t = 0; t < nt; t++) {
      for (let j = at.typeStart[t]; j < at.typeStart[t + 1]; j++) {
        const x = at.x[j];
        const y = at.y[j];
        const z = at.z[j];
        const px = r[0] * x + r[1] * y + r[2] * z + generators[o + 9];
        const py = r[3] * x + r[4] * y + r[5] * z + generators[o + 10];
        const pz = r[6] * x + r[7] * y + r[8] * z + generators[o + 11];
        if (countAt(at, t, at.occ[j], px, py, pz) !== self[j]) return null;
      }
    }
  }
  return hklRotations;
}

/** Boxes of hkl larger than this fall back to one F per Friedel pair (memory). */
const MAX_ORBIT_GRID = 1 << 22;
// Scratch grid over the hkl box: |F|^2 and orbit id of hkl already reached from a computed
// representative, valid where stamp === stampNow (no clearing between calls).
let gridF2 = new Float64Array(0);
let gridOrbit = new Int32Array(0);
let gridStamp = new Uint32Array(0);
let stampNow = 0;

function orbitGrid(size: number): void {
  if (gridStamp.length < size) {
    gridF2 = new Float64Array(size);
    gridOrbit = new Int32Array(size);
    gridStamp = new Uint32Array(size);
    stampNow = 0;
  }
  if (++stampNow === 0xffffffff) {
    gridStamp.fill(0);
    stampNow = 1;
  }
}

/** Reflections (one per Friedel pair) beyond which a crystal is refused: about 150 MB of arrays. */
export const MAX_REFLECTIONS = 4_000_000;
/** Atoms x reflections beyond which a crystal is refused: about a minute of CPU without symmetry. */
export const MAX_ATOM_REFLECTIONS = 1e10;
/** Bytes of per-atom phase tables beyond which a crystal is refused. */
const MAX_PHASE_TABLE_BYTES = 1 << 30;

/**
 * Refuses, before any allocation, a crystal whose structure factors would take more memory or time
 * than powder simulation can sensibly give (a huge cell, or hundreds of thousands of atoms).
 */
function checkWorkload(crystal: Crystal, atoms: number, reflections: number, phaseBytes: number): void {
  const what = `crystal '${crystal.name}' (cell ${fmt(crystal.lattice.a)} x ${fmt(crystal.lattice.b)} x ${fmt(crystal.lattice.c)} A, ${atoms} atoms)`;
  if (reflections > MAX_REFLECTIONS) {
    throw new DiffractionInputError(
      `${what} has about ${reflections.toExponential(1)} reflections in range, more than the ${MAX_REFLECTIONS.toExponential(0)} this simulator handles; ` +
        'check the cell lengths (angstrom, not nm or pm) or narrow the 2-theta range',
    );
  }
  if (reflections * atoms > MAX_ATOM_REFLECTIONS || phaseBytes > MAX_PHASE_TABLE_BYTES) {
    throw new DiffractionInputError(
      `${what}: ${atoms} atoms x ${reflections.toExponential(1)} reflections is more than this simulator computes ` +
        `(limit ${MAX_ATOM_REFLECTIONS.toExponential(0)} atom-reflections, about a minute); narrow the 2-theta range or use a smaller cell`,
    );
  }
}

function fmt(x: number): string {
  return +x.toPrecision(4) + '';
}

/**
 * |F(hkl)|^2 for every hkl (one per Friedel pair) with 0 < sin(theta)/lambda <= sMax.
 * F = sum_j occ_j f0_j(s) exp(-B_j s^2) exp(2 pi i h.x_j). Systematic absences
 * (|F|^2 < 1e-16 F(000)^2, rounding noise) are left out. With the point group (see
 * StructureFactorOptions.useSymmetry) F is computed for one hkl per orbit and copied to the
 * others (|F(R^T h)| = |F(h)| for a symmetry x -> R x + t).
 */
export function structureFactors(crystal: Crystal, opts: StructureFactorOptions): StructureFactors {
  const { sMax } = opts;
  if (!(sMax > 0) || !Number.isFinite(sMax)) {
    throw new DiffractionInputError(`sMax (sin(theta)/lambda) must be a positive number, got ${sMax}`);
  }
  const at = scatterers(crystal);
  const G = reciprocalMetric(crystal.lattice);
  const lat = crystal.lattice;
  const qMax = 4 * sMax * sMax; // (1/d)^2 limit
  const gMax = 2 * sMax;
  // h = g.a for the reciprocal vector g, so |h| <= |g| |a|.
  const H = Math.floor(gMax * lat.a);
  const K = Math.floor(gMax * lat.b);
  const L = Math.floor(gMax * lat.c);
  const n = at.n;
  checkWorkload(crystal, n, (4 * Math.PI * gMax ** 3 * cellVolume(lat)) / 6, n * (2 * (H + K + L) + 3) * 16);
  const { re: xRe, im: xIm } = phaseTable(at.x, H);
  const { re: yRe, im: yIm } = phaseTable(at.y, K);
  const { re: zRe, im: zIm } = phaseTable(at.z, L);
  const occ = at.occ;
  const typeStart = at.typeStart;

  let f000 = 0;
  const nt = at.entries.length;
  for (let t = 0; t < nt; t++) {
    for (let j = typeStart[t]; j < typeStart[t + 1]; j++) f000 += occ[j] * formFactorAtS2(at.entries[t], 0);
  }
  const absent = ABSENT_F2_REL * f000 * f000;

  const KB = 2 * K + 1;
  const LB = 2 * L + 1;
  const boxSize = (2 * H + 1) * KB * LB;
  const rots = (opts.useSymmetry ?? true) && boxSize <= MAX_ORBIT_GRID ? laueRotations(crystal, at, G) : null;
  const nRot = rots ? rots.length / 9 : 0;
  if (rots) orbitGrid(boxSize);
  const stamp = gridStamp;
  const now = stampNow;
  const vals = gridF2;
  const orbits = gridOrbit;
  let nOrbits = 0;

  const pr = new Float64Array(n);
  const pi = new Float64Array(n);
  const outH: number[] = [];
  const outK: number[] = [];
  const outL: number[] = [];
  const outF2: number[] = [];
  const outOrbit: number[] = [];
  const [g00, g01, g02, , g11, g12, , , g22] = G as Mat3;

  // Half space h > 0, or h = 0 and k > 0, or h = k = 0 and l > 0: one hkl per Friedel pair.
  for (let h = 0; h <= H; h++) {
    for (let k = h === 0 ? 0 : -K; k <= K; k++) {
      // q(l) = g22 l^2 + 2 b l + c0 <= qMax gives the l range directly.
      const c0 = g00 * h * h + 2 * g01 * h * k + g11 * k * k;
      const b = g02 * h + g12 * k;
      const disc = b * b - g22 * (c0 - qMax);
      if (disc < 0) continue;
      const root = Math.sqrt(disc);
      let lMin = Math.max(-L, Math.ceil((-b - root) / g22));
      const lMax = Math.min(L, Math.floor((-b + root) / g22));
      if (h === 0 && k === 0) lMin = Math.max(lMin, 1);
      if (lMin > lMax) continue;
      // occ_j exp(2 pi i (h x + k y)), shared by all l of this (h, k); filled on first need.
      let rowReady = false;
      const rowBase = ((h + H) * KB + (k + K)) * LB + L;
      for (let l = lMin; l <= lMax; l++) {
        const q = c0 + 2 * b * l + g22 * l * l;
        if (q > qMax || q <= 0) continue;
        let f2: number;
        let orbit = -1;
        if (rots && stamp[rowBase + l] === now) {
          f2 = vals[rowBase + l];
          orbit = orbits[rowBase + l];
        } else {
          if (!rowReady) {
            const ox = (h + H) * n;
            const oy = (k + K) * n;
            for (let j = 0; j < n; j++) {
              const xr = xRe[ox + j];
              const xi = xIm[ox + j];
              const yr = yRe[oy + j];
              const yi = yIm[oy + j];
              pr[j] = occ[j] * (xr * yr - xi * yi);
              pi[j] = occ[j] * (xr * yi + xi * yr);
            }
            rowReady = true;
          }
          const s2 = q / 4;
          const oz = (l + L) * n;
          let fr = 0;
          let fi = 0;
          for (let t = 0; t < nt; t++) {
            let ar = 0;
            let ai = 0;
            for (let j = typeStart[t], end = typeStart[t + 1]; j < end; j++) {
              const zr = zRe[oz + j];
              const zi = zIm[oz + j];
              ar += pr[j] * zr - pi[j] * zi;
              ai += pr[j] * zi + pi[j] * zr;
            }
            const f = formFactorAtS2(at.entries[t], s2) * Math.exp(-at.biso[t] * s2);
            fr += f * ar;
            fi += f * ai;
          }
          f2 = fr * fr + fi * fi;
          if (rots) {
            orbit = nOrbits++;
            // Hand the value to the rest of the orbit (and the Friedel mates).
            for (let r = 0; r < nRot * 9; r += 9) {
              const h2 = rots[r] * h + rots[r + 1] * k + rots[r + 2] * l;
              const k2 = rots[r + 3] * h + rots[r + 4] * k + rots[r + 5] * l;
              const l2 = rots[r + 6] * h + rots[r + 7] * k + rots[r + 8] * l;
              if (Math.abs(h2) > H || Math.abs(k2) > K || Math.abs(l2) > L) continue;
              const i1 = ((h2 + H) * KB + (k2 + K)) * LB + (l2 + L);
              const i2 = ((H - h2) * KB + (K - k2)) * LB + (L - l2);
              vals[i1] = f2;
              vals[i2] = f2;
              orbits[i1] = orbit;
              orbits[i2] = orbit;
              stamp[i1] = now;
              stamp[i2] = now;
            }
          }
        }
        if (f2 < absent) continue;
        outH.push(h);
        outK.push(k);
        outL.push(l);
        outF2.push(f2);
        if (rots) outOrbit.push(orbit);
      }
    }
  }
  const count = outF2.length;
  const sf: StructureFactors = {
    count,
    h: Int32Array.from(outH),
    k: Int32Array.from(outK),
    l: Int32Array.from(outL),
    f2: Float64Array.from(outF2),
    multiplicity: new Int32Array(count).fill(2),
    sMax,
  };
  if (rots) sf.orbit = Int32Array.from(outOrbit);
  return sf;
}

/** F(hkl) = sum_j occ_j f0_j(s) exp(-B_j s^2) exp(2 pi i h.x_j), evaluated directly (no tables). */
export function structureFactorAt(crystal: Crystal, hkl: Vec3): { re: number; im: number } {
  const at = scatterers(crystal);
  const G = reciprocalMetric(crystal.lattice);
  const [h, k, l] = hkl;
  const q =
    G[0] * h * h + G[4] * k * k + G[8] * l * l + 2 * (G[1] * h * k + G[2] * h * l + G[5] * k * l);
  const s2 = q / 4;
  let re = 0;
  let im = 0;
  for (let t = 0; t < at.entries.length; t++) {
    const f = formFactorAtS2(at.entries[t], s2) * Math.exp(-at.biso[t] * s2);
    for (let j = at.typeStart[t]; j < at.typeStart[t + 1]; j++) {
      const phase = 2 * Math.PI * (h * at.x[j] + k * at.y[j] + l * at.z[j]);
      re += at.occ[j] * f * Math.cos(phase);
      im += at.occ[j] * f * Math.sin(phase);
    }
  }
  return { re, im };
}

function qOf(G: Mat3, h: number, k: number, l: number): number {
  return G[0] * h * h + G[4] * k * k + G[8] * l * l + 2 * (G[1] * h * k + G[2] * h * l + G[5] * k * l);
}

/** a is lexicographically larger than b. */
function hklAfter(ah: number, ak: number, al: number, bh: number, bk: number, bl: number): boolean {
  return ah !== bh ? ah > bh : ak !== bk ? ak > bk : al > bl;
}

/** Orbit members (sf.orbit) keep one d in a lattice when their 1/d^2 agree to this. */
const ORBIT_Q_REL = 1e-11;

/**
 * Fold entries with the same d (in `lattice`) and the same |F|^2 into one entry (summed
 * multiplicity, lexicographically largest hkl as representative). This merges symmetry
 * equivalents without needing the space group; an accidental coincidence of both d and |F|^2
 * (e.g. cubic (300)/(221) in CsCl) is merged too, which changes nothing in a powder pattern.
 * Sort-based: entries sorted by d, then each run of equal d sorted by |F|^2. When sf carries
 * orbits whose members all share one d in `lattice`, whole orbits are sorted instead of entries
 * (same result, fewer items).
 */
export function mergeEquivalents(sf: StructureFactors, lattice: Lattice): StructureFactors {
  const G = reciprocalMetric(lattice);
  const n = sf.count;
  const { h, k, l, f2, multiplicity } = sf;
  // Items to merge: orbits or single entries; q, |F|^2, multiplicity and representative entry.
  let m = n;
  let itemQ = new Float64Array(n);
  let itemF2 = f2;
  let itemMult = multiplicity;
  let itemRep: Int32Array | null = null;
  for (let i = 0; i < n; i++) itemQ[i] = qOf(G, h[i], k[i], l[i]);
  if (sf.orbit && n > 0) {
    const orbit = sf.orbit;
    let nOrb = 0;
    for (let i = 0; i < n; i++) nOrb = Math.max(nOrb, orbit[i] + 1);
    const oq = new Float64Array(nOrb).fill(NaN);
    const of2 = new Float64Array(nOrb);
    const om = new Int32Array(nOrb);
    const orep = new Int32Array(nOrb);
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const o = orbit[i];
      if (Number.isNaN(oq[o])) {
        oq[o] = itemQ[i];
        of2[o] = f2[i];
        orep[o] = i;
      } else {
        ok = Math.abs(itemQ[i] - oq[o]) <= ORBIT_Q_REL * oq[o] && f2[i] === of2[o];
        const r = orep[o];
        if (hklAfter(h[i], k[i], l[i], h[r], k[r], l[r])) orep[o] = i;
      }
      om[o] += multiplicity[i];
    }
    // Orbits with every member absent do not appear; compact the rest.
    if (ok) {
      let j = 0;
      for (let o = 0; o < nOrb; o++) {
        if (Number.isNaN(oq[o])) continue;
        oq[j] = oq[o];
        of2[j] = of2[o];
        om[j] = om[o];
        orep[j] = orep[o];
        j++;
      }
      m = j;
      itemQ = oq;
      itemF2 = of2;
      itemMult = om;
      itemRep = orep;
    }
  }
  const order = new Int32Array(m);
  for (let i = 0; i < m; i++) order[i] = i;
  order.sort((a, b) => itemQ[a] - itemQ[b]);
  const outH = new Int32Array(m);
  const outK = new Int32Array(m);
  const outL = new Int32Array(m);
  const outF2 = new Float64Array(m);
  const outM = new Int32Array(m);
  let nOut = 0;
  let start = 0;
  while (start < m) {
    const q0 = itemQ[order[start]];
    let end = start + 1;
    while (end < m && itemQ[order[end]] - q0 <= SAME_Q_REL * q0) end++;
    // Same d: cluster by |F|^2 (runs are short: insertion sort, descending).
    for (let i = start + 1; i < end; i++) {
      const v = order[i];
      let j = i - 1;
      while (j >= start && itemF2[order[j]] < itemF2[v]) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = v;
    }
    let g = start;
    while (g < end) {
      const f0 = itemF2[order[g]];
      let rep = -1;
      let mult = 0;
      let e = g;
      while (e < end && f0 - itemF2[order[e]] <= SAME_F2_REL * f0) {
        const it = order[e];
        const i = itemRep ? itemRep[it] : it;
        mult += itemMult[it];
        if (rep < 0 || hklAfter(h[i], k[i], l[i], h[rep], k[rep], l[rep])) rep = i;
        e++;
      }
      outH[nOut] = h[rep];
      outK[nOut] = k[rep];
      outL[nOut] = l[rep];
      outF2[nOut] = f0;
      outM[nOut] = mult;
      nOut++;
      g = e;
    }
    start = end;
  }
  return {
    count: nOut,
    h: outH.slice(0, nOut),
    k: outK.slice(0, nOut),
    l: outL.slice(0, nOut),
    f2: outF2.slice(0, nOut),
    multiplicity: outM.slice(0, nOut),
    sMax: sf.sMax,
  };
}

/**
 * Place structure factors in 2-theta for `lattice` (which may differ from the lattice the
 * structure factors were computed with: strain, scaling). Sorted by 2-theta, range inclusive.
 */
export function positionReflections(
  sf: StructureFactors,
  lattice: Lattice,
  opts: ReflectionOptions = {},
): Reflection[] {
  const { wavelength, twoThetaMin, twoThetaMax } = checkOptions(opts);
  const G = reciprocalMetric(lattice);
  const out: Reflection[] = [];
  for (let i = 0; i < sf.count; i++) {
    const q = qOf(G, sf.h[i], sf.k[i], sf.l[i]);
    const sinT = (wavelength * Math.sqrt(q)) / 2;
    if (sinT >= 1) continue; // outside the limiting sphere for this wavelength
    const theta = Math.asin(sinT);
    const twoTheta = (2 * theta) / DEG;
    if (twoTheta < twoThetaMin || twoTheta > twoThetaMax) continue;
    const cos2t = Math.cos(2 * theta);
    const lp = (1 + cos2t * cos2t) / (sinT * sinT * Math.cos(theta));
    const f2 = sf.f2[i];
    const multiplicity = sf.multiplicity[i];
    out.push({
      hkl: [sf.h[i], sf.k[i], sf.l[i]],
      d: 1 / Math.sqrt(q),
      twoTheta,
      f2,
      multiplicity,
      lp,
      intensity: f2 * multiplicity * lp,
    });
  }
  return out.sort((a, b) => a.twoTheta - b.twoTheta);
}

/** sin(theta)/lambda at the top of the 2-theta range (with a hair of margin for rounding). */
function sMaxFor(o: Required<ReflectionOptions>): number {
  return (Math.sin((o.twoThetaMax / 2) * DEG) / o.wavelength) * (1 + 1e-9);
}

/** Reflections (sets of equivalent hkl) of a crystal in the 2-theta range, sorted by 2-theta. */
export function computeReflections(crystal: Crystal, opts: ReflectionOptions = {}): Reflection[] {
  const o = checkOptions(opts);
  const sf = mergeEquivalents(structureFactors(crystal, { sMax: sMaxFor(o) }), crystal.lattice);
  return positionReflections(sf, crystal.lattice, o);
}

/**
 * Merge reflections into peaks as pymatgen's XRDCalculator does: a reflection within
 * `twoThetaTol` of the first reflection of the current peak joins it (intensities and
 * multiplicities add; d is the first one's), then scale so the strongest peak is 100 and drop
 * peaks at or below `minIntensity`. Input must be sorted by 2-theta.
 */
export function mergePeaks(
  reflections: Reflection[],
  opts: { twoThetaTol?: number; minIntensity?: number } = {},
): Peak[] {
  const tol = opts.twoThetaTol ?? 1e-5;
  const minIntensity = opts.minIntensity ?? 1e-3;
  if (!(tol >= 0) || !(minIntensity >= 0)) {
    throw new DiffractionInputError(
      `twoThetaTol and minIntensity must be >= 0, got ${opts.twoThetaTol} and ${opts.minIntensity}`,
    );
  }
  const peaks: Peak[] = [];
  let start = -Infinity;
  for (const r of reflections) {
    const last = peaks[peaks.length - 1];
    if (last && r.twoTheta - start < tol) {
      last.intensity += r.intensity;
      last.multiplicity += r.multiplicity;
      last.hkl.push(r.hkl);
    } else {
      start = r.twoTheta;
      peaks.push({
        two_theta: r.twoTheta,
        d: r.d,
        hkl: [r.hkl],
        multiplicity: r.multiplicity,
        intensity: r.intensity,
      });
    }
  }
  const max = peaks.reduce((m, p) => Math.max(m, p.intensity), 0);
  if (max === 0) return [];
  for (const p of peaks) p.intensity = (p.intensity / max) * 100;
  return peaks.filter((p) => p.intensity > minIntensity);
}

/** Peak list of a crystal: intensities 0..100, strongest 100, sorted by 2-theta. */
export function peakList(crystal: Crystal, opts: PeakOptions = {}): Peak[] {
  return mergePeaks(computeReflections(crystal, opts), opts);
}

/**
 * peakList for a crystal that is to be rendered: a range in which nothing diffracts is refused
 * (DiffractionInputError naming `what`, the range and the cell), as its pattern would be
 * background and noise scaled to a maximum of 1.
 */
export function peakListToRender(crystal: Crystal, opts: PeakOptions, what: string): Peak[] {
  const peaks = peakList(crystal, opts);
  if (peaks.length === 0) {
    const { wavelength, twoThetaMin, twoThetaMax } = checkOptions(opts);
    const { a, b, c } = crystal.lattice;
    throw new DiffractionInputError(
      `${what}: no reflection falls in 2-theta ${twoThetaMin}-${twoThetaMax} deg at ${wavelength} A ` +
        `(cell ${+a.toPrecision(4)} x ${+b.toPrecision(4)} x ${+c.toPrecision(4)} A); check the cell lengths or widen the 2-theta range`,
    );
  }
  return peaks;
}
