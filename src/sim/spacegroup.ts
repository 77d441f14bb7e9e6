// Space-group tables and symmetry tools, backed by @spglib/moyo-wasm (ITA data + symmetry search).
// The wasm module is loaded synchronously on first use, so importing this file costs nothing.

import * as moyo from '@spglib/moyo-wasm';
import type { Crystal, CrystalSystem, Lattice, Mat3, Site, SymOp, Vec3 } from './crystal.ts';
import { latticeMatrix, wrap01 } from './crystal.ts';
import { readMoyoWasm } from './moyo-file.ts';

let moyoReady = false;

/**
 * Loads the space-group tables from the bytes of moyo_wasm_bg.wasm. Node does this itself on
 * first use (from node_modules); a browser fetches the file and calls this first.
 */
export function initSpaceGroups(wasm: Uint8Array | ArrayBuffer): void {
  moyo.initSync({ module: wasm });
  moyoReady = true;
}

function ensureMoyo(): typeof moyo {
  if (!moyoReady) initSpaceGroups(readMoyoWasm());
  return moyo;
}

/** A space-group symbol that matches no setting in the ITA tables. */
export class UnknownSpaceGroupError extends Error {
  override name = 'UnknownSpaceGroupError';
}

/** A symmetry-operation or coordinate triplet such as "x-y+1/2,-z,x" that cannot be read. */
export class SymOpParseError extends Error {
  override name = 'SymOpParseError';
}

/** moyo could not analyse a structure (e.g. atoms closer than the tolerance). */
export class SymmetryDetectionError extends Error {
  override name = 'SymmetryDetectionError';
}

export type Centering = 'P' | 'A' | 'B' | 'C' | 'I' | 'R' | 'F';

export interface SpaceGroupInfo {
  number: number;
  /** Hall number (1..530) of the ITA standard setting used by moyo. */
  hallNumber: number;
  /** e.g. 'F m -3 m', 'P 2_1/c' (moyo spelling: spaces, '_' before screw subscripts). */
  hmShort: string;
  /** e.g. 'F 4/m -3 2/m', 'P 1 2_1/c 1'. */
  hmFull: string;
  crystalSystem: CrystalSystem;
  centering: Centering;
}

function checkNumber(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 230) {
    throw new RangeError(`space group must be an integer 1..230, got ${n}`);
  }
}

const infoCache = new Map<number, SpaceGroupInfo>();

/** Standard-setting description of space group n (1..230). */
export function spaceGroupInfo(n: number): SpaceGroupInfo {
  checkNumber(n);
  let info = infoCache.get(n);
  if (!info) {
    const m = ensureMoyo();
    const t = m.space_group_type(n);
    const hall = m.hall_symbol_entry(t.hall_number);
    info = {
      number: n,
      hallNumber: t.hall_number,
      hmShort: t.hm_short,
      hmFull: t.hm_full,
      crystalSystem: t.crystal_system.toLowerCase() as CrystalSystem,
      // For the standard setting the centering letter is the first letter of the H-M symbol
      // (R groups in hexagonal axes report 'R').
      centering: hall.centering,
    };
    infoCache.set(n, info);
  }
  return info;
}

// moyo serialises rotations column-major; our Mat3 is row-major.
function toSymOps(ops: moyo.MoyoOperation[]): SymOp[] {
  return ops.map(({ rotation: r }, i) => ({
    rotation: [r[0], r[3], r[6], r[1], r[4], r[7], r[2], r[5], r[8]] as Mat3,
    translation: [ops[i].translation[0], ops[i].translation[1], ops[i].translation[2]],
  }));
}

const opsCache = new Map<number, SymOp[]>();

/**
 * Operations of a setting given by its Hall number (1..530), in its conventional cell
 * (centring translations included). Cached; treat the result as read-only.
 */
export function symmetryOperationsForHall(hallNumber: number): SymOp[] {
  if (!Number.isInteger(hallNumber) || hallNumber < 1 || hallNumber > 530) {
    throw new RangeError(`Hall number must be an integer 1..530, got ${hallNumber}`);
  }
  let ops = opsCache.get(hallNumber);
  if (!ops) {
    const m = ensureMoyo();
    const number = m.hall_symbol_entry(hallNumber).number;
    ops = toSymOps(m.operations_from_number(number, { type: 'HallNumber', value: hallNumber }, false));
    opsCache.set(hallNumber, ops);
  }
  return ops;
}

/** Conventional-cell operations of the standard setting of space group n (225 -> 192 ops). */
export function symmetryOperations(n: number): SymOp[] {
  return symmetryOperationsForHall(spaceGroupInfo(n).hallNumber);
}

