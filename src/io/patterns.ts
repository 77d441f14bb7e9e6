// Measured pattern files: two-column text (2-theta, intensity; XY, XYE with an ignored third
// column, CSV/TSV), `#` comment and header lines, labels from headers (`# space_group: 14`,
// `# crystal_system: monoclinic`, `# wavelength_angstrom: 1.5418`), and resampling onto a
// model's grid.
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { npyItemSize, parseNpyHeader } from '../sim/npy.ts';
import { CRYSTAL_SYSTEMS, crystalSystemOf, type CrystalSystem } from '../sim/crystal.ts';
import { DEFAULT_GRID, type Grid } from '../sim/render.ts';

/** A pattern file that cannot be read (the file and line are named). */
export class PatternFileError extends Error {
  override name = 'PatternFileError';
}

export interface MeasuredPattern {
  file: string;
  twoTheta: Float64Array;
  intensity: Float64Array;
  spaceGroup: number | null;
  crystalSystem: CrystalSystem | null;
  wavelength: number | null;
}

export const PATTERN_EXTENSIONS = ['.xy', '.xye', '.csv', '.txt', '.dat', '.npy'];
/** Fewer measured points than this cannot be a powder pattern over a useful range. */
export const MIN_POINTS = 100;
/** Negative intensities down to this fraction of the maximum are clamped to 0 as noise. */
export const NEGATIVE_TOLERANCE = 0.05;

/** At most 60 characters, control and non-ASCII bytes shown as '?' (binary input is not echoed). */
function printable(s: string): string {
  const t = s.slice(0, 60).replace(/[^\x20-\x7e]/g, '?');
  return s.length > 60 ? `${t}...` : t;
}

/** Reads a two-column pattern file (see the header). */
export function readPatternFile(file: string): MeasuredPattern {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PatternFileError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (text.includes('\u0000')) throw new PatternFileError(`${file} is a binary file, not a text pattern (two columns: 2-theta, intensity)`);
  const x: number[] = [];
  const y: number[] = [];
  let spaceGroup: number | null = null;
  let crystalSystem: CrystalSystem | null = null;
  let wavelength: number | null = null;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    if (line.startsWith('#') || line.startsWith('!') || line.startsWith(';')) {
      const m = /^[#!;]+\s*([A-Za-z_ ]+?)\s*[:=]\s*(.+)$/.exec(line);
      if (!m) return;
      const key = m[1]!.toLowerCase().replace(/\s+/g, '_');
      const value = m[2]!.trim();
      if (key === 'space_group') {
        // '14', or as xrd simulate writes it: '225 (F m -3 m), cubic'
        const n = Number(/^\d+(?=$|[\s(,])/.exec(value)?.[0] ?? NaN);
        if (!Number.isInteger(n) || n < 1 || n > 230) throw new PatternFileError(`${file}:${i + 1}: space_group must be 1..230, got '${value}'`);
        spaceGroup = n;
      } else if (key === 'crystal_system') {
        const s = value.toLowerCase() as CrystalSystem;
        if (!CRYSTAL_SYSTEMS.includes(s)) throw new PatternFileError(`${file}:${i + 1}: unknown crystal_system '${value}' (one of ${CRYSTAL_SYSTEMS.join(', ')})`);
        crystalSystem = s;
      } else if (key === 'wavelength' || key === 'wavelength_angstrom') {
        const w = Number.parseFloat(value);
        if (!(w > 0)) throw new PatternFileError(`${file}:${i + 1}: wavelength must be a positive number, got '${value}'`);
        wavelength = w;
      }
      return;
    }
    const cols = line.split(/[\s,;]+/).filter((c) => c.length > 0);
    const a = Number(cols[0]);
    const b = Number(cols[1]);
    if (cols.length >= 2 && /^[+-]?(nan|inf(inity)?)$/i.test(cols[1]!)) {
      throw new PatternFileError(`${file}:${i + 1}: intensity '${cols[1]}' is not a finite number; remove or fix that row`);
    }
    if (cols.length < 2 || !Number.isFinite(a) || !Number.isFinite(b)) {
      if (x.length === 0) return; // a column-name header line before the data
      throw new PatternFileError(`${file}:${i + 1}: expected two numbers (2-theta, intensity), got '${printable(line)}'`);
    }
    x.push(a);
    y.push(b);
  });
  return checkedPattern(file, x, y, spaceGroup, crystalSystem, wavelength);
}

/** Where a measured pattern lands on a model's grid. */
export interface GridCoverage {
  /** 2-theta range on the model's grid (its wavelength) that the measurement covers. */
  from: number;
  to: number;
  /** Fraction of the grid points inside that range (the others are 0). */
  fraction: number;
}


