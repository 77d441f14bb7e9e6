// The American Mineralogist Crystal Structure Database (AMCSD; Downs & Hall-Wallace, Am. Mineral.
// 88, 247, 2003) as Debian's python3-xraylarch ships it (larch/xrd/amscif_trim.db, SQLite), read
// with sql.js into library entries. Only `scripts/build-amcsd-library.ts` needs this: the library
// that training and `xrd identify` use is the compact file it writes (library.ts).
//
// Layout of the database, as found: table `cif` holds the cell as text with uncertainties in
// brackets, `atoms_sites` a JSON list of labels, `atoms_x/y/z/occupancy/u_iso` base64 int32
// arrays scaled by 4e6 (the value 2 stands for '?', 3 for '.', the text '0' for an absent column),
// `spacegroup_id` a row of `spacegroups` (H-M symbol + JSON list of operations), `mineral_id` a
// row of `minerals`; `cif_elements` lists the elements of each record.
import initSqlJs from 'sql.js';
import { createRequire } from 'node:module';
import { detectSpaceGroup, parseSymOp, spaceGroupFromSymbol, UnknownSpaceGroupError } from '../sim/spacegroup.ts';
import type { SymOp } from '../sim/crystal.ts';
import { ELEMENT_SYMBOLS } from '../sim/cif.ts';
import { entryCrystal, type LibraryEntry, type LibrarySite, type LibrarySetting } from './library.ts';

export interface AmcsdReadResult {
  settings: LibrarySetting[];
  entries: LibraryEntry[];
  /** Records left out, with the reason (a listed refusal, not an error). */
  refused: { id: string; mineral: string; reason: string }[];
}

const SCALE = 4e6;

/** Decoded float column: null where absent ('0'); NaN where the source says '?' or '.'. */
export function decodeColumn(text: string | null, n: number): (number | null)[] | null {
  if (text === null || text === '0' || text === '') return null;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== n * 4) throw new Error(`a column holds ${bytes.length / 4} values for ${n} sites`);
  const out: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    const v = bytes.readInt32LE(i * 4) / SCALE;
    out.push(Math.abs(v - 2) < 1e-5 || Math.abs(v - 3) < 1e-5 ? null : v);
  }
  return out;
}

/**
 * A cell length or angle from AMCSD text: '5.93', '10.123(4)'; a trailing comma ('6.4235,') or a
 * decimal comma ('3,2518') is read with a warning. Null when it is not a positive number.
 */
export function parseCellValue(text: string, warnings: string[], what: string): number | null {
  let t = text.trim();
  const paren = t.indexOf('(');
  if (paren >= 0) t = t.slice(0, paren);
  if (/^[\d.]+,$/.test(t)) {
    warnings.push(`${what} '${text}' read as ${t.slice(0, -1)}`);
    t = t.slice(0, -1);
  } else if (/^\d+,\d+$/.test(t)) {
    warnings.push(`${what} '${text}' read with a decimal comma`);
    t = t.replace(',', '.');
  }
  const v = Number(t);
  return t !== '' && Number.isFinite(v) && v > 0 ? v : null;
}

/**
 * The element of an AMCSD site label, given the elements the record lists: the longest leading
 * element symbol that is one of them ('AlT' -> Al, 'Os' in a structure without osmium -> O,
 * 'Fe3+M' -> Fe), 'Wat*' -> O (water oxygen), 'D' -> H. Null when none fits. The formal charge
 * is kept when the label writes one right after the element ('Fe3+M').
 */
export function labelSpecies(label: string, elements: ReadonlySet<string>): { element: string; charge: number | null } | null {
  const t = label.trim();
  if (/^Wat/i.test(t)) return { element: 'O', charge: null };
  const charged = /^([A-Z][a-z]?)(\d)([+-])/.exec(t);
  const candidates: string[] = [];
  const two = /^[A-Z][a-z]/.exec(t)?.[0];
  if (two && ELEMENT_SYMBOLS.has(two)) candidates.push(two);
  const one = /^[A-Z]/.exec(t)?.[0];
  if (one && (ELEMENT_SYMBOLS.has(one) || one === 'D')) candidates.push(one);
  for (const c of candidates) {
    const element = c === 'D' ? 'H' : c;
    if (!elements.has(element) && !(c === 'D' && elements.has('D'))) continue;
    const charge = charged && charged[1] === c ? (charged[3] === '-' ? -1 : 1) * Number(charged[2]) : null;
    return { element, charge };
  }
  return null;
}