export interface WyckoffPosition {
  /** Multiplicity in the conventional cell. */
  multiplicity: number;
  letter: string;
  siteSymmetry: string;
  /** Representative coordinates, e.g. 'x,x,z', '1/2,y,y'; see wyckoffCoordinate. */
  coordinates: string;
}

/** Wyckoff positions of the standard setting, general position first. */
export function wyckoffPositions(n: number): WyckoffPosition[] {
  const m = ensureMoyo();
  return m.wyckoff_positions(spaceGroupInfo(n).hallNumber).map((w) => ({
    multiplicity: w.multiplicity,
    letter: w.letter,
    siteSymmetry: w.site_symmetry,
    coordinates: w.coordinates,
  }));
}

/**
 * Fractional position of a Wyckoff representative ('x,-x+1/2,1/4', '2x,x,0') for free
 * parameters (x, y, z). Parameters that the representative does not use are ignored.
 * The result is not wrapped into [0, 1).
 */
export function wyckoffCoordinate(coordinates: string, params: Vec3): Vec3 {
  return applyOp(parseSymOp(coordinates), params);
}

/** x' = R x + t (no wrapping). */
export function applyOp(op: SymOp, f: Vec3): Vec3 {
  const r = op.rotation;
  return [
    r[0] * f[0] + r[1] * f[1] + r[2] * f[2] + op.translation[0],
    r[3] * f[0] + r[4] * f[1] + r[5] * f[2] + op.translation[1],
    r[6] * f[0] + r[7] * f[1] + r[8] * f[2] + op.translation[2],
  ];
}

// One term of an affine expression: optional sign, optional number (integer, decimal or
// fraction), optional '*', optional variable. A term has a number or a variable (or both).
const TERM = /^([+-]?)(\d+(?:\.\d*)?(?:\/\d+(?:\.\d*)?)?|\.\d+)?\*?([xyz])?/;

function parseNumberToken(tok: string): number {
  const slash = tok.indexOf('/');
  if (slash < 0) return Number(tok);
  return Number(tok.slice(0, slash)) / Number(tok.slice(slash + 1));
}

/**
 * Parse a symmetry-operation triplet as written in CIF files: 'x,y,z', 'x-y+1/2, -z, 0.5+x',
 * '-x+1/2,y,-z', also '2x' / '2*x'. Case-insensitive; optional surrounding quotes are the
 * caller's business. Throws SymOpParseError naming the offending part.
 */
export function parseSymOp(text: string): SymOp {
  const parts = text.toLowerCase().replace(/\s+/g, '').split(',');
  if (parts.length !== 3) {
    throw new SymOpParseError(
      `symmetry operation '${text}' must have three comma-separated parts (like 'x,-y,z+1/2'), found ${parts.length}`,
    );
  }
  const rotation: Mat3 = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  const translation: Vec3 = [0, 0, 0];
  parts.forEach((part, row) => {
    if (part.length === 0) throw new SymOpParseError(`symmetry operation '${text}' has an empty part`);
    let rest = part;
    while (rest.length > 0) {
      const m = TERM.exec(rest);
      // A term needs a number or a variable; a bare sign or an unknown character is an error.
      if (!m || m[0].length === 0 || (m[2] === undefined && m[3] === undefined)) {
        throw new SymOpParseError(`cannot read '${rest}' in symmetry operation '${text}' (expected terms like x, -y, +1/2, 2x)`);
      }
      const sign = m[1] === '-' ? -1 : 1;
      const value = m[2] === undefined ? 1 : parseNumberToken(m[2]);
      if (!Number.isFinite(value)) {
        throw new SymOpParseError(`bad number '${m[2]}' in symmetry operation '${text}'`);
      }
      if (m[3] === undefined) {
        translation[row] += sign * value;
      } else {
        rotation[row * 3 + 'xyz'.indexOf(m[3])] += sign * value;
      }
      rest = rest.slice(m[0].length);
      if (rest.length > 0 && rest[0] !== '+' && rest[0] !== '-') {
        throw new SymOpParseError(`cannot read '${rest}' in symmetry operation '${text}' (terms must be joined by + or -)`);
      }
    }
  });
  return { rotation, translation };
}

// ---------------------------------------------------------------------------------------------
// Symbol lookup

interface SymbolEntry {
  number: number;
  hallNumber: number;
}

let symbolTable: Map<string, SymbolEntry[]> | null = null;

/** Canonical key: no spaces or underscores; case kept (glide letters are lower case). */
function symbolKey(s: string): string {
  return s.replace(/[\s_]/g, '');
}