/** The checks every pattern passes, whatever file it came from (see the bad-input list in the tests). */
function checkedPattern(
  file: string,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  spaceGroup: number | null,
  crystalSystem: CrystalSystem | null,
  wavelength: number | null,
): MeasuredPattern {
  if (x.length === 0) {
    const hint = /\.cif$/i.test(file) ? " (a CIF is a structure: simulate its pattern with 'xrd simulate')" : '';
    throw new PatternFileError(`${file} holds no (2-theta, intensity) rows; it is not a pattern file${hint}`);
  }
  if (x.length < MIN_POINTS) {
    throw new PatternFileError(`${file} has ${x.length} data rows; a pattern needs at least ${MIN_POINTS} (2-theta, intensity) rows`);
  }
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(x[i]!) || !Number.isFinite(y[i]!)) throw new PatternFileError(`${file}: value ${i + 1} (${x[i]}, ${y[i]}) is not finite; remove or fix it`);
  }
  for (let i = 1; i < x.length; i++) {
    if (!(x[i]! > x[i - 1]!)) {
      throw new PatternFileError(`${file}: 2-theta must increase from row to row, but data row ${i + 1} has ${x[i]} after ${x[i - 1]}${x[i] === x[i - 1] ? ' (a duplicate)' : ''}`);
    }
  }
  if (x[0]! <= 0 || x[x.length - 1]! >= 180) throw new PatternFileError(`${file}: 2-theta must lie between 0 and 180 degrees, got ${x[0]} to ${x[x.length - 1]}`);
  let top = -Infinity;
  let bottom = Infinity;
  for (let i = 0; i < y.length; i++) {
    top = Math.max(top, y[i]!);
    bottom = Math.min(bottom, y[i]!);
  }
  if (!(top > 0)) throw new PatternFileError(`${file}: no intensity is above zero; the file holds no pattern`);
  // Small negative values are detector noise around a subtracted background; large ones mean the
  // column is not an intensity.
  if (bottom < -NEGATIVE_TOLERANCE * top) {
    throw new PatternFileError(`${file}: intensities go down to ${bottom} (the maximum is ${top}); counts cannot be that negative: is the second column an intensity?`);
  }
  if (spaceGroup !== null && crystalSystem !== null && crystalSystemOf(spaceGroup) !== crystalSystem) {
    throw new PatternFileError(`${file}: space_group ${spaceGroup} is ${crystalSystemOf(spaceGroup)}, but the header says crystal_system ${crystalSystem}`);
  }
  if (spaceGroup !== null && crystalSystem === null) crystalSystem = crystalSystemOf(spaceGroup);
  return { file, twoTheta: Float64Array.from(x), intensity: Float64Array.from(y), spaceGroup, crystalSystem, wavelength };
}

/**
 * The pattern on `grid`, scaled so that its maximum is 1. A measurement at another wavelength
 * (the file's header, else `wavelength`, else the grid's) moves through d-spacings:
 * sin(theta_grid) = (lambda_grid / lambda_measured) sin(theta_measured). Where the measurement is
 * sampled more finely than the grid, each grid point takes the mean over its cell (a narrow peak
 * is not missed between samples); otherwise linear interpolation. Grid points outside the
 * measured range are 0 and reported in the coverage.
 */
export function toModelGrid(p: MeasuredPattern, grid: Grid, wavelength?: number): { values: Float32Array; coverage: GridCoverage } {
  const lambda = p.wavelength ?? wavelength ?? grid.wavelength;
  if (!(lambda > 0)) throw new PatternFileError(`${p.file}: the wavelength must be a positive number of angstrom, got ${lambda}`);
  const ratio = grid.wavelength / lambda;
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < p.twoTheta.length; i++) {
    const s = ratio * Math.sin((p.twoTheta[i]! * Math.PI) / 360);
    if (s >= 1) break; // beyond the grid wavelength's reach (and increasing from here on)
    xs.push((360 / Math.PI) * Math.asin(s));
    ys.push(Math.max(0, p.intensity[i]!));
  }
  const last = grid.twoThetaMin + (grid.points - 1) * grid.step;
  if (xs.length < 2 || xs[xs.length - 1]! < grid.twoThetaMin || xs[0]! > last) {
    throw new PatternFileError(
      `${p.file}: the measurement (${p.twoTheta[0]}-${p.twoTheta[p.twoTheta.length - 1]} deg at ${lambda} A) misses the model's range ${grid.twoThetaMin}-${last.toFixed(2)} deg at ${grid.wavelength} A`,
    );
  }
  const values = new Float32Array(grid.points);
  const n = xs.length;
  let covered = 0;
  let j = 0;
  for (let i = 0; i < grid.points; i++) {
    const t = grid.twoThetaMin + i * grid.step;
    if (t < xs[0]! || t > xs[n - 1]!) continue;
    covered++;
    while (j < n - 2 && xs[j + 1]! < t) j++;
    // mean over the cell when several samples fall in it
    let sum = 0;
    let count = 0;
    for (let k = j; k < n && xs[k]! < t + grid.step / 2; k++) {
      if (xs[k]! >= t - grid.step / 2) {
        sum += ys[k]!;
        count++;
      }
    }
    for (let k = j - 1; k >= 0 && xs[k]! >= t - grid.step / 2; k--) {
      sum += ys[k]!;
      count++;
    }
    if (count >= 2) values[i] = sum / count;
    else {
      const f = (t - xs[j]!) / (xs[j + 1]! - xs[j]!);
      values[i] = ys[j]! * (1 - f) + ys[j + 1]! * f;
    }
  }
  let max = 0;
  for (const v of values) max = Math.max(max, v);
  if (!(max > 0)) throw new PatternFileError(`${p.file} has no positive intensity inside the model's range ${grid.twoThetaMin}-${last.toFixed(2)} deg`);
  for (let i = 0; i < values.length; i++) values[i]! /= max;
  const from = Math.max(grid.twoThetaMin, xs[0]!);
  const to = Math.min(last, xs[n - 1]!);
  return { values, coverage: { from, to, fraction: covered / grid.points } };
}

