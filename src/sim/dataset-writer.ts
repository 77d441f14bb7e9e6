// Writes a pattern dataset to a folder for other tools (NumPy, pandas, PyTorch), streaming:
//   patterns.npy   float32 [count, points] (or patterns.csv, one pattern per line, no header)
//   labels.json    array of { index, name, space_group, crystal_system, crystal_system_id, ...params }
//                  one object per line
//   labels.csv     the same rows flattened (nested parameters as dotted columns: effects.zero_shift)
//   dataset.json   grid, wavelength, count, file names and whatever metadata the caller adds
// The .npy header carries the final shape, so it is written first and rows are appended as batches
// arrive: only one batch is ever in memory. labels.csv is produced at close() by re-reading
// labels.json line by line, since its columns (the union of all rows' keys) are known only then.

import { closeSync, createReadStream, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CRYSTAL_SYSTEMS, crystalSystemOf, type CrystalSystem } from './crystal.ts';
import { npyHeader } from './npy.ts';

export class DatasetWriteError extends Error {
  override name = 'DatasetWriteError';
}

export type PatternFormat = 'npy' | 'csv';

export interface DatasetGrid {
  /** Degrees: first grid point, step, number of points. */
  twoThetaMin: number;
  step: number;
  points: number;
  /** Angstrom. */
  wavelength: number;
}

/** One pattern's labels. `params` (drawn effect parameters, ...) may nest objects and arrays. */
export interface DatasetLabel {
  name: string;
  spaceGroup: number;
  params?: Record<string, unknown>;
}

export interface DatasetWriterOptions {
  count: number;
  grid: DatasetGrid;
  format?: PatternFormat;
  /** Extra fields for dataset.json (preset, seed, version, ...). */
  metadata?: Record<string, unknown>;
  /** Replace an existing dataset in the folder; otherwise an existing dataset.json is an error. */
  overwrite?: boolean;
}

export interface DatasetSummary {
  dir: string;
  count: number;
  files: string[];
  bytes: number;
}

type Scalar = string | number | boolean | null;

/** Nested objects/arrays to dotted keys: { a: { b: [1, 2] } } -> { 'a.b.0': 1, 'a.b.1': 2 }. */
export function flattenRecord(value: Record<string, unknown>, prefix = '', out: Record<string, Scalar> = {}): Record<string, Scalar> {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object') {
      flattenRecord(v as Record<string, unknown>, key, out);
    } else if (v === undefined) {
      continue;
    } else if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v === null) {
      out[key] = v;
    } else {
      out[key] = String(v);
    }
  }
  return out;
}

function csvCell(v: Scalar | undefined): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const LABEL_COLUMNS = ['index', 'name', 'space_group', 'crystal_system', 'crystal_system_id'];

export class DatasetWriter {
  private written = 0;
  private patternsFd: number;
  private labelsFd: number;
  private closed = false;
  private readonly paramColumns = new Set<string>();
  private readonly format: PatternFormat;
  private readonly patternsFile: string;

  private constructor(
    readonly dir: string,
    private readonly options: DatasetWriterOptions,
  ) {
    this.format = options.format ?? 'npy';
    this.patternsFile = this.format === 'npy' ? 'patterns.npy' : 'patterns.csv';
    this.patternsFd = openSync(join(dir, this.patternsFile), 'w');
    this.labelsFd = openSync(join(dir, 'labels.json'), 'w');
    if (this.format === 'npy') writeSync(this.patternsFd, npyHeader([options.count, options.grid.points], '<f4'));
    writeSync(this.labelsFd, '[\n');
  }