/** Whether the operations form a group modulo lattice translations. */
export function closesIntoGroup(ops: readonly SymOp[]): boolean {
  const key = (o: SymOp): string => [...o.rotation, ...o.translation.map((t) => ((Math.round(t * 24) % 24) + 24) % 24)].join(',');
  const keys = new Set(ops.map(key));
  if (keys.size !== ops.length) return false;
  for (const a of ops) {
    for (const b of ops) {
      // (a b)(x) = Ra (Rb x + tb) + ta
      const r = a.rotation;
      const rot = [0, 0, 0, 0, 0, 0, 0, 0, 0] as SymOp['rotation'];
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) rot[i * 3 + j] += r[i * 3 + k]! * b.rotation[k * 3 + j]!;
      const t: SymOp['translation'] = [0, 0, 0];
      for (let i = 0; i < 3; i++) t[i] = r[i * 3]! * b.translation[0] + r[i * 3 + 1]! * b.translation[1] + r[i * 3 + 2]! * b.translation[2] + a.translation[i]!;
      if (!keys.has(key({ rotation: rot, translation: t }))) return false;
    }
  }
  return true;
}

/**
 * The group of a setting whose symbol we do not know ('F m 3 m' in the old notation, 'B 1 21/d 1',
 * 'R -3 %var1%'), from its operations alone: the orbit of one general position in the entry's
 * cell, analysed by moyo. (The atoms could show a higher pseudo-symmetry or, with mixed sites, a
 * lower one; the operations are what the authors published.) Cached in the setting.
 */
function groupOfOperations(settings: LibrarySetting[], index: number, cell: number[]): number {
  const s = settings[index]!;
  if (s.number !== null) return s.number;
  const probe: LibraryEntry = {
    id: 'probe',
    mineral: 'probe',
    formula: '',
    setting: index,
    spaceGroup: null,
    cell,
    sites: [{ label: 'X', element: 'C', charge: null, frac: [0.1234, 0.2719, 0.3861], occupancy: 1, uiso: 0 }],
  };
  s.number = detectSpaceGroup(entryCrystal({ source: 'probe', settings, entries: [] }, probe), 1e-4).number;
  return s.number;
}

function wasmPath(): string {
  return createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm');
}

type Row = Record<string, string | number | null>;

function rows(db: { exec(sql: string): { columns: string[]; values: unknown[][] }[] }, sql: string): Row[] {
  const res = db.exec(sql)[0];
  if (!res) return [];
  return res.values.map((v) => Object.fromEntries(res.columns.map((c, i) => [c, v[i] as string | number | null])));
}