/** Patterns on `grid` (see toModelGrid), one after another: [patterns.length * points]. */
export function gridRows(patterns: readonly MeasuredPattern[], grid: Grid, wavelength?: number): Float32Array {
  const rows = new Float32Array(patterns.length * grid.points);
  patterns.forEach((p, i) => rows.set(toModelGrid(p, grid, wavelength).values, i * grid.points));
  return rows;
}

/** The pattern files of a directory, sorted by name (not its labels.csv). */
export function patternFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.toLowerCase() !== 'labels.csv' && PATTERN_EXTENSIONS.some((e) => n.toLowerCase().endsWith(e)))
    .sort()
    .map((n) => join(dir, n));
}

/** Every pattern of a directory (files sorted by name, .npy rows in order), read and checked to carry labels. */
export function readLabelledDirectory(dir: string): MeasuredPattern[] {
  let files: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    files = patternFilesIn(dir);
  } catch (e) {
    throw new PatternFileError(`cannot read the pattern directory ${dir}: ${(e as Error).message}`);
  }
  if (files.length === 0) throw new PatternFileError(`${dir} has no pattern files (${PATTERN_EXTENSIONS.join(', ')})`);
  return patternSources(files, DEFAULT_GRID).map((src) => {
    const p = src.read();
    if (p.spaceGroup === null && p.crystalSystem === null) {
      throw new PatternFileError(`${p.file} has no label; add a '# space_group: N' or '# crystal_system: NAME' header line, or a labels.csv beside it`);
    }
    return p;
  });
}

/** One pattern to classify: a text file, or one row of an .npy array. */
export interface PatternSource {
  /** The file, or `file[row]` for a row of a 2-D .npy array. */
  name: string;
  /** Reads it now (throws PatternFileError naming the file). */
  read(): MeasuredPattern;
}

/** Splits one CSV line (double-quoted fields may hold commas and doubled quotes). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}

interface CsvLabels {
  byFile: Map<string, { spaceGroup: number | null; crystalSystem: CrystalSystem | null }>;
  byIndex: Map<number, { spaceGroup: number | null; crystalSystem: CrystalSystem | null }>;
}

const labelCache = new Map<string, CsvLabels | null>();

/**
 * labels.csv in a directory: a header with `space_group` and/or `crystal_system`, and `file` (for
 * pattern files) or `index` (rows of an .npy array, as `xrd synth` writes). Null when absent.
 */
export function labelsCsv(dir: string): CsvLabels | null {
  if (labelCache.has(dir)) return labelCache.get(dir)!;
  const path = join(dir, 'labels.csv');
  let result: CsvLabels | null = null;
  try {
    statSync(path);
  } catch {
    labelCache.set(dir, null);
    return null;
  }
  const lines = readFileSync(path, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim());
  const head = csvFields(lines[0] ?? '').map((h) => h.toLowerCase());
  const col = (n: string) => head.indexOf(n);
  const [fileCol, indexCol, sgCol, csCol] = [col('file'), col('index'), col('space_group'), col('crystal_system')];
  if ((fileCol < 0 && indexCol < 0) || (sgCol < 0 && csCol < 0)) {
    throw new PatternFileError(`${path} needs a 'file' or 'index' column and a 'space_group' or 'crystal_system' column; its header is '${lines[0] ?? ''}'`);
  }
  result = { byFile: new Map(), byIndex: new Map() };
  lines.slice(1).forEach((line, k) => {
    const f = csvFields(line);
    const sgText = sgCol >= 0 ? f[sgCol] ?? '' : '';
    const csText = csCol >= 0 ? (f[csCol] ?? '').toLowerCase() : '';
    const sg = sgText ? Number(sgText) : null;
    if (sg !== null && !(Number.isInteger(sg) && sg >= 1 && sg <= 230)) throw new PatternFileError(`${path}:${k + 2}: space_group must be 1..230, got '${sgText}'`);
    if (csText && !CRYSTAL_SYSTEMS.includes(csText as CrystalSystem)) throw new PatternFileError(`${path}:${k + 2}: unknown crystal_system '${csText}'`);
    const label = { spaceGroup: sg, crystalSystem: (csText || (sg !== null ? crystalSystemOf(sg) : null)) as CrystalSystem | null };
    if (fileCol >= 0) result!.byFile.set(f[fileCol]!, label);
    if (indexCol >= 0) result!.byIndex.set(Number(f[indexCol]), label);
  });
  labelCache.set(dir, result);
  return result;
}

