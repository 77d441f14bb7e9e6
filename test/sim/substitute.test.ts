import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCif } from '../../src/sim/cif.ts';
import { Rng } from '../../src/sim/random.ts';
import { detectSpaceGroup } from '../../src/sim/spacegroup.ts';
import { SUBSTITUTION_GROUPS, substituteElements } from '../../src/sim/substitute.ts';

const root = resolve(import.meta.dirname, '../..');
const cifRealDir = resolve(root, '../shared/data/cif-real');
const groupOf = new Map(SUBSTITUTION_GROUPS.flatMap((g, i) => g.map((e) => [e, i] as const)));

describe('element substitution', () => {
  it.skipIf(!existsSync(cifRealDir))('keeps the exact space group of every real structure, swaps one-to-one within groups and scales the cell within bounds (skipped: ../shared/data/cif-real absent)', () => {
    const files = [...readdirSync(cifRealDir).filter((f) => f.endsWith('.cif')).map((f) => join(cifRealDir, f)), join(root, 'examples/TiO2-rutile.cif'), join(root, 'examples/NaCl-halite.cif')];
    let variants = 0;
    for (const file of files) {
      const parent = readCif(file);
      const parentGroup = detectSpaceGroup(parent).number;
      const parentElements = new Set(parent.sites.map((s) => s.element));
      for (let k = 0; k < 3; k++) {
        const v = substituteElements(parent, new Rng(`t/${file}/${k}`));
        if (!v) {
          expect([...parentElements].some((e) => groupOf.has(e)), file).toBe(false);
          continue;
        }
        variants++;
        expect(Object.keys(v.swaps).length).toBeGreaterThan(0);
        for (const [from, to] of Object.entries(v.swaps)) {
          expect(groupOf.get(to), `${file}: ${from}>${to}`).toBe(groupOf.get(from));
          expect(parentElements.has(to), `${file}: ${to} already present`).toBe(false);
        }
        // one-to-one: as many distinct elements as before, each site changed exactly as mapped
        expect(new Set(v.crystal.sites.map((s) => s.element)).size).toBe(parentElements.size);
        v.crystal.sites.forEach((s, i) => expect(s.element).toBe(v.swaps[parent.sites[i]!.element] ?? parent.sites[i]!.element));
        expect(v.scale).toBeGreaterThanOrEqual(0.85);
        expect(v.scale).toBeLessThanOrEqual(1.2);
        expect(v.crystal.lattice.a / parent.lattice.a).toBeCloseTo(v.scale, 12);
        expect(v.crystal.lattice.alpha).toBe(parent.lattice.alpha);
        expect(detectSpaceGroup(v.crystal).number, `${file} ${JSON.stringify(v.swaps)}`).toBe(parentGroup);
      }
    }
    expect(variants).toBeGreaterThan(100);
  });

  it('is deterministic in its seed, grows the cell for larger atoms and returns null when nothing can be swapped', () => {
    const halite = readCif(join(root, 'examples/NaCl-halite.cif'));
    const a = substituteElements(halite, new Rng('same'))!;
    const b = substituteElements(halite, new Rng('same'))!;
    expect(a.swaps).toEqual(b.swaps);
    expect(a.crystal.lattice).toEqual(b.crystal.lattice);
    // Na -> K or heavier alkali, Cl -> Br or I: only larger atoms, so the cell grows
    let grew = 0;
    for (let k = 0; k < 20; k++) {
      const v = substituteElements(halite, new Rng(`g${k}`), 1)!;
      expect(Object.keys(v.swaps).sort()).toEqual(['Cl', 'Na'].filter((e) => v.swaps[e]).sort());
      const larger = Object.entries(v.swaps).every(([from, to]) => ['Na', 'Cl'].includes(from) && !['Li', 'F'].includes(to));
      if (larger) {
        expect(v.scale).toBeGreaterThan(1);
        grew++;
      }
    }
    expect(grew).toBeGreaterThan(0);
    const silicon = readCif(join(root, 'examples/Si-diamond.cif'));
    const siOnlyOxygen = { ...silicon, sites: silicon.sites.map((s) => ({ ...s, element: 'O' })) };
    expect(substituteElements(siOnlyOxygen, new Rng('x'))).toBeNull();
  });
});