/** Every record of an AMCSD SQLite file (bytes) as a library entry, or a listed refusal. */
export async function readAmcsdDatabase(bytes: Uint8Array): Promise<AmcsdReadResult> {
  const SQL = await initSqlJs({ locateFile: () => wasmPath() });
  const db = new SQL.Database(bytes);
  try {
    const minerals = new Map(rows(db, 'select id, name from minerals').map((r) => [Number(r.id), String(r.name)]));
    const elementsOf = new Map<string, Set<string>>();
    for (const r of rows(db, 'select cif_id, element from cif_elements')) {
      const id = String(Number(r.cif_id));
      let s = elementsOf.get(id);
      if (!s) elementsOf.set(id, (s = new Set()));
      s.add(String(r.element).trim());
    }
    const settings: LibrarySetting[] = [];
    const settingIndex = new Map<number, { index: number; problem: string | null }>();
    for (const r of rows(db, 'select id, hm_notation, symmetry_xyz from spacegroups order by id')) {
      const hm = String(r.hm_notation).trim();
      let ops: string[] = [];
      let problem: string | null = null;
      let number: number | null = null;
      try {
        ops = (JSON.parse(String(r.symmetry_xyz)) as string[]).map((s) => s.trim());
        const parsed = ops.map(parseSymOp);
        if (!closesIntoGroup(parsed)) problem = `the ${ops.length} symmetry operations of '${hm}' do not close into a group`;
      } catch (e) {
        problem = `symmetry operations of '${hm}' unreadable: ${(e as Error).message}`;
      }
      try {
        number = spaceGroupFromSymbol(hm);
      } catch (e) {
        if (!(e instanceof UnknownSpaceGroupError)) throw e;
      }
      settingIndex.set(Number(r.id), { index: settings.length, problem });
      settings.push({ hm, number, ops });
    }
    const entries: LibraryEntry[] = [];
    const refused: AmcsdReadResult['refused'] = [];
    const records = rows(
      db,
      'select id, mineral_id, spacegroup_id, formula, a, b, c, alpha, beta, gamma, atoms_sites, atoms_x, atoms_y, atoms_z, atoms_occupancy, atoms_u_iso, atoms_aniso_label, atoms_aniso_u11, atoms_aniso_u22, atoms_aniso_u33 from cif order by id',
    );
    for (const r of records) {
      const id = String(Number(r.id)).padStart(7, '0');
      // 41 % of the records (synthetic compounds) have no mineral name: '<missing>' in the source.
      const named = minerals.get(Number(r.mineral_id));
      const mineral = named && named !== '<missing>' ? named : '';
      const refuse = (reason: string): void => {
        refused.push({ id, mineral, reason });
      };
      const warnings: string[] = [];
      const setting = settingIndex.get(Number(r.spacegroup_id));
      if (!setting) {
        refuse(`space-group setting ${r.spacegroup_id} is not in the database`);
        continue;
      }
      if (setting.problem) {
        refuse(setting.problem);
        continue;
      }
      const cellNames = ['a', 'b', 'c', 'alpha', 'beta', 'gamma'] as const;
      const cell = cellNames.map((k) => parseCellValue(String(r[k] ?? ''), warnings, k));
      const bad = cell.findIndex((v) => v === null);
      if (bad >= 0) {
        refuse(`cell ${cellNames[bad]} '${r[cellNames[bad]]}' is not a positive number`);
        continue;
      }
      let labels: string[];
      try {
        labels = JSON.parse(String(r.atoms_sites)) as string[];
      } catch {
        refuse('the site list is not readable');
        continue;
      }
      const n = labels.length;
      let cols: Record<string, (number | null)[] | null>;
      try {
        cols = Object.fromEntries(
          ['atoms_x', 'atoms_y', 'atoms_z', 'atoms_occupancy', 'atoms_u_iso'].map((k) => [k, decodeColumn(r[k] as string | null, n)]),
        );
      } catch (e) {
        refuse((e as Error).message);
        continue;
      }
      if (!cols.atoms_x || !cols.atoms_y || !cols.atoms_z) {
        refuse('no atom coordinates');
        continue;
      }
      // U_eq from the anisotropic table where U_iso is absent (mean of the diagonal: exact for
      // orthogonal axes, close otherwise).
      const anisoU = new Map<string, number>();
      try {
        const anisoLabels = JSON.parse(String(r.atoms_aniso_label ?? '[]')) as string[] | string;
        if (Array.isArray(anisoLabels) && anisoLabels.length) {
          const diag = ['atoms_aniso_u11', 'atoms_aniso_u22', 'atoms_aniso_u33'].map((k) => decodeColumn(r[k] as string | null, anisoLabels.length));
          if (diag.every((d) => d)) {
            anisoLabels.forEach((l, i) => {
              const u = diag.map((d) => d![i]);
              if (u.every((v) => v !== null)) anisoU.set(l, (u[0]! + u[1]! + u[2]!) / 3);
            });
          }
        }
      } catch {
        // a broken anisotropic table only loses displacement factors
      }
      const elements = elementsOf.get(String(Number(r.id))) ?? new Set<string>();
      const sites: LibrarySite[] = [];
      let problem: string | null = null;
      for (let i = 0; i < n && !problem; i++) {
        const label = labels[i]!;
        const species = labelSpecies(label, elements);
        if (!species) {
          problem = `site '${label}' names no element of the record (${[...elements].join(' ') || 'none listed'})`;
          break;
        }
        const x = cols.atoms_x[i]!, y = cols.atoms_y[i]!, z = cols.atoms_z[i]!;
        if (x === null || y === null || z === null) {
          problem = `site '${label}' has an unknown coordinate ('?')`;
          break;
        }
        let occupancy = cols.atoms_occupancy?.[i] ?? 1;
        if (!(occupancy > 0)) {
          problem = `site '${label}' has occupancy ${occupancy}`;
          break;
        }
        if (occupancy > 1) {
          if (occupancy > 1.1) {
            problem = `site '${label}' has occupancy ${occupancy}`;
            break;
          }
          warnings.push(`occupancy ${occupancy} of '${label}' clamped to 1`);
          occupancy = 1;
        }
        let uiso = cols.atoms_u_iso?.[i] ?? anisoU.get(label) ?? 0;
        if (uiso < 0) {
          warnings.push(`U_iso ${uiso} of '${label}' clamped to 0`);
          uiso = 0;
        }
        sites.push({ label, element: species.element, charge: species.charge, frac: [x, y, z], occupancy, uiso });
      }
      if (problem) {
        refuse(problem);
        continue;
      }
      const s = settings[setting.index]!;
      entries.push({
        id,
        mineral,
        formula: String(r.formula ?? '').trim(),
        setting: setting.index,
        spaceGroup: s.number ?? groupOfOperations(settings, setting.index, cell as number[]),
        cell: cell as number[],
        sites,
        ...(warnings.length ? { warnings } : {}),
      });
    }
    return { settings, entries, refused };
  } finally {
    db.close();
  }
}
