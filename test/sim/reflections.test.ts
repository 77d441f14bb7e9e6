import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reciprocalMetric, type Crystal, type Lattice, type Site, type Vec3 } from '../../src/sim/crystal.ts';
import { UnknownElementError, formFactor } from '../../src/sim/formfactors.ts';
import { PeaksWriteError, writePeaksJson } from '../../src/sim/peaks-io.ts';
import {
  DiffractionInputError,
  computeReflections,
  mergeEquivalents,
  peakList,
  positionReflections,
  structureFactorAt,
  structureFactors,
  type Peak,
  type Reflection,
  type StructureFactors,
} from '../../src/sim/reflections.ts';
import { Rng } from '../../src/sim/random.ts';
import { generateCrystal } from '../../src/sim/synth.ts';
import {
  INTENSITY_TOL,
  MATCH_TOL_DEG,
  REFERENCE_DIR,
  compareWithReference,
  loadReference,
  referenceNames,
  referenceOptions,
  type PeakPair,
} from '../../scripts/compare-reference-xrd.ts';

const FCC: Vec3[] = [
  [0, 0, 0],
  [0, 0.5, 0.5],
  [0.5, 0, 0.5],
  [0.5, 0.5, 0],
];
const cubic = (a: number): Lattice => ({ a, b: a, c: a, alpha: 90, beta: 90, gamma: 90 });
const site = (element: string, frac: Vec3, charge: number | null = null): Site => ({
  element,
  charge,
  frac,
  occupancy: 1,
  biso: 0,
});
const shift = (f: Vec3, t: Vec3): Vec3 => [(f[0] + t[0]) % 1, (f[1] + t[1]) % 1, (f[2] + t[2]) % 1];

function nacl(charged: boolean): Crystal {
  return {
    name: 'NaCl',
    lattice: cubic(5.64),
    spaceGroup: 225,
    sites: [
      ...FCC.map((f) => site('Na', f, charged ? 1 : null)),
      ...FCC.map((f) => site('Cl', shift(f, [0.5, 0, 0]), charged ? -1 : null)),
    ],
  };
}
const copper: Crystal = { name: 'Cu', lattice: cubic(3.615), spaceGroup: 225, sites: FCC.map((f) => site('Cu', f)) };
const silicon: Crystal = {
  name: 'Si',
  lattice: cubic(5.431),
  spaceGroup: 227,
  sites: [...FCC, ...FCC.map((f) => shift(f, [0.25, 0.25, 0.25]))].map((f) => site('Si', f)),
};
const polonium: Crystal = { name: 'Po', lattice: cubic(3.35), spaceGroup: 221, sites: [site('Po', [0, 0, 0])] };
const cscl: Crystal = {
  name: 'CsCl',
  lattice: cubic(4.12),
  spaceGroup: 221,
  sites: [site('Cs', [0, 0, 0]), site('Cl', [0.5, 0.5, 0.5])],
};
// Triclinic, partial occupancy, B factors and an ion: no symmetry, so no absences.
const triclinic: Crystal = {
  name: 'P1 test',
  lattice: { a: 5.1, b: 6.3, c: 7.2, alpha: 81, beta: 97, gamma: 104 },
  spaceGroup: 1,
  sites: [
    { element: 'Fe', charge: 3, frac: [0.11, 0.23, 0.37], occupancy: 0.7, biso: 0.6 },
    { element: 'Mn', charge: 2, frac: [0.11, 0.23, 0.37], occupancy: 0.3, biso: 0.6 },
    { element: 'O', charge: -2, frac: [0.52, 0.08, 0.81], occupancy: 1, biso: 1.1 },
    { element: 'O', charge: -2, frac: [0.71, 0.64, 0.19], occupancy: 1, biso: 0.9 },
    { element: 'Si', charge: null, frac: [0.33, 0.91, 0.55], occupancy: 1, biso: 0.4 },
  ],
};

const findHkl = (rs: Reflection[], hkl: Vec3) => rs.find((r) => r.hkl.join() === hkl.join());
const f2At = (c: Crystal, hkl: Vec3) => {
  const { re, im } = structureFactorAt(c, hkl);
  return re * re + im * im;
};

