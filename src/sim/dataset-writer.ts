// Writes a pattern dataset to a folder for other tools (NumPy, pandas, PyTorch), streaming:
//   patterns.npy   float32 [count, points] (or patterns.csv, one pattern per line, no header)
//   labels.json    array of { index, name, space_group, crystal_system, crystal_system_id, ...params }
//                  one object per line
//   labels.csv     the same rows flattened (nested parameters as dotted columns: effects.zero_shift)
//   dataset.json   grid, wavelength, count, file names and whatever metadata the caller adds
// The .npy header carries the final shape, so it is written first and rows are appended as batches
// arrive: only one batch is ever in memory. labels.csv is produced at close() by re-reading
// labels.json line by line, since its columns (the union of all rows' keys) are known only then.
//
// All or nothing: the files are written into a staging folder beside the target (DIR.partial-PID)
// and moved into place by close() once complete; abort() (an error, Ctrl-C) deletes the staging
// folder. A lock file (DIR.lock, holding the writer's pid) refuses a second writer at once; a
// lock whose process is gone is taken over.

import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { checkFreeSpace, makeDirectory } from '../io/files.ts';
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

/** Every file a dataset folder may hold. */
const DATASET_FILES = ['patterns.npy', 'patterns.csv', 'labels.json', 'labels.csv', 'dataset.json'];

/** The target must be absent, empty, or (with overwrite) a dataset folder; never other files. */
function checkTarget(dir: string, overwrite: boolean): void {
  if (!existsSync(dir)) return;
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('it is a file, not a folder');
    entries = readdirSync(dir);
  } catch (e) {
    throw new DatasetWriteError(`cannot write the dataset to ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const foreign = entries.filter((f) => !DATASET_FILES.includes(f));
  if (foreign.length) throw new DatasetWriteError(`${dir} holds other files (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); write the dataset to a new or empty folder`);
  if (entries.length && !overwrite) throw new DatasetWriteError(`${dir} already holds a dataset; pass --overwrite to replace it or choose another folder`);
}

/** DIR.lock with our pid, created exclusively; a lock of a process that is gone is taken over. */
function takeLock(dir: string): void {
  const lock = `${dir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new DatasetWriteError(`cannot write beside ${dir}: ${(e as Error).message}`);
    }
    const pid = Number(readFileSync(lock, 'utf8').trim());
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      // no such process: the lock is stale
    }
    if (alive) throw new DatasetWriteError(`another xrd (pid ${pid}) is writing ${dir}; wait for it to finish or choose another folder`);
    rmSync(lock, { force: true });
    rmSync(`${dir}.partial-${pid}`, { recursive: true, force: true });
  }
  throw new DatasetWriteError(`cannot lock ${dir}: ${lock} keeps coming back; is another xrd starting?`);
}

export class DatasetWriter {
  private written = 0;
  private patternsFd: number;
  private labelsFd: number;
  private closed = false;
  private readonly paramColumns = new Set<string>();
  private readonly format: PatternFormat;
  private readonly patternsFile: string;

  /** Where the files are written until close() moves them to `dir`. */
  private readonly staging: string;

  private constructor(
    readonly dir: string,
    private readonly options: DatasetWriterOptions,
  ) {
    this.format = options.format ?? 'npy';
    this.patternsFile = this.format === 'npy' ? 'patterns.npy' : 'patterns.csv';
    this.staging = `${dir}.partial-${process.pid}`;
    rmSync(this.staging, { recursive: true, force: true });
    mkdirSync(this.staging);
    this.patternsFd = openSync(join(this.staging, this.patternsFile), 'w');
    this.labelsFd = openSync(join(this.staging, 'labels.json'), 'w');
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
    checkTarget(dir, options.overwrite ?? false);
    try {
      makeDirectory(dirname(resolve(dir)));
    } catch (e) {
      throw new DatasetWriteError(`cannot create the folder of ${dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
    // float32 .npy rows, or about 10 characters a value in CSV, plus about 400 bytes of labels a row.
    const bytes = count * (grid.points * (options.format === 'csv' ? 10 : 4) + 400);
    try {
      checkFreeSpace(dirname(resolve(dir)), bytes, `a dataset of ${count} patterns of ${grid.points} points`);
    } catch (e) {
      throw new DatasetWriteError(`${(e as Error).message}; lower --count or write elsewhere`);
    }
    takeLock(dir);
    try {
      return new DatasetWriter(dir, options);
    } catch (e) {
      rmSync(`${dir}.partial-${process.pid}`, { recursive: true, force: true });
      rmSync(`${dir}.lock`, { force: true });
      throw new DatasetWriteError(`cannot write beside ${dir}: ${e instanceof Error ? e.message : String(e)}`);
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

  /** Stop after a failure or an interruption: delete everything written so far; the target is untouched. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.patternsFd);
    closeSync(this.labelsFd);
    rmSync(this.staging, { recursive: true, force: true });
    rmSync(`${this.dir}.lock`, { force: true });
  }

  /** Finish the files; throws DatasetWriteError when fewer rows than announced were appended. */
  async close(): Promise<DatasetSummary> {
    if (this.closed) throw new DatasetWriteError('close() called twice');
    this.closed = true;
    writeSync(this.labelsFd, '\n]\n');
    closeSync(this.patternsFd);
    closeSync(this.labelsFd);
    if (this.written !== this.options.count) {
      rmSync(this.staging, { recursive: true, force: true });
      rmSync(`${this.dir}.lock`, { force: true });
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
    writeFileSync(join(this.staging, 'dataset.json'), JSON.stringify(description, null, 2) + '\n');
    this.moveIntoPlace();
    const bytes = this.format === 'npy' ? npyHeader([this.options.count, grid.points]).length + this.options.count * grid.points * 4 : NaN;
    return { dir: this.dir, count: this.written, files, bytes };
  }

  /** Replaces the target with the complete staging folder (an old dataset there goes first). */
  private moveIntoPlace(): void {
    try {
      if (existsSync(this.dir)) {
        for (const f of DATASET_FILES) rmSync(join(this.dir, f), { force: true });
        rmdirSync(this.dir); // empty now: checkTarget allowed nothing else in it
      }
      renameSync(this.staging, this.dir);
    } finally {
      rmSync(`${this.dir}.lock`, { force: true });
    }
  }

  /** Parameter columns; a key that is null in some rows and an object in others keeps only its sub-keys. */
  private paramColumnList(): string[] {
    const keys = [...this.paramColumns].sort();
    return keys.filter((k) => !keys.some((other) => other.startsWith(`${k}.`)));
  }

  private async writeLabelsCsv(): Promise<void> {
    const columns = [...LABEL_COLUMNS, ...this.paramColumnList()];
    const tmp = join(this.staging, 'labels.csv.partial');
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, columns.map(csvCell).join(',') + '\n');
      const lines = createInterface({ input: createReadStream(join(this.staging, 'labels.json')), crlfDelay: Infinity });
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
    renameSync(tmp, join(this.staging, 'labels.csv'));
  }
}
