// Compare our peak lists with pymatgen's XRDCalculator reference lists in
// ../shared/data/reference-xrd (NAME.cif + NAME.peaks.json, Cu K-alpha 1.54184 A, 5-90 deg).
//
//   npx tsx scripts/compare-reference-xrd.ts [dataDir]
//
// Prints the match statistics, the worst intensity differences with the elements involved and,
// when pymatgen is installed, how its form factor f(s) differs from ours for those elements at
// the peak's s (the main source of the differences), and the time per structure.
// The matching is defined in compareWithReference() and shared with test/sim/reflections.test.ts.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readCif } from '../src/sim/cif.ts';
import type { Crystal } from '../src/sim/crystal.ts';
import { formFactor } from '../src/sim/formfactors.ts';
import { peakList, type Peak } from '../src/sim/reflections.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REFERENCE_DIR = path.resolve(repoRoot, '../shared/data/reference-xrd');
/** pymatgen's CuKa. */
export const REFERENCE_WAVELENGTH = 1.54184;
export const MATCH_TOL_DEG = 0.01;
export const INTENSITY_TOL = 2.5;

export interface ReferencePeaks {
  two_theta: number[];
  intensity: number[];
  d_hkl: number[];
}

export interface PeakPair {
  name: string;
  twoTheta: number;
  /** Reference intensity, 0 when the peak is only ours. */
  ref: number;
  /** Our intensity, 0 when no peak of ours matches. */
  ours: number;
  hkl: Peak['hkl'] | null;
}

export interface Comparison {
  /** Reference peaks with intensity >= 1, and how many of them we match. */
  strong: number;
  strongFound: number;
  /** Every reference peak plus every peak of ours no reference peak matched. */
  pairs: PeakPair[];
  /** Pairs whose intensities agree within INTENSITY_TOL. */
  agree: number;
  /** Largest |2-theta difference| of a matched pair, degrees. */
  maxShift: number;
}

/**
 * Matching: each reference peak is matched to our peak nearest in 2-theta if that is within
 * MATCH_TOL_DEG, else it is unmatched (our intensity 0). A reference peak of intensity >= 1 counts
 * as found when matched. Intensities are compared over every reference peak (any intensity) and
 * every peak of ours that no reference peak matched (reference intensity 0); a pair agrees when
 * |ours - ref| <= INTENSITY_TOL on the 0-100 scale.
 */
export function compareWithReference(name: string, ours: Peak[], ref: ReferencePeaks): Comparison {
  const used = new Set<number>();
  const pairs: PeakPair[] = [];
  let strong = 0;
  let strongFound = 0;
  let maxShift = 0;
  ref.two_theta.forEach((tt, i) => {
    let best = -1;
    for (let j = 0; j < ours.length; j++) {
      const dt = Math.abs(ours[j].two_theta - tt);
      if (dt <= MATCH_TOL_DEG && (best < 0 || dt < Math.abs(ours[best].two_theta - tt))) best = j;
    }
    const I = ref.intensity[i];
    if (I >= 1) strong++;
    if (best >= 0) {
      used.add(best);
      maxShift = Math.max(maxShift, Math.abs(ours[best].two_theta - tt));
      if (I >= 1) strongFound++;
    }
    pairs.push({
      name,
      twoTheta: tt,
      ref: I,
      ours: best >= 0 ? ours[best].intensity : 0,
      hkl: best >= 0 ? ours[best].hkl : null,
    });
  });
  ours.forEach((p, j) => {
    if (!used.has(j)) pairs.push({ name, twoTheta: p.two_theta, ref: 0, ours: p.intensity, hkl: p.hkl });
  });
  const agree = pairs.filter((p) => Math.abs(p.ours - p.ref) <= INTENSITY_TOL).length;
  return { strong, strongFound, pairs, agree, maxShift };
}

export function referenceNames(dir = REFERENCE_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.peaks.json'))
    .map((f) => f.slice(0, -'.peaks.json'.length))
    .sort();
}

export function loadReference(name: string, dir = REFERENCE_DIR): { crystal: Crystal; ref: ReferencePeaks } {
  return {
    crystal: readCif(path.join(dir, `${name}.cif`)),
    ref: JSON.parse(readFileSync(path.join(dir, `${name}.peaks.json`), 'utf8')) as ReferencePeaks,
  };
}