describe('hand checks on cubic crystals', () => {
  it('NaCl: (200) strongest, (111) weak (F = 4(fNa - fCl)), with atoms or with ions', () => {
    for (const charged of [false, true]) {
      const peaks = peakList(nacl(charged));
      const at = (hkl: Vec3) => peaks.find((p) => p.hkl.some((h) => h.join() === hkl.join()));
      expect(at([2, 0, 0])?.intensity).toBe(100);
      expect(at([1, 1, 1])!.intensity).toBeLessThan(15);
      expect(at([2, 2, 0])!.intensity).toBeGreaterThan(40);
    }
    const r111 = (c: boolean) => findHkl(computeReflections(nacl(c)), [1, 1, 1])!;
    // |F(111)|^2 = 16 (fNa - fCl)^2 at s = sqrt(3) / (2 a), with the ion entries when charged.
    const s = Math.sqrt(3) / (2 * 5.64);
    expect(r111(false).f2).toBeCloseTo(16 * (formFactor('Na', null, s) - formFactor('Cl', null, s)) ** 2, 8);
    expect(r111(true).f2).toBeCloseTo(16 * (formFactor('Na', 1, s) - formFactor('Cl', -1, s)) ** 2, 8);
  });

  it('fcc: mixed-parity hkl have |F|^2 = 0 and are absent from the list; unmixed ones are present', () => {
    for (const hkl of [[1, 0, 0], [1, 1, 0], [2, 1, 0], [3, 2, 1], [2, 1, 1]] as Vec3[]) {
      expect(f2At(copper, hkl)).toBeLessThan(1e-20);
    }
    expect(f2At(copper, [1, 1, 1])).toBeCloseTo(16 * formFactor('Cu', null, Math.sqrt(3) / (2 * 3.615)) ** 2, 8);
    const sf = structureFactors(copper, { sMax: 1 });
    let count = 0;
    for (let i = 0; i < sf.count; i++) {
      const parity = [sf.h[i], sf.k[i], sf.l[i]].map((x) => Math.abs(x) % 2);
      expect(parity[0] === parity[1] && parity[1] === parity[2]).toBe(true);
      count += sf.multiplicity[i];
    }
    // All unmixed hkl with 0 < 1/d <= 2 (brute force) are there.
    let want = 0;
    for (let h = -8; h <= 8; h++)
      for (let k = -8; k <= 8; k++)
        for (let l = -8; l <= 8; l++) {
          const q = (h * h + k * k + l * l) / 3.615 ** 2;
          if (q > 0 && q <= 4 && (h & 1) === (k & 1) && (k & 1) === (l & 1)) want++;
        }
    expect(count).toBe(want);
  });

  it('diamond Si: (200) and (222) are absent, (111) (220) (311) present', () => {
    const rs = computeReflections(silicon);
    expect(findHkl(rs, [2, 0, 0])).toBeUndefined();
    expect(findHkl(rs, [2, 2, 2])).toBeUndefined();
    expect(f2At(silicon, [2, 2, 2])).toBeLessThan(1e-20);
    for (const hkl of [[1, 1, 1], [2, 2, 0], [3, 1, 1]] as Vec3[]) expect(findHkl(rs, hkl)).toBeDefined();
    // (111): |F|^2 = 32 f^2 (|1 + e^{i 3pi/2}|^2 = 2, times 16).
    const s = Math.sqrt(3) / (2 * 5.431);
    expect(findHkl(rs, [1, 1, 1])!.f2).toBeCloseTo(32 * formFactor('Si', null, s) ** 2, 8);
  });

  it('cubic multiplicities (100)=6, (110)=12, (111)=8, (210)=24; d = a / sqrt(h^2+k^2+l^2)', () => {
    const rs = computeReflections(polonium, { twoThetaMax: 120 });
    const want: [Vec3, number][] = [
      [[1, 0, 0], 6],
      [[1, 1, 0], 12],
      [[1, 1, 1], 8],
      [[2, 0, 0], 6],
      [[2, 1, 0], 24],
      [[2, 1, 1], 24],
      // (300) and (221): same d and |F|^2, merged as documented (6 + 24).
      [[3, 0, 0], 30],
    ];
    for (const [hkl, m] of want) {
      const r = findHkl(rs, hkl)!;
      expect(r.multiplicity).toBe(m);
      expect(r.d).toBeCloseTo(3.35 / Math.hypot(...hkl), 12);
    }
  });

  it('CsCl: (100) has F = fCs - fCl, (110) F = fCs + fCl; LP and intensity as defined', () => {
    const rs = computeReflections(cscl);
    const r100 = findHkl(rs, [1, 0, 0])!;
    const s = 1 / (2 * 4.12);
    expect(r100.f2).toBeCloseTo((formFactor('Cs', null, s) - formFactor('Cl', null, s)) ** 2, 8);
    const theta = Math.asin(1.5418 / (2 * 4.12));
    expect(r100.twoTheta).toBeCloseTo((2 * theta * 180) / Math.PI, 12);
    const lp = (1 + Math.cos(2 * theta) ** 2) / (Math.sin(theta) ** 2 * Math.cos(theta));
    expect(r100.lp).toBeCloseTo(lp, 10);
    expect(r100.intensity).toBeCloseTo(r100.f2 * 6 * lp, 6);
    const r110 = findHkl(rs, [1, 1, 0])!;
    const s110 = Math.SQRT2 / (2 * 4.12);
    expect(r110.f2).toBeCloseTo((formFactor('Cs', null, s110) + formFactor('Cl', null, s110)) ** 2, 8);
  });
});

