// The structure library: published crystal structures with their provenance (id, mineral,
// formula), shared by training (real structures in the stream) and search-match. One compact
// file holds it: gzip-compressed JSON with the symmetry settings once and, per entry, the cell and
// the asymmetric unit; expanding an entry into a Crystal (every atom of the cell) is cheap.
//
// The shipped library, data/amcsd.json.gz, is the AMCSD (Downs & Hall-Wallace, Am. Mineral. 88,
// 247, 2003) as Debian's python3-xraylarch ships it, written by scripts/build-amcsd-library.ts.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Crystal, Lattice, Site, SymOp } from '../sim/crystal.ts';
import { DEFAULT_MERGE_TOL, expandBySymmetry, parseSymOp } from '../sim/spacegroup.ts';

/** A library that cannot be read, or a selection that leaves nothing. */
export class LibraryError extends Error {
  override name = 'LibraryError';
}

/** One symmetry setting: its H-M symbol as the source writes it, its number, its operations. */
export interface LibrarySetting {
  hm: string;
  /** International number; null when the symbol is not one we know (then entries carry theirs). */
  number: number | null;
  ops: string[];
}

/** One site of the asymmetric unit. */
export interface LibrarySite {
  label: string;
  element: string;
  charge: number | null;
  frac: [number, number, number];
  occupancy: number;
  /** Isotropic displacement U in A^2 (0 when unknown). */
  uiso: number;
}

export interface LibraryEntry {
  /** The source's id (AMCSD: seven digits, '0000003'). */
  id: string;
  /** Mineral name; '' for an unnamed (synthetic) compound. */
  mineral: string;
  formula: string;
  /** Index into the library's settings. */
  setting: number;
  /** International space-group number; null until resolved (see build-amcsd-library). */
  spaceGroup: number | null;
  /** a, b, c (angstrom), alpha, beta, gamma (degrees). */
  cell: number[];
  sites: LibrarySite[];
  /** What was repaired on reading (clamped occupancy, a trailing comma in the cell, ...). */
  warnings?: string[];
}

export interface Library {
  /** Where it came from, for logs and reports. */
  source: string;
  settings: LibrarySetting[];
  entries: LibraryEntry[];
}

const FORMAT = 'xrd-npcnn structure library';
const VERSION = 1;

/** Where the shipped AMCSD library lives (the package's data folder). */
export function defaultLibraryPath(): string {
  // src/library/library.ts and dist/library/library.js both sit two folders below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'amcsd.json.gz');
}

type CompactSite = [string, string, number | null, number, number, number, number, number];

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

/** The library as the bytes of its compact file. */
export function encodeLibrary(lib: Library): Uint8Array {
  const json = {
    format: FORMAT,
    version: VERSION,
    source: lib.source,
    settings: lib.settings,
    entries: lib.entries.map((e) => ({
      id: e.id,
      mineral: e.mineral,
      formula: e.formula,
      setting: e.setting,
      spaceGroup: e.spaceGroup,
      cell: e.cell.map((v) => round(v, 5)),
      sites: e.sites.map((s): CompactSite => [s.label, s.element, s.charge, round(s.frac[0], 6), round(s.frac[1], 6), round(s.frac[2], 6), round(s.occupancy, 4), round(s.uiso, 5)]),
      ...(e.warnings ? { warnings: e.warnings } : {}),
    })),
  };
  return gzipSync(JSON.stringify(json), { level: 9 });
}

/** A library from the bytes of its compact file. */
export function decodeLibrary(bytes: Uint8Array, name = '<library>'): Library {
  let json: { format?: string; version?: number; source?: string; settings?: LibrarySetting[]; entries?: (Omit<LibraryEntry, 'sites'> & { sites: CompactSite[] })[] };
  try {
    json = JSON.parse(gunzipSync(bytes).toString('utf8')) as typeof json;
  } catch (e) {
    throw new LibraryError(`${name} is not a structure library (gzip-compressed JSON): ${(e as Error).message}`);
  }
  if (json.format !== FORMAT || !Array.isArray(json.settings) || !Array.isArray(json.entries)) {
    throw new LibraryError(`${name} is not a structure library written by scripts/build-amcsd-library.ts`);
  }
  if (json.version !== VERSION) throw new LibraryError(`${name} is library format version ${json.version}; this version reads ${VERSION}`);
  return {
    source: json.source ?? name,
    settings: json.settings,
    entries: json.entries.map((e) => ({
      ...e,
      sites: e.sites.map(([label, element, charge, x, y, z, occupancy, uiso]) => ({ label, element, charge, frac: [x, y, z], occupancy, uiso })),
    })),
  };
}

/** Reads a library file (the shipped AMCSD library when no path is given). */
export function readLibrary(path = defaultLibraryPath()): Library {
  if (!existsSync(path)) {
    throw new LibraryError(
      path === defaultLibraryPath()
        ? `the AMCSD library ${path} is missing; rebuild it with 'bash scripts/fetch-amcsd.sh'`
        : `structure library ${path} does not exist`,
    );
  }
  return decodeLibrary(readFileSync(path), path);
}

/** Parsed operations per setting, made once per library. */
const opsCache = new WeakMap<LibrarySetting, SymOp[]>();

function settingOps(s: LibrarySetting): SymOp[] {
  let ops = opsCache.get(s);
  if (!ops) opsCache.set(s, (ops = s.ops.map(parseSymOp)));
  return ops;
}

/** What an entry is called: its mineral name, or its formula when it has none. */
export function entryLabel(e: LibraryEntry): string {
  return e.mineral || e.formula;
}

/** The name a crystal of the library gets: 'Galena (AMCSD 0000003)'. */
export function entryName(e: LibraryEntry): string {
  return `${entryLabel(e)} (AMCSD ${e.id})`;
}

/** An entry as a Crystal: every atom of the cell (symmetry applied), U_iso turned into B. */
export function entryCrystal(lib: Library, e: LibraryEntry): Crystal {
  const setting = lib.settings[e.setting];
  if (!setting) throw new LibraryError(`entry ${e.id} names setting ${e.setting}, which the library does not hold`);
  const [a, b, c, alpha, beta, gamma] = e.cell as [number, number, number, number, number, number];
  const lattice: Lattice = { a, b, c, alpha, beta, gamma };
  const asymmetric: Site[] = e.sites.map((s) => ({
    element: s.element,
    charge: s.charge,
    frac: [...s.frac],
    occupancy: s.occupancy,
    biso: 8 * Math.PI * Math.PI * s.uiso,
    label: s.label,
  }));
  return { name: entryName(e), lattice, sites: expandBySymmetry(asymmetric, settingOps(setting), DEFAULT_MERGE_TOL), spaceGroup: e.spaceGroup };
}
