import { describe, expect, it } from 'vitest';
import { crystalSystemOf } from '../../src/sim/crystal.ts';
import type { Crystal, Site } from '../../src/sim/crystal.ts';
import {
  DEFAULT_MERGE_TOL,
  SymOpParseError,
  UnknownSpaceGroupError,
  detectSpaceGroup,
  expandBySymmetry,
  parseSymOp,
  spaceGroupFromSymbol,
  spaceGroupInfo,
  spaceGroupSettingFromSymbol,
  symmetryOperations,
  wyckoffCoordinate,
  wyckoffPositions,
} from '../../src/sim/spacegroup.ts';

function site(element: string, frac: [number, number, number], occupancy = 1): Site {
  return { element, charge: null, frac, occupancy, biso: 0 };
}

describe('space-group tables', () => {
  it('230 standard settings hold 4425 conventional operations and 1731 Wyckoff positions', () => {
    let ops = 0;
    let wyck = 0;
    for (let n = 1; n <= 230; n++) {
      ops += symmetryOperations(n).length;
      wyck += wyckoffPositions(n).length;
    }
    expect(ops).toBe(4425);
    expect(wyck).toBe(1731);
  });

  it('describes standard settings', () => {
    expect(symmetryOperations(225)).toHaveLength(192);
    expect(spaceGroupInfo(225)).toMatchObject({ number: 225, hmShort: 'F m -3 m', crystalSystem: 'cubic', centering: 'F' });
    expect(spaceGroupInfo(14)).toMatchObject({ hmShort: 'P 2_1/c', crystalSystem: 'monoclinic', centering: 'P' });
    expect(spaceGroupInfo(166)).toMatchObject({ crystalSystem: 'trigonal', centering: 'R' });
    expect(symmetryOperations(166)).toHaveLength(36); // hexagonal axes: 12 x 3 centring
    expect(spaceGroupInfo(194).crystalSystem).toBe('hexagonal');
    for (let n = 1; n <= 230; n++) expect(spaceGroupInfo(n).crystalSystem).toBe(crystalSystemOf(n));
    expect(() => spaceGroupInfo(0)).toThrow(RangeError);
    expect(() => spaceGroupInfo(231)).toThrow(RangeError);
    expect(() => spaceGroupInfo(2.5)).toThrow(RangeError);
  });

  it('lists Wyckoff positions and evaluates representatives', () => {
    const w = wyckoffPositions(225);
    expect(w[0]).toEqual({ multiplicity: 192, letter: 'l', siteSymmetry: '1', coordinates: 'x,y,z' });
    expect(w.at(-1)).toMatchObject({ multiplicity: 4, letter: 'a' });
    expect(wyckoffCoordinate('x,-x+1/2,1/4', [0.1, 0.2, 0.3])).toEqual([0.1, 0.4, 0.25]);
    const p = wyckoffCoordinate('2x,x,0', [0.15, 0.9, 0.9]);
    expect(p[0]).toBeCloseTo(0.3, 12);
    expect(p[1]).toBeCloseTo(0.15, 12);
    expect(p[2]).toBe(0);
  });
});

describe('parseSymOp', () => {
  it('reads CIF-style triplets', () => {
    expect(parseSymOp('x-y+1/2, -z, 0.5+x')).toEqual({ rotation: [1, -1, 0, 0, 0, -1, 1, 0, 0], translation: [0.5, 0, 0.5] });
    expect(parseSymOp('-X,Y+.25,2*z-1/3')).toEqual({ rotation: [-1, 0, 0, 0, 1, 0, 0, 0, 2], translation: [0, 0.25, -1 / 3] });
  });
  it('rejects bad triplets', () => {
    expect(() => parseSymOp('x,y')).toThrow(SymOpParseError);
    expect(() => parseSymOp('x,y,w')).toThrow(/cannot read 'w'/);
    expect(() => parseSymOp('x,y+,z')).toThrow(SymOpParseError);
    expect(() => parseSymOp('x,,z')).toThrow(SymOpParseError);
  });
});