describe('structure factors, general case', () => {
  const sMax = 0.6;
  const sf = structureFactors(triclinic, { sMax });

  it('table-based F matches the direct sum (occupancy, B, ions) for every hkl', () => {
    let worst = 0;
    for (let i = 0; i < sf.count; i++) {
      const direct = f2At(triclinic, [sf.h[i], sf.k[i], sf.l[i]]);
      worst = Math.max(worst, Math.abs(sf.f2[i] - direct) / direct);
    }
    expect(sf.count).toBeGreaterThan(500);
    expect(worst).toBeLessThan(1e-9);
  });

  it('one entry per Friedel pair covers every lattice point within the sphere', () => {
    const { h, k, l } = sf;
    const seen = new Set<string>();
    let total = 0;
    for (let i = 0; i < sf.count; i++) {
      seen.add(`${h[i]},${k[i]},${l[i]}`);
      total += sf.multiplicity[i];
    }
    for (let i = 0; i < sf.count; i++) expect(seen.has(`${-h[i]},${-k[i]},${-l[i]}`)).toBe(false);
    // Brute force over a box larger than the sphere, with the same metric.
    const G = reciprocalMetric(triclinic.lattice);
    let brute = 0;
    for (let a = -12; a <= 12; a++)
      for (let b = -12; b <= 12; b++)
        for (let c = -12; c <= 12; c++) {
          const v = [a, b, c];
          let q = 0;
          for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) q += v[i] * G[i * 3 + j] * v[j];
          if (q > 0 && q <= 4 * sMax * sMax) brute++;
        }
    expect(total).toBe(brute);
  });

  it('strain: a scaled lattice re-positions peaks without changing |F|^2', () => {
    const merged = mergeEquivalents(sf, triclinic.lattice);
    const base = positionReflections(merged, triclinic.lattice, { twoThetaMax: 60 });
    const l = triclinic.lattice;
    const scaled = positionReflections(merged, { ...l, a: l.a * 1.02, b: l.b * 1.02, c: l.c * 1.02 }, { twoThetaMax: 60 });
    const first = scaled[0];
    const same = base.find((r) => r.hkl.join() === first.hkl.join())!;
    expect(first.d).toBeCloseTo(same.d * 1.02, 10);
    expect(first.f2).toBe(same.f2);
    expect(first.twoTheta).toBeLessThan(same.twoTheta);
  });

  it('peak list is normalised to 100 and sorted', () => {
    const peaks = peakList(triclinic);
    expect(Math.max(...peaks.map((p) => p.intensity))).toBeCloseTo(100, 12);
    for (let i = 1; i < peaks.length; i++) expect(peaks[i].two_theta).toBeGreaterThan(peaks[i - 1].two_theta);
    expect(peaks[0].two_theta).toBeGreaterThanOrEqual(5);
    expect(peaks[peaks.length - 1].two_theta).toBeLessThanOrEqual(90);
  });

  it('user errors raise typed errors', () => {
    expect(() => peakList({ ...copper, sites: [] })).toThrow(DiffractionInputError);
    expect(() => peakList(copper, { wavelength: -1 })).toThrow(DiffractionInputError);
    expect(() => peakList(copper, { twoThetaMin: 50, twoThetaMax: 40 })).toThrow(DiffractionInputError);
    expect(() => peakList({ ...copper, sites: [site('Qq', [0, 0, 0])] })).toThrow(UnknownElementError);
    expect(() => peakList({ ...copper, sites: [{ ...site('Cu', [0, 0, 0]), occupancy: 1.5 }] })).toThrow(
      /occupancy/,
    );
  });
});

