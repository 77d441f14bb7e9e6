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

import { reciprocalMetric, type Crystal, type Lattice, type Mat3, type Site, type Vec3 } from './crystal.ts';
import type { WaasKirfEntry } from './data/formfactors.ts';
import { formFactorAtS2, formFactorEntry } from './formfactors.ts';

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

/**
 * |F(hkl)|^2 for every hkl (one per Friedel pair) with 0 < sin(theta)/lambda <= sMax.
 * F = sum_j occ_j f0_j(s) exp(-B_j s^2) exp(2 pi i h.x_j). Systematic absences
 * (|F|^2 < 1e-16 F(000)^2, rounding noise) are left out.
 */
export function structureFactors(crystal: Crystal, opts: { sMax: number }): StructureFactors {
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

  const pr = new Float64Array(n);
  const pi = new Float64Array(n);
  const outH: number[] = [];
  const outK: number[] = [];
  const outL: number[] = [];
  const outF2: number[] = [];
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
      // occ_j exp(2 pi i (h x + k y)), shared by all l of this (h, k).
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
      for (let l = lMin; l <= lMax; l++) {
        const q = c0 + 2 * b * l + g22 * l * l;
        if (q > qMax || q <= 0) continue;
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
        const f2 = fr * fr + fi * fi;
        if (f2 < absent) continue;
        outH.push(h);
        outK.push(k);
        outL.push(l);
        outF2.push(f2);
      }
    }
  }
  const count = outF2.length;
  return {
    count,
    h: Int32Array.from(outH),
    k: Int32Array.from(outK),
    l: Int32Array.from(outL),
    f2: Float64Array.from(outF2),
    multiplicity: new Int32Array(count).fill(2),
    sMax,
  };
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

/**
 * Fold entries with the same d (in `lattice`) and the same |F|^2 into one entry (summed
 * multiplicity, lexicographically largest hkl as representative). This merges symmetry
 * equivalents without needing the space group; an accidental coincidence of both d and |F|^2
 * (e.g. cubic (300)/(221) in CsCl) is merged too, which changes nothing in a powder pattern.
 */
export function mergeEquivalents(sf: StructureFactors, lattice: Lattice): StructureFactors {
  const G = reciprocalMetric(lattice);
  const q = new Float64Array(sf.count);
  for (let i = 0; i < sf.count; i++) q[i] = qOf(G, sf.h[i], sf.k[i], sf.l[i]);
  const order = Array.from({ length: sf.count }, (_, i) => i).sort((a, b) => q[a] - q[b]);
  const outH: number[] = [];
  const outK: number[] = [];
  const outL: number[] = [];
  const outF2: number[] = [];
  const outM: number[] = [];
  let start = 0;
  while (start < order.length) {
    const q0 = q[order[start]];
    let end = start + 1;
    while (end < order.length && q[order[end]] - q0 <= SAME_Q_REL * q0) end++;
    // Same d: cluster by |F|^2.
    const group = order.slice(start, end).sort((a, b) => sf.f2[b] - sf.f2[a]);
    let g = 0;
    while (g < group.length) {
      const f0 = sf.f2[group[g]];
      let rep = group[g];
      let mult = 0;
      let e = g;
      while (e < group.length && f0 - sf.f2[group[e]] <= SAME_F2_REL * f0) {
        const i = group[e];
        mult += sf.multiplicity[i];
        if (hklAfter(sf.h[i], sf.k[i], sf.l[i], sf.h[rep], sf.k[rep], sf.l[rep])) rep = i;
        e++;
      }
      outH.push(sf.h[rep]);
      outK.push(sf.k[rep]);
      outL.push(sf.l[rep]);
      outF2.push(f0);
      outM.push(mult);
      g = e;
    }
    start = end;
  }
  return {
    count: outF2.length,
    h: Int32Array.from(outH),
    k: Int32Array.from(outK),
    l: Int32Array.from(outL),
    f2: Float64Array.from(outF2),
    multiplicity: Int32Array.from(outM),
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