describe('symbol lookup', () => {
  it('accepts common spellings', () => {
    for (const s of ['Fm-3m', 'F m -3 m', 'F 4/m -3 2/m', 'fm-3m']) expect(spaceGroupFromSymbol(s)).toBe(225);
    for (const s of ['P 21/c', 'P2_1/c', 'P 1 21/c 1', 'P21/n', 'P 1 2_1/n 1']) expect(spaceGroupFromSymbol(s)).toBe(14);
    expect(spaceGroupFromSymbol('P1')).toBe(1);
    expect(spaceGroupFromSymbol('P -1')).toBe(2);
    expect(spaceGroupFromSymbol('Pnma')).toBe(62);
    expect(spaceGroupFromSymbol('P 63/m m c')).toBe(194);
    expect(spaceGroupFromSymbol('R-3m')).toBe(166);
    expect(spaceGroupFromSymbol('Ia-3d')).toBe(230);
  });
  it('picks the standard setting unless a suffix names another', () => {
    expect(spaceGroupSettingFromSymbol('Fd-3m').hallNumber).toBe(spaceGroupInfo(227).hallNumber);
    expect(spaceGroupSettingFromSymbol('Fd-3m:1')).toEqual({ number: 227, hallNumber: 525 });
    expect(spaceGroupSettingFromSymbol('R -3 m :R')).toEqual({ number: 166, hallNumber: 459 });
  });
  it('throws a typed error for unknown symbols', () => {
    expect(() => spaceGroupFromSymbol('Xq-9')).toThrow(UnknownSpaceGroupError);
    expect(() => spaceGroupFromSymbol('Fm-3m:7')).toThrow(UnknownSpaceGroupError);
  });
});

describe('expansion and detection', () => {
  const nacl = (): Crystal => ({
    name: 'NaCl',
    lattice: { a: 5.64, b: 5.64, c: 5.64, alpha: 90, beta: 90, gamma: 90 },
    sites: expandBySymmetry([site('Na', [0, 0, 0]), site('Cl', [0.5, 0.5, 0.5])], symmetryOperations(225)),
    spaceGroup: null,
  });

  it('expands NaCl from 4a + 4b into 8 atoms and detects Fm-3m', () => {
    const c = nacl();
    expect(c.sites).toHaveLength(8);
    expect(c.sites.filter((s) => s.element === 'Na')).toHaveLength(4);
    for (const s of c.sites) for (const x of s.frac) expect(x === 0 || x === 0.5).toBe(true);
    expect(detectSpaceGroup(c)).toMatchObject({ number: 225, hallNumber: 523 });
    expect(() => detectSpaceGroup(c, 0)).toThrow(RangeError);
  });

  it('gives Wyckoff multiplicities for general and special positions', () => {
    const ops = symmetryOperations(225);
    for (const w of wyckoffPositions(225)) {
      const f = wyckoffCoordinate(w.coordinates, [0.0731, 0.1827, 0.3143]);
      expect(expandBySymmetry([site('Fe', f)], ops)).toHaveLength(w.multiplicity);
    }
  });

  it('reproduces every Wyckoff multiplicity of all 230 standard settings', () => {
    // Transposed rotations pass for many groups but not for these (e.g. Fd-3m 8a gives 32 atoms).
    const bad: string[] = [];
    for (let n = 1; n <= 230; n++) {
      const ops = symmetryOperations(n);
      for (const w of wyckoffPositions(n)) {
        const f = wyckoffCoordinate(w.coordinates, [0.0731, 0.1827, 0.3143]);
        const got = expandBySymmetry([site('Fe', f)], ops).length;
        if (got !== w.multiplicity) bad.push(`${n} ${w.multiplicity}${w.letter}: ${got}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('keeps the handedness of screw axes: P4_1 maps (x,y,z) to (-y,x,z+1/4)', () => {
    const has = symmetryOperations(76).some(
      (o) => o.rotation.join(',') === '0,-1,0,1,0,0,0,0,1' && Math.abs(o.translation[2] - 0.25) < 1e-9,
    );
    expect(has).toBe(true);
  });

  it('merges images across the cell boundary and keeps mixed occupancy', () => {
    const ops = symmetryOperations(2); // x,y,z and -x,-y,-z
    // -1e-4 wraps to 0.9999, which must merge with +1e-4 under the default tolerance.
    expect(expandBySymmetry([site('O', [1e-4, 0.5, 0.5])], ops)).toHaveLength(1);
    expect(expandBySymmetry([site('O', [1e-4, 0.5, 0.5])], ops, 1e-5)).toHaveLength(2);
    const mixed = expandBySymmetry([site('Fe', [0, 0, 0], 0.5), site('Ni', [0, 0, 0], 0.5)], symmetryOperations(225));
    expect(mixed).toHaveLength(8);
    expect(DEFAULT_MERGE_TOL).toBe(1e-3);
  });

  it('tells species apart by composition: ordered CuAu-type vs disordered fcc', () => {
    const lattice = { a: 3.8, b: 3.8, c: 3.8, alpha: 90, beta: 90, gamma: 90 };
    const fcc: [number, number, number][] = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]];
    const disordered: Site[] = fcc.flatMap((f) => [site('Cu', f, 0.5), site('Au', f, 0.5)]);
    expect(detectSpaceGroup({ name: 'CuAu-dis', lattice, sites: disordered, spaceGroup: null }).number).toBe(225);
    const ordered: Site[] = fcc.map((f) => site(f[2] === 0 ? 'Cu' : 'Au', f));
    expect(detectSpaceGroup({ name: 'CuAu', lattice, sites: ordered, spaceGroup: null }).number).toBe(123);
  });
});