  /** Create the folder (if needed) and start the files. Throws DatasetWriteError. */
  static open(dir: string, options: DatasetWriterOptions): DatasetWriter {
    const { count, grid } = options;
    if (!Number.isInteger(count) || count < 1) throw new DatasetWriteError(`dataset count must be a positive integer, got ${count}`);
    if (!Number.isInteger(grid.points) || grid.points < 1) throw new DatasetWriteError(`grid points must be a positive integer, got ${grid.points}`);
    if (options.format !== undefined && options.format !== 'npy' && options.format !== 'csv') {
      throw new DatasetWriteError(`unknown pattern format '${String(options.format)}'; use npy or csv`);
    }
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new DatasetWriteError(`cannot create the dataset folder ${dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!options.overwrite && existsSync(join(dir, 'dataset.json'))) {
      throw new DatasetWriteError(`${dir} already holds a dataset (dataset.json); choose another folder or allow overwriting`);
    }
    // A dataset.json from an earlier run would describe files we are about to replace.
    rmSync(join(dir, 'dataset.json'), { force: true });
    try {
      return new DatasetWriter(dir, options);
    } catch (e) {
      throw new DatasetWriteError(`cannot write into ${dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  get rowsWritten(): number {
    return this.written;
  }

  /**
   * Append `labels.length` patterns (row-major, labels.length x points values, finite).
   * Throws DatasetWriteError when the rows would exceed the announced count or a value is not finite.
   */
  append(patterns: Float32Array, labels: DatasetLabel[]): void {
    if (this.closed) throw new DatasetWriteError('append() after close()');
    const { points } = this.options.grid;
    const rows = labels.length;
    if (patterns.length !== rows * points) {
      throw new DatasetWriteError(`append(): ${rows} labels need ${rows * points} pattern values (${points} per pattern), got ${patterns.length}`);
    }
    if (this.written + rows > this.options.count) {
      throw new DatasetWriteError(`append(): ${this.written + rows} patterns exceed the dataset count ${this.options.count}`);
    }
    for (let i = 0; i < patterns.length; i++) {
      if (!Number.isFinite(patterns[i])) {
        const row = Math.floor(i / points);
        throw new DatasetWriteError(
          `pattern ${this.written + row} ('${labels[row].name}') has a non-finite value at point ${i % points}; the simulator produced NaN or Infinity`,
        );
      }
    }
    if (this.format === 'npy') {
      writeSync(this.patternsFd, new Uint8Array(patterns.buffer, patterns.byteOffset, patterns.byteLength));
    } else {
      const lines: string[] = [];
      for (let r = 0; r < rows; r++) {
        const cells = new Array<string>(points);
        for (let j = 0; j < points; j++) cells[j] = String(+patterns[r * points + j].toPrecision(7));
        lines.push(cells.join(','));
      }
      writeSync(this.patternsFd, lines.join('\n') + '\n');
    }
    const out: string[] = [];
    for (let r = 0; r < rows; r++) {
      const label = labels[r];
      const system: CrystalSystem = crystalSystemOf(label.spaceGroup);
      const params = label.params ?? {};
      for (const reserved of LABEL_COLUMNS) {
        if (reserved in params) throw new DatasetWriteError(`label parameter '${reserved}' clashes with a fixed label column; rename it`);
      }
      const row = {
        index: this.written + r,
        name: label.name,
        space_group: label.spaceGroup,
        crystal_system: system,
        crystal_system_id: CRYSTAL_SYSTEMS.indexOf(system),
        ...params,
      };
      for (const k of Object.keys(flattenRecord(params))) this.paramColumns.add(k);
      out.push(JSON.stringify(row));
    }
    const sep = this.written === 0 ? '' : ',\n';
    writeSync(this.labelsFd, sep + out.join(',\n'));
    this.written += rows;
  }

  /** Stop after a failure: close and delete the files written so far. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.patternsFd);
    closeSync(this.labelsFd);
    rmSync(join(this.dir, this.patternsFile), { force: true });
    rmSync(join(this.dir, 'labels.json'), { force: true });
  }

  /** Finish the files; throws DatasetWriteError when fewer rows than announced were appended. */
  async close(): Promise<DatasetSummary> {
    if (this.closed) throw new DatasetWriteError('close() called twice');
    this.closed = true;
    writeSync(this.labelsFd, '\n]\n');
    closeSync(this.patternsFd);
    closeSync(this.labelsFd);
    if (this.written !== this.options.count) {
      throw new DatasetWriteError(
        `only ${this.written} of ${this.options.count} patterns were written to ${this.dir}; the files are incomplete, write the dataset again`,
      );
    }
    await this.writeLabelsCsv();
    const { grid } = this.options;
    const files = [this.patternsFile, 'labels.json', 'labels.csv', 'dataset.json'];
    const description = {
      ...this.options.metadata,
      count: this.options.count,
      grid: {
        two_theta_min: grid.twoThetaMin,
        two_theta_max: +(grid.twoThetaMin + (grid.points - 1) * grid.step).toFixed(10),
        step: grid.step,
        points: grid.points,
      },
      wavelength: grid.wavelength,
      patterns: {
        file: this.patternsFile,
        dtype: 'float32',
        shape: [this.options.count, grid.points],
        normalisation: 'maximum 1 per pattern',
      },
      labels: {
        files: ['labels.json', 'labels.csv'],
        columns: [...LABEL_COLUMNS, ...this.paramColumnList()],
        crystal_systems: CRYSTAL_SYSTEMS,
      },
      files,
    };
    writeFileSync(join(this.dir, 'dataset.json'), JSON.stringify(description, null, 2) + '\n');
    const bytes = this.format === 'npy' ? npyHeader([this.options.count, grid.points]).length + this.options.count * grid.points * 4 : NaN;
    return { dir: this.dir, count: this.written, files, bytes };
  }

  /** Parameter columns; a key that is null in some rows and an object in others keeps only its sub-keys. */
  private paramColumnList(): string[] {
    const keys = [...this.paramColumns].sort();
    return keys.filter((k) => !keys.some((other) => other.startsWith(`${k}.`)));
  }

  private async writeLabelsCsv(): Promise<void> {
    const columns = [...LABEL_COLUMNS, ...this.paramColumnList()];
    const tmp = join(this.dir, 'labels.csv.partial');
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, columns.map(csvCell).join(',') + '\n');
      const lines = createInterface({ input: createReadStream(join(this.dir, 'labels.json')), crlfDelay: Infinity });
      let batch: string[] = [];
      for await (const line of lines) {
        const t = line.endsWith(',') ? line.slice(0, -1) : line;
        if (t === '[' || t === ']' || t === '') continue;
        const flat = flattenRecord(JSON.parse(t) as Record<string, unknown>);
        batch.push(columns.map((c) => csvCell(flat[c])).join(','));
        if (batch.length >= 1024) {
          writeSync(fd, batch.join('\n') + '\n');
          batch = [];
        }
      }
      if (batch.length) writeSync(fd, batch.join('\n') + '\n');
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, 'labels.csv'));
  }
}
