// Measured pattern files: two-column text (2-theta, intensity; XY, XYE with an ignored third
// column, CSV/TSV), `#` comment and header lines, labels from headers (`# space_group: 14`,
// `# crystal_system: monoclinic`, `# wavelength_angstrom: 1.5418`), and resampling onto a
// model's grid.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

export const PATTERN_EXTENSIONS = ['.xy', '.xye', '.csv', '.txt', '.dat'];

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
        const n = Number(value);
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
    if (cols.length < 2 || !Number.isFinite(a) || !Number.isFinite(b)) {
      if (x.length === 0) return; // a column-name header line before the data
      throw new PatternFileError(`${file}:${i + 1}: expected two numbers (2-theta, intensity), got '${line.slice(0, 60)}'`);
    }
    x.push(a);
    y.push(b);
  });
  if (x.length < 2) throw new PatternFileError(`${file} has ${x.length} data rows; a pattern needs at least two (2-theta, intensity) rows`);
  for (let i = 1; i < x.length; i++) {
    if (!(x[i]! > x[i - 1]!)) throw new PatternFileError(`${file}: 2-theta must increase from row to row (row ${i + 1}: ${x[i]} after ${x[i - 1]})`);
  }
  if (spaceGroup !== null && crystalSystem !== null && crystalSystemOf(spaceGroup) !== crystalSystem) {
    throw new PatternFileError(`${file}: space_group ${spaceGroup} is ${crystalSystemOf(spaceGroup)}, but the header says crystal_system ${crystalSystem}`);
  }
  if (spaceGroup !== null && crystalSystem === null) crystalSystem = crystalSystemOf(spaceGroup);
  return { file, twoTheta: Float64Array.from(x), intensity: Float64Array.from(y), spaceGroup, crystalSystem, wavelength };
}

/**
 * The pattern on `grid` by linear interpolation (grid points outside the measured range are 0),
 * scaled so that its maximum is 1. Patterns measured with another wavelength are not converted
 * here: the caller checks `wavelength` first.
 */
export function patternOnGrid(p: MeasuredPattern, grid: Grid): Float32Array {
  const out = new Float32Array(grid.points);
  const xs = p.twoTheta;
  let j = 0;
  for (let i = 0; i < grid.points; i++) {
    const t = grid.twoThetaMin + i * grid.step;
    if (t < xs[0]! || t > xs[xs.length - 1]!) continue;
    while (j < xs.length - 2 && xs[j + 1]! < t) j++;
    const f = (t - xs[j]!) / (xs[j + 1]! - xs[j]!);
    out[i] = p.intensity[j]! * (1 - f) + p.intensity[j + 1]! * f;
  }
  let max = 0;
  for (const v of out) max = Math.max(max, v);
  if (!(max > 0)) throw new PatternFileError(`${p.file} has no positive intensity inside ${grid.twoThetaMin}-${grid.twoThetaMin + (grid.points - 1) * grid.step} deg`);
  for (let i = 0; i < out.length; i++) out[i]! /= max;
  return out;
}

/** Every pattern file of a directory (sorted by name), read and checked to carry labels. */
export function readLabelledDirectory(dir: string): MeasuredPattern[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir)
      .filter((n) => PATTERN_EXTENSIONS.some((e) => n.toLowerCase().endsWith(e)))
      .sort();
  } catch (e) {
    throw new PatternFileError(`cannot read the pattern directory ${dir}: ${(e as Error).message}`);
  }
  if (names.length === 0) throw new PatternFileError(`${dir} has no pattern files (${PATTERN_EXTENSIONS.join(', ')})`);
  return names.map((n) => {
    const p = readPatternFile(join(dir, n));
    if (p.spaceGroup === null && p.crystalSystem === null) {
      throw new PatternFileError(`${p.file} has no label; add a '# space_group: N' or '# crystal_system: NAME' header line`);
    }
    return p;
  });
}
