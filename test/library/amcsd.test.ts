import initSqlJs from 'sql.js';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { closesIntoGroup, labelSpecies, parseCellValue, readAmcsdDatabase } from '../../src/library/amcsd-db.ts';
import { decodeLibrary, encodeLibrary, entryCrystal, readLibrary, defaultLibraryPath, type Library } from '../../src/library/library.ts';
import { parseSymOp, symmetryOperations } from '../../src/sim/spacegroup.ts';
import type { SymOp } from '../../src/sim/crystal.ts';

/** An operation written as AMCSD writes them ('1/2+x,-y,z'). */
function opText(op: SymOp): string {
  const frac = (t: number): string => {
    const w = ((t % 1) + 1) % 1;
    for (const d of [2, 3, 4, 6]) if (Math.abs(w * d - Math.round(w * d)) < 1e-9 && Math.round(w * d) > 0) return `${Math.round(w * d)}/${d}`;
    return '';
  };
  return [0, 1, 2]
    .map((row) => {
      let s = frac(op.translation[row]!);
      for (let j = 0; j < 3; j++) {
        const r = op.rotation[row * 3 + j]!;
        if (r !== 0) s += `${r > 0 ? (s ? '+' : '') : '-'}${'xyz'[j]}`;
      }
      return s;
    })
    .join(',');
}

/** int32 base64 column of values scaled by 4e6; '?' is 2. */
function column(values: (number | '?')[]): string {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeInt32LE(Math.round((v === '?' ? 2 : v) * 4e6), i * 4));
  return b.toString('base64');
}