/** Same hkl, same multiplicities, |F|^2 equal to float rounding (weak ones relative to the strongest). */
function expectSameSf(a: StructureFactors, b: StructureFactors, what: string): void {
  expect(b.count, what).toBe(a.count);
  let fMax = 0;
  for (let i = 0; i < a.count; i++) fMax = Math.max(fMax, a.f2[i]);
  for (let i = 0; i < a.count; i++) {
    const same = a.h[i] === b.h[i] && a.k[i] === b.k[i] && a.l[i] === b.l[i] && a.multiplicity[i] === b.multiplicity[i];
    if (!same) expect([b.h[i], b.k[i], b.l[i], b.multiplicity[i]], `${what} entry ${i}`).toEqual([a.h[i], a.k[i], a.l[i], a.multiplicity[i]]);
    const err = Math.abs(a.f2[i] - b.f2[i]);
    if (!(err <= 1e-9 * a.f2[i] + 1e-13 * fMax)) expect(b.f2[i], `${what} |F|^2 of ${a.h[i]} ${a.k[i]} ${a.l[i]}`).toBe(a.f2[i]);
  }
}

describe('structure factors once per Laue-class orbit', () => {
  it('equal the per-Friedel-pair result, unmerged and merged, for synthetic crystals of all 230 groups', () => {
    let withOrbits = 0;
    for (let n = 1; n <= 230; n++) {
      const c = generateCrystal(n, new Rng(n * 7 + 1));
      const brute = structureFactors(c, { sMax: 0.55, useSymmetry: false });
      const fast = structureFactors(c, { sMax: 0.55 });
      expect(brute.orbit).toBeUndefined();
      // Every group but P1 has a rotation (P-1: the inversion) to use.
      if (n > 1) expect(fast.orbit, `SG ${n}`).toBeDefined();
      if (fast.orbit) withOrbits++;
      expectSameSf(brute, fast, `SG ${n}`);
      expectSameSf(mergeEquivalents(brute, c.lattice), mergeEquivalents(fast, c.lattice), `SG ${n} merged`);
      if (fast.orbit && n >= 195) {
        // Cubic: orbits of the general hkl have 48 (m-3m) or 24 (m-3) members.
        const sizes = new Map<number, number>();
        for (const o of fast.orbit) sizes.set(o, (sizes.get(o) ?? 0) + 2);
        expect(Math.max(...sizes.values())).toBe(n >= 207 ? 48 : 24);
      }
    }
    expect(withOrbits).toBe(229);
  });

  it('merging a strained lattice ignores orbits that split in d (same as without orbits)', () => {
    const c = generateCrystal(139, new Rng(5));
    const strained = { ...c.lattice, a: c.lattice.a * 1.01 };
    const brute = structureFactors(c, { sMax: 0.5, useSymmetry: false });
    const fast = structureFactors(c, { sMax: 0.5 });
    expect(fast.orbit).toBeDefined();
    const a = mergeEquivalents(brute, strained);
    expectSameSf(a, mergeEquivalents(fast, strained), 'strained');
    // Tetragonal (h00) and (0k0) split when only a stretches.
    expect(a.count).toBeGreaterThan(mergeEquivalents(brute, c.lattice).count);
  });

  it('falls back to every Friedel pair when the labelled group is not the symmetry of the cell', () => {
    const moved: Crystal = { ...nacl(false), sites: nacl(false).sites.map((s, i) => (i === 0 ? { ...s, frac: [0.01, 0, 0] as Vec3 } : s)) };
    const tetragonal: Crystal = { ...nacl(false), lattice: { ...cubic(5.64), c: 5.9 } };
    const mixedOcc: Crystal = { ...nacl(false), sites: nacl(false).sites.map((s, i) => (i === 1 ? { ...s, occupancy: 0.5 } : s)) };
    for (const c of [moved, tetragonal, mixedOcc]) {
      const fast = structureFactors(c, { sMax: 0.6 });
      expect(fast.orbit, c.name).toBeUndefined();
      expectSameSf(structureFactors(c, { sMax: 0.6, useSymmetry: false }), fast, c.name);
    }
    expect(structureFactors(nacl(false), { sMax: 0.6 }).orbit).toBeDefined();
    expect(structureFactors({ ...nacl(false), spaceGroup: null }, { sMax: 0.6 }).orbit).toBeUndefined();
  });
});