function buildSymbolTable(): Map<string, SymbolEntry[]> {
  const m = ensureMoyo();
  const table = new Map<string, SymbolEntry[]>();
  const add = (symbol: string, e: SymbolEntry): void => {
    const k = symbolKey(symbol);
    const list = table.get(k) ?? [];
    if (!list.some((x) => x.hallNumber === e.hallNumber)) list.push(e);
    table.set(k, list);
  };
  for (let h = 1; h <= 530; h++) {
    const e = m.hall_symbol_entry(h);
    const entry = { number: e.number, hallNumber: h };
    add(e.hm_short, entry);
    add(e.hm_full, entry);
    // Monoclinic full symbols 'P 1 2_1/n 1' are commonly written short: 'P 2_1/n'.
    const tok = e.hm_full.split(' ');
    if (tok.length === 4) {
      const axes = tok.slice(1).filter((t) => t !== '1');
      if (axes.length === 1) add(`${tok[0]} ${axes[0]}`, entry);
    }
  }
  return table;
}

/**
 * Number and Hall number of an H-M symbol: 'Fm-3m', 'F m -3 m', 'P 21/c', 'P2_1/c', 'P 21/n',
 * 'Fd-3m:1' (origin choice), 'R-3m:R' (rhombohedral axes). Spaces and underscores are ignored.
 * Without a setting suffix the standard setting of the number is preferred.
 */