/** A small AMCSD-layout database: halite, a hydrate with odd labels, repaired and refused records. */
async function fixture(): Promise<Uint8Array> {
  const SQL = await initSqlJs({ locateFile: () => createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm') });
  const db = new SQL.Database();
  db.run(`create table minerals (id integer primary key, name text);
    create table spacegroups (id integer primary key, hm_notation text, symmetry_xyz text, category text);
    create table cif_elements (cif_id text, element text);
    create table cif (id integer primary key, mineral_id integer, spacegroup_id integer, formula text, a text, b text, c text,
      alpha text, beta text, gamma text, atoms_sites text, atoms_x text, atoms_y text, atoms_z text, atoms_occupancy text,
      atoms_u_iso text, atoms_aniso_label text, atoms_aniso_u11 text, atoms_aniso_u22 text, atoms_aniso_u33 text);`);
  const fm3m = JSON.stringify(symmetryOperations(225).map(opText));
  db.run('insert into spacegroups values (1, ?, ?, null)', ['F m 3 m', fm3m]); // old notation: not a symbol we know
  db.run('insert into spacegroups values (2, ?, ?, null)', ['P 1 21/c 1', JSON.stringify(symmetryOperations(14).map(opText))]);
  db.run('insert into spacegroups values (3, ?, ?, null)', ['B 1 1 21/d', JSON.stringify(['x,y,z', '1/4+x,y,1/2+z', '-x,-y,-z'])]);
  for (const [id, name] of [[1, 'Halite'], [2, 'Hydrate'], [3, 'Repaired'], [4, 'Unknown'], [5, 'Broken'], [6, 'Silver']] as const) db.run('insert into minerals values (?, ?)', [id, name]);
  const add = (id: number, mineral: number, sg: number, cell: string[], labels: string[], xyz: (number | '?')[][], occ: string, u: string, elements: string[]): void => {
    db.run('insert into cif values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      id, mineral, sg, elements.join(' '), ...cell, JSON.stringify(labels),
      column(xyz.map((p) => p[0]!)), column(xyz.map((p) => p[1]!)), column(xyz.map((p) => p[2]!)), occ, u, '"<missing>"', '0', '0', '0',
    ]);
    for (const e of elements) db.run('insert into cif_elements values (?, ?)', [String(id).padStart(7, '0'), e]);
  };
  add(3, 1, 1, ['5.64(1)', '5.64', '5.64', '90', '90', '90'], ['Na', 'Cl'], [[0, 0, 0], [0.5, 0.5, 0.5]], '0', column([0.01, 0.012]), ['Na', 'Cl']);
  // 'Os' in a structure without osmium is an oxygen site; 'Watd' is water oxygen; 'D1' deuterium.
  add(4, 2, 2, ['7.1', '8.2', '9.3', '90', '101.5', '90'], ['Si1', 'Os', 'Watd', 'D1'], [[0.1, 0.2, 0.3], [0.3, 0.1, 0.2], [0.6, 0.7, 0.1], [0.65, 0.75, 0.15]], '0', '0', ['Si', 'O', 'H']);
  // a trailing comma in a, occupancy above 1 and a negative U_iso are repaired with a warning
  add(5, 3, 2, ['6.4235,', '5.5', '7.7', '90', '95', '90'], ['Fe', 'O'], [[0.1, 0.1, 0.1], [0.3, 0.2, 0.1]], column([1.05, 1]), column([-0.002, 0.01]), ['Fe', 'O']);
  add(6, 4, 2, ['5', '6', '7', '90', '91', '90'], ['Ca', 'O'], [[0.1, '?', 0.1], [0.2, 0.2, 0.2]], '0', '0', ['Ca', 'O']);
  add(7, 5, 3, ['5', '6', '7', '90', '90', '91'], ['Fe', 'As'], [[0.1, 0.1, 0.1], [0.2, 0.2, 0.2]], '0', '0', ['Fe', 'As']);
  add(8, 6, 1, ['4.09', '4.09', '4.09', '90', '90', '90'], ['Fe'], [[0, 0, 0]], '0', '0', ['Ag', 'Cu']);
  const bytes = db.export();
  db.close();
  return bytes;
}

describe('AMCSD reader (SQLite fixture in the AMCSD layout)', () => {
  it('reads structures, resolves old-notation symbols from their operations, repairs and refuses with reasons', async () => {
    const r = await readAmcsdDatabase(await fixture());
    expect(r.entries.map((e) => e.id)).toEqual(['0000003', '0000004', '0000005']);
    const [halite, hydrate, repaired] = r.entries as [NonNullable<(typeof r.entries)[0]>, NonNullable<(typeof r.entries)[0]>, NonNullable<(typeof r.entries)[0]>];
    expect(halite.mineral).toBe('Halite');
    expect(halite.spaceGroup).toBe(225); // 'F m 3 m' is unknown as a symbol: found from the 192 operations
    expect(halite.cell).toEqual([5.64, 5.64, 5.64, 90, 90, 90]);
    expect(halite.sites[1]!.uiso).toBeCloseTo(0.012, 6);
    expect(hydrate.spaceGroup).toBe(14);
    expect(hydrate.sites.map((s) => s.element)).toEqual(['Si', 'O', 'O', 'H']);
    expect(repaired.cell[0]).toBeCloseTo(6.4235, 6);
    expect(repaired.sites[0]!.occupancy).toBe(1);
    expect(repaired.sites[0]!.uiso).toBe(0);
    expect(repaired.warnings).toHaveLength(3);
    const reasons = Object.fromEntries(r.refused.map((x) => [x.id, x.reason]));
    expect(Object.keys(reasons)).toEqual(['0000006', '0000007', '0000008']);
    expect(reasons['0000006']).toMatch(/unknown coordinate/);
    expect(reasons['0000007']).toMatch(/do not close into a group/);
    expect(reasons['0000008']).toMatch(/names no element of the record \(Ag Cu\)/);

    // The compact file gives the same entries back, and an entry expands into its whole cell.
    const lib: Library = { source: 'fixture', settings: r.settings, entries: r.entries };
    const back = decodeLibrary(encodeLibrary(lib));
    expect(back.entries).toEqual(lib.entries);
    const nacl = entryCrystal(back, back.entries[0]!);
    expect(nacl.sites).toHaveLength(8);
    expect(nacl.sites.filter((s) => s.element === 'Na')).toHaveLength(4);
    expect(nacl.sites[4]!.biso).toBeCloseTo(8 * Math.PI ** 2 * 0.012, 5);
    expect(nacl.spaceGroup).toBe(225);
    expect(nacl.name).toBe('Halite (AMCSD 0000003)');
  });

  it('labels, cell values and group closure', () => {
    const els = new Set(['O', 'H', 'Fe', 'Al']);
    expect(labelSpecies('Os', els)).toEqual({ element: 'O', charge: null });
    expect(labelSpecies('Os', new Set(['Os']))).toEqual({ element: 'Os', charge: null });
    expect(labelSpecies('Fe3+M', els)).toEqual({ element: 'Fe', charge: 3 });
    expect(labelSpecies('AlT', els)).toEqual({ element: 'Al', charge: null });
    expect(labelSpecies('Wat', els)).toEqual({ element: 'O', charge: null });
    expect(labelSpecies('W1', els)).toBeNull(); // tungsten is not in the record
    const warnings: string[] = [];
    expect(parseCellValue('3,2518', warnings, 'a')).toBe(3.2518);
    expect(parseCellValue('10.5(3)', warnings, 'a')).toBe(10.5);
    expect(parseCellValue('?', warnings, 'a')).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(closesIntoGroup(symmetryOperations(62))).toBe(true);
    expect(closesIntoGroup(['x,y,z', '1/4+x,y,1/2+z'].map(parseSymOp))).toBe(false);
  });
});

describe.skipIf(!existsSync(defaultLibraryPath()))('the shipped AMCSD library', () => {
  it('holds the AMCSD mineral structures with their provenance', () => {
    const lib = readLibrary();
    expect(lib.entries.length).toBeGreaterThan(9000);
    expect(new Set(lib.entries.map((e) => e.mineral)).size).toBeGreaterThan(1600);
    const quartz = lib.entries.filter((e) => e.mineral === 'Quartz');
    expect(quartz.length).toBeGreaterThan(5);
    expect(new Set(quartz.map((e) => e.spaceGroup))).toContain(154);
    const galena = lib.entries.find((e) => e.id === '0000003')!;
    expect(galena.mineral).toBe('Galena');
    expect(galena.spaceGroup).toBe(225);
    expect(entryCrystal(lib, galena).sites).toHaveLength(8);
  });
});