describe.skipIf(!existsSync(REFERENCE_DIR))(`orbits on the reference CIFs (${REFERENCE_DIR}; skipped when absent)`, () => {
  it('equal the per-Friedel-pair result, and are used for most structures', () => {
    let used = 0;
    for (const name of referenceNames()) {
      const { crystal } = loadReference(name);
      const brute = structureFactors(crystal, { sMax: 0.6, useSymmetry: false });
      const fast = structureFactors(crystal, { sMax: 0.6 });
      if (fast.orbit) used++;
      expectSameSf(brute, fast, name);
      expectSameSf(mergeEquivalents(brute, crystal.lattice), mergeEquivalents(fast, crystal.lattice), `${name} merged`);
    }
    // Left out: non-standard origins, no group, and coordinates rounded at 1e-8 (x = 0.33333333).
    expect(used).toBeGreaterThanOrEqual(30);
  });
});

describe('peaks JSON writer', () => {
  it('writes the documented fields and reads back', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'peaks-'));
    try {
      const file = path.join(dir, 'nacl.peaks.json');
      const peaks = peakList(nacl(false));
      writePeaksJson(peaks, file);
      const back = JSON.parse(readFileSync(file, 'utf8')) as Peak[];
      expect(back).toEqual(peaks);
      expect(Object.keys(back[0]).sort()).toEqual(['d', 'hkl', 'intensity', 'multiplicity', 'two_theta']);
      expect(Math.max(...back.map((p) => p.intensity))).toBe(100);
      expect(() => writePeaksJson(peaks, path.join(dir, 'missing', 'x.json'))).toThrow(PeaksWriteError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!existsSync(REFERENCE_DIR))(
  `pymatgen reference peak lists (${REFERENCE_DIR}; skipped when absent)`,
  () => {
    it(`finds every peak >= 1 within ${MATCH_TOL_DEG} deg, >= 95 % intensities within ${INTENSITY_TOL}`, () => {
      const names = referenceNames();
      expect(names.length).toBe(46);
      let strong = 0;
      let found = 0;
      let agree = 0;
      const pairs: PeakPair[] = [];
      for (const name of names) {
        const { crystal, ref } = loadReference(name);
        const c = compareWithReference(name, peakList(crystal, referenceOptions()), ref);
        strong += c.strong;
        found += c.strongFound;
        agree += c.agree;
        pairs.push(...c.pairs);
      }
      const worst = [...pairs].sort((a, b) => Math.abs(b.ours - b.ref) - Math.abs(a.ours - a.ref)).slice(0, 5);
      console.log(
        `reference: ${found}/${strong} peaks >= 1 found; ${agree}/${pairs.length} intensities within ${INTENSITY_TOL}; worst:\n` +
          worst.map((p) => `  ${p.name} 2th ${p.twoTheta.toFixed(3)} ours ${p.ours.toFixed(2)} ref ${p.ref.toFixed(2)}`).join('\n'),
      );
      expect(found).toBe(strong);
      expect(agree / pairs.length).toBeGreaterThanOrEqual(0.95);
    });
  },
);
