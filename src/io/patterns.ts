// Measured pattern files: reading two-column text files (parsed by pattern-text.ts), .npy arrays,
// directories and labels.csv files.
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { npyItemSize, parseNpyHeader } from '../sim/npy.ts';
import { CRYSTAL_SYSTEMS, crystalSystemOf, type CrystalSystem } from '../sim/crystal.ts';
import { DEFAULT_GRID, gridTwoTheta, type Grid } from '../sim/render.ts';
import { checkedPattern, parsePatternText, PatternFileError, type MeasuredPattern } from './pattern-text.ts';

export { coveredRange, gridRows, MIN_POINTS, NEGATIVE_TOLERANCE, parsePatternText, PatternFileError, toModelGrid, type GridCoverage, type MeasuredPattern } from './pattern-text.ts';

export const PATTERN_EXTENSIONS = ['.xy', '.xye', '.csv', '.txt', '.dat', '.npy'];

/** Reads a two-column pattern file (see pattern-text.ts). */
export function readPatternFile(file: string): MeasuredPattern {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PatternFileError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parsePatternText(text, file);
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
    const angles = gridTwoTheta(grid);
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
