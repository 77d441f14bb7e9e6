// Pattern text: two-column measurements (2-theta, intensity; XY, XYE with an ignored third column,
// CSV/TSV), `#` comment and header lines, labels from headers (`# space_group: 14`,
// `# crystal_system: monoclinic`, `# wavelength_angstrom: 1.5418`), the checks every pattern
// passes, and resampling onto a model's grid. No file system: patterns.ts reads files with it and
// the browser page parses dropped files with it, so both see the same numbers and errors.
import { CRYSTAL_SYSTEMS, crystalSystemOf, type CrystalSystem } from '../sim/crystal.ts';
import type { Grid } from '../sim/render.ts';

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

/** Fewer measured points than this cannot be a powder pattern over a useful range. */
export const MIN_POINTS = 100;
/** Negative intensities down to this fraction of the maximum are clamped to 0 as noise. */
export const NEGATIVE_TOLERANCE = 0.05;

/** At most 60 characters, control and non-ASCII bytes shown as '?' (binary input is not echoed). */
function printable(s: string): string {
  const t = s.slice(0, 60).replace(/[^\x20-\x7e]/g, '?');
  return s.length > 60 ? `${t}...` : t;
}

/**
 * Parses the text of a two-column pattern file (see the header); `file` names it in errors.
 * readPatternFile (patterns.ts) reads files with it, the browser page the files dropped on it.
 */
export function parsePatternText(text: string, file: string): MeasuredPattern {
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
export function checkedPattern(
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

/** The grid points [from, to) inside a coverage (see toModelGrid). */
export function coveredRange(coverage: GridCoverage, grid: Grid): { from: number; to: number } {
  return {
    from: Math.max(0, Math.ceil((coverage.from - grid.twoThetaMin) / grid.step - 1e-9)),
    to: Math.min(grid.points, Math.floor((coverage.to - grid.twoThetaMin) / grid.step + 1e-9) + 1),
  };
}

/** Patterns on `grid` (see toModelGrid), one after another: [patterns.length * points]. */
export function gridRows(patterns: readonly MeasuredPattern[], grid: Grid, wavelength?: number): Float32Array {
  const rows = new Float32Array(patterns.length * grid.points);
  patterns.forEach((p, i) => rows.set(toModelGrid(p, grid, wavelength).values, i * grid.points));
  return rows;
}