export function referenceOptions() {
  return { wavelength: REFERENCE_WAVELENGTH, twoThetaMin: 5, twoThetaMax: 90 };
}

/** pymatgen's neutral-atom f(s) = Z - 41.78214 s^2 sum a_i exp(-b_i s^2), if pymatgen is installed. */
function pymatgenFormFactor(): ((el: string, s: number) => number) | null {
  const file = '/usr/lib/python3/dist-packages/pymatgen/analysis/diffraction/atomic_scattering_params.json';
  if (!existsSync(file)) return null;
  const params = JSON.parse(readFileSync(file, 'utf8')) as Record<string, [number, number][]>;
  return (el, s) => {
    const z = Math.round(formFactor(el, null, 0));
    const s2 = s * s;
    return z - 41.78214 * s2 * params[el].reduce((acc, [a, b]) => acc + a * Math.exp(-b * s2), 0);
  };
}

function main(): void {
  const dir = process.argv[2] ?? REFERENCE_DIR;
  if (!existsSync(dir)) {
    console.error(`reference data not found at ${dir}; pass its path as the first argument`);
    process.exit(1);
  }
  const names = referenceNames(dir);
  const all: PeakPair[] = [];
  const elements = new Map<string, string[]>();
  let strong = 0;
  let strongFound = 0;
  let agree = 0;
  let maxShift = 0;
  let totalMs = 0;
  let slowest = { name: '', ms: 0, atoms: 0 };
  for (const name of names) {
    const { crystal, ref } = loadReference(name, dir);
    elements.set(name, [...new Set(crystal.sites.map((s) => s.element))]);
    peakList(crystal, referenceOptions()); // warm-up
    const reps = 5;
    const t0 = performance.now();
    let ours: Peak[] = [];
    for (let r = 0; r < reps; r++) ours = peakList(crystal, referenceOptions());
    const ms = (performance.now() - t0) / reps;
    totalMs += ms;
    if (ms > slowest.ms) slowest = { name, ms, atoms: crystal.sites.length };
    const c = compareWithReference(name, ours, ref);
    strong += c.strong;
    strongFound += c.strongFound;
    agree += c.agree;
    maxShift = Math.max(maxShift, c.maxShift);
    all.push(...c.pairs);
  }
  console.log(`${names.length} structures`);
  console.log(`reference peaks with I >= 1 found within ${MATCH_TOL_DEG} deg: ${strongFound}/${strong}`);
  console.log(`largest 2-theta difference of a matched peak: ${maxShift.toExponential(2)} deg`);
  console.log(
    `intensities within ${INTENSITY_TOL}: ${agree}/${all.length} = ${((100 * agree) / all.length).toFixed(2)} %`,
  );
  const absDiff = all.map((p) => Math.abs(p.ours - p.ref)).sort((a, b) => a - b);
  const q = (f: number) => absDiff[Math.min(absDiff.length - 1, Math.floor(f * absDiff.length))].toFixed(3);
  console.log(`|intensity difference|: median ${q(0.5)}, 95th pct ${q(0.95)}, 99th pct ${q(0.99)}, max ${q(1)}`);
  console.log(
    `time per structure (peakList, CIF reading excluded): mean ${(totalMs / names.length).toFixed(2)} ms, ` +
      `slowest ${slowest.name} (${slowest.atoms} atoms) ${slowest.ms.toFixed(2)} ms`,
  );
  const pmg = pymatgenFormFactor();
  console.log('\nworst intensity differences (ours - pymatgen):');
  for (const p of [...all].sort((a, b) => Math.abs(b.ours - b.ref) - Math.abs(a.ours - a.ref)).slice(0, 12)) {
    const els = elements.get(p.name) ?? [];
    const s = Math.sin((p.twoTheta / 2) * (Math.PI / 180)) / REFERENCE_WAVELENGTH;
    const ff = pmg
      ? els.map((e) => `${e} f ${formFactor(e, null, s).toFixed(2)} vs ${pmg(e, s).toFixed(2)}`).join(', ')
      : els.join(' ');
    console.log(
      `  ${p.name} 2th ${p.twoTheta.toFixed(3)} hkl ${JSON.stringify(p.hkl)} ours ${p.ours.toFixed(2)} ` +
        `ref ${p.ref.toFixed(2)} diff ${(p.ours - p.ref).toFixed(2)} | s ${s.toFixed(3)}: ${ff}`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
