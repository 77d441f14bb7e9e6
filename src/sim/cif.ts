// CIF 1.1 reader for the subset needed to build crystals: cell, atom sites, symmetry.
// Tags are matched case-insensitively, with DDLm dots read as underscores
// (_space_group_symop.operation_xyz == _space_group_symop_operation_xyz).

import { readFileSync, statSync } from 'node:fs';
import type { Crystal, Lattice, Site, SymOp } from './crystal.ts';
import { cellVolume } from './crystal.ts';
import {
  DEFAULT_MERGE_TOL,
  SymOpParseError,
  UnknownSpaceGroupError,
  expandBySymmetry,
  parseSymOp,
  spaceGroupInfo,
  spaceGroupSettingFromSymbol,
  symmetryOperationsForHall,
} from './spacegroup.ts';

/** A CIF that cannot be read; the message names the file, the line and the problem. */
export class CifError extends Error {
  override name = 'CifError';
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly problem: string,
  ) {
    super(`${file}${line === null ? '' : `:${line}`}: ${problem}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens and blocks

interface Token {
  text: string;
  line: number;
  /** Quoted strings and text fields are always values, never '?'/'.' placeholders or keywords. */
  quoted: boolean;
}

interface Item {
  value: Token;
  tagLine: number;
}

interface Loop {
  tags: string[];
  /** rows[i][j] is the value of tags[j] in row i. */
  rows: Token[][];
  line: number;
}

interface Block {
  name: string;
  line: number;
  items: Map<string, Item>;
  loops: Loop[];
}

/** A token as quoted in messages: control characters escaped, long values cut. */
function shown(text: string): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > 40 ? `${safe.slice(0, 40)}...` : safe;
}

/**
 * The text of a CIF without a leading UTF-8 byte-order mark (editors on Windows write one).
 * Binary files are refused here, before any of their bytes reach a message.
 */
function cifText(text: string, file: string): string {
  const bad = /[\u0000-\u0008\u000e-\u001a\u001c-\u001f]/.exec(text.slice(0, 65536));
  if (bad) {
    throw new CifError(file, null, `is not a text file (control byte 0x${bad[0].charCodeAt(0).toString(16).padStart(2, '0')} at character ${bad.index + 1}); give a CIF, which is plain text`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function normTag(tag: string): string {
  return tag.toLowerCase().replace(/\./g, '_');
}

function tokenize(text: string, file: string): Token[] {
  const lines = text.split(/\r\n|\r|\n/);
  const tokens: Token[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const lineNo = i + 1;
    if (line.startsWith(';')) {
      // Text field: runs to the next line that starts with ';'.
      const body: string[] = [line.slice(1)];
      let j = i + 1;
      while (j < lines.length && !lines[j].startsWith(';')) body.push(lines[j++]);
      if (j >= lines.length) throw new CifError(file, lineNo, "text field opened with ';' is never closed (a line starting with ';' must end it)");
      tokens.push({ text: body.join('\n').trim(), line: lineNo, quoted: true });
      i = j; // anything after the closing ';' on that line is ignored, as CIF 1.1 allows only whitespace
      continue;
    }
    let p = 0;
    while (p < line.length) {
      const ch = line[p];
      if (ch === ' ' || ch === '\t') {
        p++;
      } else if (ch === '#') {
        break;
      } else if (ch === "'" || ch === '"') {
        // A quote closes only when followed by whitespace or the end of the line ("O'Neil" stays whole).
        let q = p + 1;
        while (q < line.length && !(line[q] === ch && (q + 1 === line.length || /\s/.test(line[q + 1])))) q++;
        if (q >= line.length) throw new CifError(file, lineNo, `quoted value starting with ${ch} is not closed on this line`);
        tokens.push({ text: line.slice(p + 1, q), line: lineNo, quoted: true });
        p = q + 1;
      } else {
        let q = p;
        while (q < line.length && line[q] !== ' ' && line[q] !== '\t') q++;
        tokens.push({ text: line.slice(p, q), line: lineNo, quoted: false });
        p = q;
      }
    }
  }
  return tokens;
}

type Keyword = 'data' | 'loop' | 'tag' | 'reserved' | 'value';

function kindOf(t: Token): Keyword {
  if (t.quoted) return 'value';
  const lower = t.text.toLowerCase();
  if (lower.startsWith('data_')) return 'data';
  if (lower === 'loop_') return 'loop';
  if (t.text.startsWith('_')) return 'tag';
  if (lower.startsWith('save_') || lower === 'global_' || lower === 'stop_') return 'reserved';
  return 'value';
}

function parseBlocks(tokens: Token[], file: string): Block[] {
  const blocks: Block[] = [];
  let block: Block | null = null;
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i];
    const kind = kindOf(t);
    if (kind === 'data') {
      block = { name: t.text.slice(5), line: t.line, items: new Map(), loops: [] };
      blocks.push(block);
      i++;
      continue;
    }
    if (kind === 'reserved') {
      throw new CifError(file, t.line, `'${t.text}' (save frames / global blocks) is not supported by this reader`);
    }
    if (!block) throw new CifError(file, t.line, `'${shown(t.text)}' appears before the first data_ block header`);
    if (kind === 'tag') {
      const next = tokens[i + 1];
      if (!next || kindOf(next) !== 'value') {
        throw new CifError(file, t.line, `tag ${t.text} has no value (use ? for an unknown value)`);
      }
      block.items.set(normTag(t.text), { value: next, tagLine: t.line });
      i += 2;
      continue;
    }
    if (kind === 'loop') {
      const loop: Loop = { tags: [], rows: [], line: t.line };
      i++;
      while (i < tokens.length && kindOf(tokens[i]) === 'tag') loop.tags.push(normTag(tokens[i++].text));
      if (loop.tags.length === 0) throw new CifError(file, t.line, 'loop_ is not followed by any tag');
      const values: Token[] = [];
      while (i < tokens.length && kindOf(tokens[i]) === 'value') values.push(tokens[i++]);
      const n = loop.tags.length;
      if (values.length % n !== 0) {
        const last = values.at(-1)?.line ?? t.line;
        throw new CifError(
          file,
          t.line,
          `loop with ${n} tags (${loop.tags.join(', ')}) has ${values.length} values, not a multiple of ${n}; ` +
            `a row ending at or before line ${last} has a missing or extra value (quote values that contain spaces)`,
        );
      }
      for (let r = 0; r < values.length; r += n) loop.rows.push(values.slice(r, r + n));
      block.loops.push(loop);
      continue;
    }
    throw new CifError(file, t.line, `value '${shown(t.text)}' has no tag before it`);
  }
  return blocks;
}

// ---------------------------------------------------------------------------------------------
// Values

function isUnknown(t: Token): boolean {
  return !t.quoted && (t.text === '?' || t.text === '.');
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:\(\d+\))?$/;

/** Number with an optional standard uncertainty '0.1234(5)'; null for '?' or '.'. */
function numberOrNull(t: Token, what: string, file: string): number | null {
  if (isUnknown(t)) return null;
  if (!NUMBER.test(t.text)) throw new CifError(file, t.line, `${what}: '${shown(t.text)}' is not a number`);
  const paren = t.text.indexOf('(');
  const value = Number(paren < 0 ? t.text : t.text.slice(0, paren));
  if (!Number.isFinite(value)) throw new CifError(file, t.line, `${what}: '${t.text}' is not a finite number`);
  return value;
}

// prettier-ignore
export const ELEMENT_SYMBOLS: ReadonlySet<string> = new Set(('H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge ' +
  'As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm ' +
  'Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg ' +
  'Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og').split(' '));

const CHARGE = /^(?:(\d+(?:\.\d+)?)?([+-])|([+-])(\d+(?:\.\d+)?))$/;

/**
 * Element and charge from a type symbol or label: 'O2-' -> O, -2; 'Li0+' -> Li, 0; 'Fe3+' -> Fe, 3;
 * 'Mn' -> Mn, null; 'Fe+3' -> Fe, 3; labels 'O1', 'Cu2a' -> element only. Null when no element.
 */
export function parseSpecies(symbol: string): { element: string; charge: number | null } | null {
  const m = /^([A-Za-z])([A-Za-z]?)(.*)$/.exec(symbol.trim());
  if (!m) return null;
  const one = m[1].toUpperCase();
  const two = one + m[2].toLowerCase();
  let element: string;
  let rest: string;
  if (m[2] && ELEMENT_SYMBOLS.has(two)) {
    element = two;
    rest = m[3];
  } else if (ELEMENT_SYMBOLS.has(one) || one === 'D') {
    element = one;
    rest = m[2] + m[3];
  } else {
    return null;
  }
  if (element === 'D') element = 'H'; // deuterium scatters X-rays like hydrogen
  const c = CHARGE.exec(rest);
  if (!c) return { element, charge: null };
  const sign = (c[2] ?? c[3]) === '-' ? -1 : 1;
  const mag = c[1] ?? c[4];
  return { element, charge: sign * (mag === undefined ? 1 : Number(mag)) };
}

// ---------------------------------------------------------------------------------------------
// Block -> Crystal

function findLoop(block: Block, tag: string): Loop | undefined {
  return block.loops.find((l) => l.tags.includes(tag));
}

/** Single item or the only row of a one-row loop. */
function scalar(block: Block, tags: string[]): Item | undefined {
  for (const tag of tags) {
    const it = block.items.get(tag);
    if (it) return it;
  }
  return undefined;
}

const CELL_TAGS = ['a', 'b', 'c', 'alpha', 'beta', 'gamma'] as const;

function readLattice(block: Block, file: string): Lattice {
  const values: number[] = [];
  for (const p of CELL_TAGS) {
    const tag = p.length === 1 ? `_cell_length_${p}` : `_cell_angle_${p}`;
    const it = block.items.get(tag);
    if (!it) throw new CifError(file, block.line, `data block '${block.name}' has no ${tag}; the cell needs a, b, c, alpha, beta, gamma`);
    const v = numberOrNull(it.value, tag, file);
    if (v === null) throw new CifError(file, it.tagLine, `${tag} is unknown ('${it.value.text}'); the cell parameter is required`);
    const bad = p.length === 1 ? !(v > 0) : !(v > 0 && v < 180);
    if (bad) throw new CifError(file, it.tagLine, `${tag} = ${v} is out of range`);
    values.push(v);
  }
  const [a, b, c, alpha, beta, gamma] = values;
  const lattice = { a, b, c, alpha, beta, gamma };
  try {
    cellVolume(lattice);
  } catch {
    throw new CifError(file, block.items.get('_cell_angle_alpha')!.tagLine, `cell angles ${alpha}, ${beta}, ${gamma} do not form a valid cell`);
  }
  return lattice;
}

const OP_TAGS = ['_space_group_symop_operation_xyz', '_symmetry_equiv_pos_as_xyz'];
const NUMBER_TAGS = ['_space_group_it_number', '_symmetry_int_tables_number'];
const HM_TAGS = ['_space_group_name_h-m_alt', '_symmetry_space_group_name_h-m'];

function parseOpToken(t: Token, file: string): SymOp {
  let op: SymOp;
  try {
    op = parseSymOp(t.text);
  } catch (e) {
    if (e instanceof SymOpParseError) throw new CifError(file, t.line, e.message);
    throw e;
  }
  const r = op.rotation;
  const det = r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) + r[2] * (r[3] * r[7] - r[4] * r[6]);
  if (Math.abs(Math.abs(det) - 1) > 1e-9) {
    throw new CifError(file, t.line, `symmetry operation '${t.text}' is not a crystallographic operation (determinant ${det})`);
  }
  return op;
}

function isRhombohedralCell(l: Lattice): boolean {
  const eq = (x: number, y: number, tol: number): boolean => Math.abs(x - y) <= tol;
  return eq(l.a, l.b, 1e-3 * l.a) && eq(l.a, l.c, 1e-3 * l.a) && eq(l.alpha, l.beta, 0.01) && eq(l.alpha, l.gamma, 0.01) && !eq(l.alpha, 90, 0.01);
}

interface Symmetry {
  ops: SymOp[];
  /** Space group stated by the file; null when not stated or stated as P1 (see parseCif). */
  spaceGroup: number | null;
}

function readSymmetry(block: Block, lattice: Lattice, file: string): Symmetry {
  const numberItem = scalar(block, NUMBER_TAGS);
  const hmItem = scalar(block, HM_TAGS);
  let stated: number | null = null;
  if (numberItem) {
    const v = numberOrNull(numberItem.value, 'space-group number', file);
    if (v !== null) {
      if (!Number.isInteger(v) || v < 1 || v > 230) throw new CifError(file, numberItem.tagLine, `space-group number ${v} is not an integer 1..230`);
      stated = v;
    }
  }
  let fromSymbol: { number: number; hallNumber: number } | null = null;
  if (hmItem && !isUnknown(hmItem.value) && hmItem.value.text.trim() !== '') {
    try {
      fromSymbol = spaceGroupSettingFromSymbol(hmItem.value.text);
    } catch (e) {
      // An unreadable symbol only matters when nothing else defines the symmetry.
      if (!(e instanceof UnknownSpaceGroupError)) throw e;
      if (stated === null && !OP_TAGS.some((t) => findLoop(block, t) || block.items.has(t))) {
        throw new CifError(file, hmItem.tagLine, `${e.message}; or list the operations in a _space_group_symop_operation_xyz loop`);
      }
    }
  }
  if (stated !== null && fromSymbol !== null && fromSymbol.number !== stated) {
    throw new CifError(
      file,
      hmItem!.tagLine,
      `space-group symbol '${hmItem!.value.text}' is group ${fromSymbol.number} but the file also states number ${stated}; fix one of them`,
    );
  }
  const number = stated ?? fromSymbol?.number ?? null;

  let ops: SymOp[] | null = null;
  for (const tag of OP_TAGS) {
    const loop = findLoop(block, tag);
    if (loop) {
      const col = loop.tags.indexOf(tag);
      ops = loop.rows.map((row) => parseOpToken(row[col], file));
      break;
    }
    const item = block.items.get(tag);
    if (item) {
      ops = [parseOpToken(item.value, file)];
      break;
    }
  }
  if (!ops) {
    if (number === null) {
      // No symmetry information at all: the atom list is taken as the whole cell.
      ops = [{ rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0] }];
    } else {
      let hall = fromSymbol?.hallNumber ?? spaceGroupInfo(number).hallNumber;
      // A bare number or a symbol without ':R' for an R group: use rhombohedral axes when the cell is.
      if (spaceGroupInfo(number).centering === 'R' && isRhombohedralCell(lattice)) {
        hall = spaceGroupSettingFromSymbol(`${spaceGroupInfo(number).hmShort}:R`).hallNumber;
      }
      ops = symmetryOperationsForHall(hall);
    }
  }
  // 'P 1' is what converters write when they list the whole cell without using symmetry; it says
  // nothing about the crystal's real group, so it is reported as unknown.
  return { ops, spaceGroup: number === 1 ? null : number };
}

function readSites(block: Block, file: string): Site[] {
  const loop = findLoop(block, '_atom_site_fract_x');
  if (!loop) {
    const cart = findLoop(block, '_atom_site_cartn_x');
    throw new CifError(
      file,
      cart?.line ?? block.line,
      cart
        ? 'atom sites are given only in cartesian coordinates (_atom_site_Cartn_x); this reader needs _atom_site_fract_x/y/z'
        : `data block '${block.name}' has no atoms (no loop with _atom_site_fract_x/y/z)`,
    );
  }
  const col = (tag: string): number => loop.tags.indexOf(tag);
  const ix = col('_atom_site_fract_x');
  const iy = col('_atom_site_fract_y');
  const iz = col('_atom_site_fract_z');
  if (iy < 0 || iz < 0) throw new CifError(file, loop.line, 'atom-site loop has _atom_site_fract_x but not _atom_site_fract_y and _atom_site_fract_z');
  const iType = col('_atom_site_type_symbol');
  const iLabel = col('_atom_site_label');
  if (iType < 0 && iLabel < 0) throw new CifError(file, loop.line, 'atom-site loop has neither _atom_site_type_symbol nor _atom_site_label, so the elements are unknown');
  const iOcc = col('_atom_site_occupancy');
  const iU = col('_atom_site_u_iso_or_equiv');
  const iB = col('_atom_site_b_iso_or_equiv');
  if (loop.rows.length === 0) throw new CifError(file, loop.line, 'atom-site loop has no rows: no atoms');

  return loop.rows.map((row) => {
    const typeTok = iType >= 0 && !isUnknown(row[iType]) ? row[iType] : null;
    const labelTok = iLabel >= 0 && !isUnknown(row[iLabel]) ? row[iLabel] : null;
    const symTok = typeTok ?? labelTok;
    if (!symTok) throw new CifError(file, row[0].line, 'atom site has neither a type symbol nor a label');
    const species = parseSpecies(symTok.text);
    if (!species) {
      throw new CifError(file, symTok.line, `unknown element in '${symTok.text}' (expected an element symbol such as 'Fe', 'O2-', 'Li1')`);
    }
    // Labels carry charges only when written as ions ('Fe3+'); 'O1' is a label number, not a charge.
    const charge = symTok === typeTok || /[+-]$/.test(symTok.text) ? species.charge : null;
    const coord = (i: number, axis: string): number => {
      const v = numberOrNull(row[i], `fractional ${axis} of atom '${labelTok?.text ?? symTok.text}'`, file);
      if (v === null) throw new CifError(file, row[i].line, `fractional ${axis} of atom '${labelTok?.text ?? symTok.text}' is unknown ('${row[i].text}')`);
      return v;
    };
    const frac: [number, number, number] = [coord(ix, 'x'), coord(iy, 'y'), coord(iz, 'z')];
    let occupancy = 1;
    if (iOcc >= 0) {
      const v = numberOrNull(row[iOcc], 'occupancy', file);
      if (v !== null) {
        if (!(v > 0 && v <= 1 + 1e-3)) throw new CifError(file, row[iOcc].line, `occupancy ${v} of atom '${labelTok?.text ?? symTok.text}' is not in (0, 1]`);
        occupancy = Math.min(v, 1);
      }
    }
    let biso = 0;
    const b = iB >= 0 ? numberOrNull(row[iB], 'B_iso', file) : null;
    const u = iU >= 0 ? numberOrNull(row[iU], 'U_iso', file) : null;
    if (b !== null) biso = b;
    else if (u !== null) biso = 8 * Math.PI * Math.PI * u;
    const site: Site = { element: species.element, charge, frac, occupancy, biso };
    if (labelTok) site.label = labelTok.text;
    return site;
  });
}

function blockToCrystal(block: Block, file: string): Crystal {
  const lattice = readLattice(block, file);
  const { ops, spaceGroup } = readSymmetry(block, lattice, file);
  const asymmetric = readSites(block, file);
  if (asymmetric.length * ops.length > MAX_CELL_ATOMS) {
    throw new CifError(
      file,
      block.line,
      `block ${block.name}: ${asymmetric.length} atom sites x ${ops.length} symmetry operations could give up to ${asymmetric.length * ops.length} atoms in the cell; ` +
        `this reader handles up to ${MAX_CELL_ATOMS} (crystal structures have far fewer)`,
    );
  }
  const sites = expandBySymmetry(asymmetric, ops, DEFAULT_MERGE_TOL);
  // The file's name without folders (either separator) and .cif: parsing needs no path module.
  return { name: block.name || file.replace(/^.*[\\/]/, '').replace(/\.cif$/i, ''), lattice, sites, spaceGroup };
}

/** Atoms in a unit cell (before merging coinciding images) beyond which a CIF is refused. */
export const MAX_CELL_ATOMS = 200_000;
/** CIFs larger than this are refused before parsing (crystal-structure CIFs are kilobytes). */
export const MAX_CIF_BYTES = 32 * 1024 * 1024;

/** A block describes a structure when it has any cell or atom-site data. */
function isStructureBlock(b: Block): boolean {
  const has = (t: string): boolean => t.startsWith('_cell_') || t.startsWith('_atom_site_');
  return [...b.items.keys()].some(has) || b.loops.some((l) => l.tags.some(has));
}

/** Blocks that hold a structure; throws when there are none. */
function structureBlocks(blocks: Block[], file: string): Block[] {
  if (blocks.length === 0) throw new CifError(file, null, 'no data_ block found; is this a CIF file?');
  const structures = blocks.filter(isStructureBlock);
  if (structures.length === 0) {
    throw new CifError(file, blocks[0].line, `no data block has cell or atom-site data (blocks: ${blocks.map((b) => b.name).join(', ')})`);
  }
  return structures;
}

/**
 * Crystals of every data block that holds a structure (blocks with no cell or atom-site data, such
 * as a publication block, are not structures and are not returned). Sites are the whole cell:
 * the file's operations (or those of its stated space group when it lists none; P1 when it states
 * nothing) are applied and coinciding images merged (expandBySymmetry, 1e-3 fractional).
 * Crystal.name is the block name. Crystal.spaceGroup is the group the file states, or null when
 * it states none or states P 1 (use detectSpaceGroup then). Throws CifError.
 */
export function parseCif(text: string, fileName = '<cif>'): Crystal[] {
  const blocks = parseBlocks(tokenize(cifText(text, fileName), fileName), fileName);
  return structureBlocks(blocks, fileName).map((b) => blockToCrystal(b, fileName));
}

function readCifBlocks(path: string): Block[] {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_CIF_BYTES) {
      throw new CifError(path, null, `is ${(size / 2 ** 20).toFixed(0)} MiB; CIFs of crystal structures are kilobytes, and this reader takes up to ${MAX_CIF_BYTES / 2 ** 20} MiB`);
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof CifError) throw e;
    throw new CifError(path, null, `cannot read the file: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseBlocks(tokenize(cifText(text, path), path), path);
}

/**
 * The output name of one structure of a CIF: the file's stem alone when it holds one structure,
 * else <stem>-<block> (the block name with characters other than letters, digits, '.', '_', '-'
 * replaced), so that every block of a multi-block file gets files of its own.
 */
export function structureOutputName(stem: string, blockName: string, structuresInFile: number): string {
  if (structuresInFile <= 1) return stem;
  return `${stem}-${blockName.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'block'}`;
}

/** Every structure of a CIF file, one per data block that holds one (see parseCif). Throws CifError. */
export function readCifStructures(path: string): Crystal[] {
  return structureBlocks(readCifBlocks(path), path).map((b) => blockToCrystal(b, path));
}

/** Read a CIF file: its first structure, or the data block named `block`. Throws CifError. */
export function readCif(path: string, block?: string): Crystal {
  const blocks = readCifBlocks(path);
  if (block === undefined) return blockToCrystal(structureBlocks(blocks, path)[0], path);
  const hit = blocks.find((b) => b.name.toLowerCase() === block.toLowerCase());
  if (!hit) throw new CifError(path, null, `no data block named '${block}' (blocks: ${blocks.map((b) => b.name).join(', ') || 'none'})`);
  return blockToCrystal(hit, path);
}