/** The header's labels, else those of labels.csv beside the file. */
function withCsvLabels(p: MeasuredPattern, file: string, row: number | null): MeasuredPattern {
  if (p.spaceGroup !== null || p.crystalSystem !== null) return p;
  const csv = labelsCsv(dirname(file));
  const label = csv ? (row === null ? csv.byFile.get(basename(file)) : csv.byIndex.get(row)) : undefined;
  return label ? { ...p, ...label } : p;
}

/**
 * A .npy file as pattern sources, read row by row from disk: [points] or [N, points] on the
 * model's grid, or [n, 2] columns (2-theta, intensity). float32 or float64.
 */
function npySources(file: string, grid: Grid): PatternSource[] {
  const fail = (message: string): PatternSource[] => [
    {
      name: file,
      read: () => {
        throw new PatternFileError(`${file}: ${message}`);
      },
    },
  ];
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    return fail(`cannot be read (${(e as Error).message})`);
  }
  try {
    const head = new Uint8Array(4096);
    readSync(fd, head, 0, head.length, 0);
    const h = parseNpyHeader(head);
    if (h.descr !== '<f4' && h.descr !== '<f8') return fail(`dtype ${h.descr} is not a float array; save intensities as float32 or float64`);
    const size = npyItemSize(h.descr);
    const [a, b] = h.shape;
    const P = grid.points;
    const angles = Float64Array.from({ length: P }, (_, i) => grid.twoThetaMin + i * grid.step);
    const readValues = (offset: number, count: number): Float64Array => {
      const bytes = new Uint8Array(count * size);
      const fdRow = openSync(file, 'r');
      try {
        const got = readSync(fdRow, bytes, 0, bytes.length, h.dataOffset + offset * size);
        if (got !== bytes.length) throw new PatternFileError(`${file} is truncated: the header promises shape (${h.shape.join(', ')})`);
      } finally {
        closeSync(fdRow);
      }
      return h.descr === '<f8' ? new Float64Array(bytes.buffer) : Float64Array.from(new Float32Array(bytes.buffer));
    };
    if (h.shape.length === 1 && a === P) return [{ name: file, read: () => withCsvLabels(checkedPattern(file, angles, readValues(0, P), null, null, null), file, null) }];
    if (h.shape.length === 2 && b === 2) {
      return [
        {
          name: file,
          read: () => {
            const v = readValues(0, a! * 2);
            return withCsvLabels(checkedPattern(file, v.filter((_, i) => i % 2 === 0), v.filter((_, i) => i % 2 === 1), null, null, null), file, null);
          },
        },
      ];
    }
    if (h.shape.length === 2 && b === P) {
      return Array.from({ length: a! }, (_, r) => {
        const name = `${file}[${r}]`;
        return { name, read: () => withCsvLabels(checkedPattern(name, angles, readValues(r * P, P), null, null, null), file, r) };
      });
    }
    return fail(
      `shape (${h.shape.join(', ')}) is not a pattern: use [${P}] or [N, ${P}] (intensities on ${grid.twoThetaMin}-${(grid.twoThetaMin + (P - 1) * grid.step).toFixed(2)} deg at ${grid.step} deg) or [n, 2] (2-theta, intensity) columns`,
    );
  } catch (e) {
    return fail((e as Error).message);
  } finally {
    closeSync(fd);
  }
}

/** Files as pattern sources: text files one each (labels from labels.csv when the header has none), .npy arrays one per row. */
export function patternSources(files: string[], grid: Grid): PatternSource[] {
  return files.flatMap((file) =>
    file.toLowerCase().endsWith('.npy') ? npySources(file, grid) : [{ name: file, read: () => withCsvLabels(readPatternFile(file), file, null) }],
  );
}