export function spaceGroupSettingFromSymbol(symbol: string): SymbolEntry {
  symbolTable ??= buildSymbolTable();
  let s = symbol.trim().replace(/^['"]|['"]$/g, '');
  let suffix: string | null = null;
  const colon = /:\s*([A-Za-z0-9-]+)\s*$/.exec(s);
  if (colon) {
    suffix = colon[1];
    s = s.slice(0, colon.index);
  }
  let key = symbolKey(s);
  let entries = symbolTable.get(key);
  if (!entries) {
    // Case-insensitive fallback ('fm-3m', 'P21/C'); the table has no case-only collisions.
    const lower = key.toLowerCase();
    for (const [k, v] of symbolTable) {
      if (k.toLowerCase() === lower) {
        entries = v;
        key = k;
        break;
      }
    }
  }
  if (!entries) {
    throw new UnknownSpaceGroupError(
      `unknown space-group symbol '${symbol}': give a Hermann-Mauguin symbol such as 'Fm-3m' or 'P 21/c', or the number 1..230`,
    );
  }
  const m = ensureMoyo();
  if (suffix !== null) {
    const want = suffix.toUpperCase();
    const hit = entries.find((e) => m.hall_symbol_entry(e.hallNumber).setting.toUpperCase() === want);
    if (hit) return hit;
    throw new UnknownSpaceGroupError(
      `space-group symbol '${symbol}': setting ':${suffix}' does not exist for this group (settings: ${entries
        .map((e) => m.hall_symbol_entry(e.hallNumber).setting || '(default)')
        .join(', ')})`,
    );
  }
  const standard = spaceGroupInfo(entries[0].number).hallNumber;
  return entries.find((e) => e.hallNumber === standard) ?? entries[0];
}

/** International number (1..230) of an H-M symbol; throws UnknownSpaceGroupError. */
export function spaceGroupFromSymbol(symbol: string): number {
  return spaceGroupSettingFromSymbol(symbol).number;
}

// ---------------------------------------------------------------------------------------------
// Expansion and detection

/**
 * Periodic distance between two fractional positions, as the largest per-axis separation to the
 * nearest image (fractional units).
 */
export function periodicFracDistance(a: Vec3, b: Vec3): number {
  let d = 0;
  for (let i = 0; i < 3; i++) {
    const x = a[i] - b[i];
    d = Math.max(d, Math.abs(x - Math.round(x)));
  }
  return d;
}

/** Default merge tolerance of expandBySymmetry, fractional units (0.01 A in a 10 A cell). */
export const DEFAULT_MERGE_TOL = 1e-3;

/**
 * Apply every operation to every asymmetric site, wrap into [0, 1) and keep one copy of each
 * atom. Two images are the same atom when they have the same element and charge and lie within
 * `tol` of each other on every axis, in FRACTIONAL units, nearest periodic image (so a CIF that
 * lists the whole cell and all operations also comes out right). Sites of different elements on
 * one position (mixed occupancy) are all kept. The first image of a site keeps its coordinates.
 */
export function expandBySymmetry(asymmetric: Site[], ops: SymOp[], tol: number = DEFAULT_MERGE_TOL): Site[] {
  if (!(tol > 0 && tol < 0.5)) throw new RangeError(`merge tolerance must be in (0, 0.5), got ${tol}`);
  // Spatial hash with cells at least as large as tol: a match lies in a neighbouring cell.
  const nBins = Math.max(1, Math.min(1000, Math.floor(1 / tol / 2)));
  const grid = new Map<number, Site[]>();
  const binOf = (x: number): number => Math.min(nBins - 1, Math.floor(x * nBins));
  const keyOf = (i: number, j: number, k: number): number =>
    (((i + nBins) % nBins) * nBins + ((j + nBins) % nBins)) * nBins + ((k + nBins) % nBins);
  const out: Site[] = [];
  for (const site of asymmetric) {
    for (const op of ops) {
      const p = applyOp(op, site.frac);
      const f: Vec3 = [wrap01(p[0]), wrap01(p[1]), wrap01(p[2])];
      const bi = binOf(f[0]);
      const bj = binOf(f[1]);
      const bk = binOf(f[2]);
      let duplicate = false;
      search: for (let di = -1; di <= 1; di++) {
        for (let dj = -1; dj <= 1; dj++) {
          for (let dk = -1; dk <= 1; dk++) {
            const cell = grid.get(keyOf(bi + di, bj + dj, bk + dk));
            if (!cell) continue;
            for (const q of cell) {
              if (q.element === site.element && q.charge === site.charge && periodicFracDistance(q.frac, f) < tol) {
                duplicate = true;
                break search;
              }
            }
          }
        }
      }
      if (duplicate) continue;
      const copy: Site = { ...site, frac: f };
      out.push(copy);
      const k = keyOf(bi, bj, bk);
      const cell = grid.get(k);
      if (cell) cell.push(copy);
      else grid.set(k, [copy]);
    }
  }
  return out;
}

export interface DetectedSpaceGroup {
  number: number;
  hallNumber: number;
  /** H-M symbol as reported by moyo. */
  hmSymbol: string;
}

/** Where a crystal's space group came from: stated in its file, detected (P1 files), or unknown. */
export type SpaceGroupSource = 'file' | 'detected' | 'unknown';

/**
 * The space group a crystal states, or else the one detected from its atoms (files in P1 or
 * stating none); null with the reason when detection fails.
 */
export function resolveSpaceGroup(crystal: Crystal): { spaceGroup: number | null; source: SpaceGroupSource; problem?: string } {
  if (crystal.spaceGroup !== null) return { spaceGroup: crystal.spaceGroup, source: 'file' };
  try {
    return { spaceGroup: detectSpaceGroup(crystal).number, source: 'detected' };
  } catch (e) {
    return { spaceGroup: null, source: 'unknown', problem: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Space group of a crystal whose sites list the whole cell, found by moyo's analyze_cell.
 * `symprec` is moyo's distance tolerance in angstrom. Sites on one position (within 1e-4
 * fractional) form one point whose species is its set of (element, occupancy) pairs, so
 * mixed-occupancy sites are told apart by composition; charges are ignored.
 */
export function detectSpaceGroup(crystal: Crystal, symprec = 1e-3): DetectedSpaceGroup {
  if (!(symprec > 0)) throw new RangeError(`symprec must be a positive distance in angstrom, got ${symprec}`);
  if (crystal.sites.length === 0) {
    throw new SymmetryDetectionError(`crystal '${crystal.name}' has no atoms; cannot detect its space group`);
  }
  const points: { frac: Vec3; parts: string[] }[] = [];
  for (const s of crystal.sites) {
    const f: Vec3 = [wrap01(s.frac[0]), wrap01(s.frac[1]), wrap01(s.frac[2])];
    const part = `${s.element}:${s.occupancy.toFixed(4)}`;
    const same = points.find((p) => periodicFracDistance(p.frac, f) < 1e-4);
    if (same) same.parts.push(part);
    else points.push({ frac: f, parts: [part] });
  }
  const speciesIds = new Map<string, number>();
  const numbers = points.map((p) => {
    const key = p.parts.sort().join('|');
    let id = speciesIds.get(key);
    if (id === undefined) {
      id = speciesIds.size + 1;
      speciesIds.set(key, id);
    }
    return id;
  });
  return detectFromCell(crystal.name, crystal.lattice, points.map((p) => p.frac), numbers, symprec);
}

function detectFromCell(name: string, lattice: Lattice, positions: Vec3[], numbers: number[], symprec: number): DetectedSpaceGroup {
  const m = ensureMoyo();
  const cell = { lattice: { basis: latticeMatrix(lattice) }, positions, numbers };
  let d: moyo.MoyoDataset;
  try {
    d = m.analyze_cell(JSON.stringify(cell), symprec, 'Standard');
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SymmetryDetectionError(
      `symmetry detection failed for '${name}' at symprec ${symprec} A: ${why}; try a different tolerance or check for overlapping atoms`,
    );
  }
  return { number: d.number, hallNumber: d.hall_number, hmSymbol: d.hm_symbol };
}
