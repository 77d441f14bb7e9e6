// Pattern files: formats, headers and labels, resampling onto a model grid (another step,
// another anode through d-spacings), and every kind of bad input with its one-line reason.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PatternFileError, patternSources, readLabelledDirectory, readPatternFile, toModelGrid } from '../../src/io/patterns.ts';
import { encodeNpy, npyHeader } from '../../src/sim/npy.ts';
import { mkdirSync } from 'node:fs';
import { DEFAULT_GRID } from '../../src/sim/render.ts';

const tmp = mkdtempSync(join(tmpdir(), 'xrd-patterns-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const RRUFF = join(import.meta.dirname, '../../../shared/data/rruff-dev');

function write(name: string, text: string | Buffer): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

/** A Gaussian peak (FWHM 0.1 deg) at `at` deg, sampled from `from` to `to` with `step`. */
function peakFile(name: string, at: number, from: number, to: number, step: number, header = '', sep = ' ', eol = '\n'): string {
  const rows: string[] = [];
  for (let t = from; t <= to + 1e-9; t += step) rows.push(`${t.toFixed(5)}${sep}${(10 + 1000 * Math.exp(-4 * Math.LN2 * ((t - at) / 0.1) ** 2)).toFixed(3)}`);
  return write(name, header + rows.join(eol) + eol);
}

function argmaxDeg(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return DEFAULT_GRID.twoThetaMin + best * DEFAULT_GRID.step;
}

describe('readPatternFile', () => {
  it.skipIf(!existsSync(RRUFF))('reads RRUFF-style files with their labels (skipped without ../shared/data)', () => {
    const p = readPatternFile(join(RRUFF, 'rruff-dev-000.xy'));
    expect(p.spaceGroup).toBe(14);
    expect(p.crystalSystem).toBe('monoclinic');
    expect(p.wavelength).toBe(1.5418);
    expect(p.twoTheta.length).toBe(8500);
    expect(readLabelledDirectory(RRUFF)).toHaveLength(454);
  });

  it('reads CSV with a column-name line and Windows line endings, XYE with an error column, TSV', () => {
    const csv = peakFile('a.csv', 30, 10, 50, 0.02, '# crystal_system: Cubic\r\ntwo_theta,intensity\r\n', ',', '\r\n');
    const p = readPatternFile(csv);
    expect(p.crystalSystem).toBe('cubic');
    expect(p.twoTheta[0]).toBeCloseTo(10);
    expect(p.twoTheta.length).toBe(2001);
    const xye = write('b.xye', Array.from({ length: 150 }, (_, i) => `${10 + i * 0.1} ${i % 7} 0.5`).join('\n'));
    expect(readPatternFile(xye).intensity[3]).toBe(3);
    const tsv = write('c.txt', '! wavelength = 0.7093\n' + Array.from({ length: 150 }, (_, i) => `${10 + i * 0.1}\t${i}`).join('\n'));
    expect(readPatternFile(tsv).wavelength).toBeCloseTo(0.7093);
  });

  it("reads the XY files xrd simulate writes, with their space-group header", () => {
    const header = '# xrd simulate: x.cif\n# space group: 225 (F m -3 m), cubic\n# wavelength: 1.5418 A, 2theta 5.00-89.99 step 0.01\n# columns: two_theta intensity (maximum 1)\n';
    const p = readPatternFile(peakFile('sim.xy', 31.7, 5, 89.99, 0.01, header));
    expect(p.spaceGroup).toBe(225);
    expect(p.crystalSystem).toBe('cubic');
    expect(p.wavelength).toBe(1.5418);
  });

  const bad: [string, string | Buffer, RegExp][] = [
    ['empty.xy', '', /holds no \(2-theta, intensity\) rows; it is not a pattern file/],
    ['binary.xy', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0xff, 0xfe, 0x10]), /is a binary file/],
    ['nan.xy', '10 1\n10.1 nan\n', /:2: intensity 'nan' is not a finite number/],
    ['inf.xy', '10 1\n10.1 Infinity\n', /:2: intensity 'Infinity' is not a finite number/],
    ['short.xy', Array.from({ length: 50 }, (_, i) => `${10 + i} 1`).join('\n'), /has 50 data rows; a pattern needs at least 100/],
    ['unsorted.xy', Array.from({ length: 120 }, (_, i) => `${i === 60 ? 5 : 10 + i * 0.1} 1`).join('\n'), /2-theta must increase from row to row, but data row 61 has 5 after/],
    ['duplicate.xy', Array.from({ length: 120 }, (_, i) => `${10 + Math.min(i, 100) * 0.1} 1`).join('\n'), /\(a duplicate\)/],
    ['negative.xy', Array.from({ length: 120 }, (_, i) => `${10 + i * 0.1} ${i === 7 ? -500 : 100}`).join('\n'), /intensities go down to -500 \(the maximum is 100\)/],
    ['zeros.xy', Array.from({ length: 120 }, (_, i) => `${10 + i * 0.1} 0`).join('\n'), /no intensity is above zero/],
    ['wl.xy', '# wavelength: -1\n' + Array.from({ length: 120 }, (_, i) => `${10 + i * 0.1} 1`).join('\n'), /:1: wavelength must be a positive number, got '-1'/],
    ['sg.xy', '# space_group: 231\n10 1\n', /:1: space_group must be 1..230, got '231'/],
    ['cs.xy', '# crystal_system: rhombic\n10 1\n', /:1: unknown crystal_system 'rhombic'/],
    ['text.xy', '10 1\n11 2\nhello world\n', /:3: expected two numbers \(2-theta, intensity\), got 'hello world'/],
    ['s.cif', 'data_x\n_cell_length_a 4\n', /it is not a pattern file \(a CIF is a structure/],
  ];
  for (const [name, text, message] of bad) {
    it(`rejects ${name} with one line naming the problem`, () => {
      const file = write(name, text);
      expect(() => readPatternFile(file)).toThrow(PatternFileError);
      expect(() => readPatternFile(file)).toThrow(message);
      try {
        readPatternFile(file);
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
        expect((e as Error).message).not.toMatch(/[\x00-\x08\xff]/);
      }
    });
  }
});

describe('toModelGrid', () => {
  it('puts a peak measured at another step at the right 2-theta, fine steps averaged per cell', () => {
    for (const step of [0.002, 0.01, 0.037]) {
      const { values, coverage } = toModelGrid(readPatternFile(peakFile(`step-${step}.xy`, 30.004, 5, 90, step)), DEFAULT_GRID);
      expect(Math.abs(argmaxDeg(values) - 30)).toBeLessThanOrEqual(0.011);
      expect(Math.max(...values)).toBeCloseTo(1, 6);
      expect(coverage.fraction).toBeCloseTo(1, 3);
    }
    // a narrow peak sampled at 0.001 deg between two grid points keeps most of its height
    const narrow = readPatternFile(peakFile('narrow.xy', 40.005, 5, 90, 0.001));
    const v = toModelGrid(narrow, DEFAULT_GRID).values;
    const i = Math.round((40 - 5) / 0.01);
    expect(Math.max(v[i]!, v[i + 1]!)).toBeGreaterThan(0.5);
  });

  it('moves a Mo K-alpha measurement through d-spacings: d = 2.976 A lands at 30.00 deg for Cu', () => {
    const d = 1.5418 / (2 * Math.sin((15 * Math.PI) / 180));
    const moTwoTheta = (360 / Math.PI) * Math.asin(0.7093 / (2 * d));
    const file = peakFile('mo.xy', moTwoTheta, 2, 40, 0.005, '# wavelength: 0.7093\n');
    const { values, coverage } = toModelGrid(readPatternFile(file), DEFAULT_GRID);
    expect(Math.abs(argmaxDeg(values) - 30)).toBeLessThanOrEqual(0.011);
    // 40 deg at Mo is ~89.9 deg at Cu: nearly the whole range
    expect(coverage.to).toBeGreaterThan(85);
    // --wavelength applies to files without a header
    const plain = peakFile('mo-plain.xy', moTwoTheta, 2, 40, 0.005);
    expect(Math.abs(argmaxDeg(toModelGrid(readPatternFile(plain), DEFAULT_GRID, 0.7093).values) - 30)).toBeLessThanOrEqual(0.011);
  });

  it('reports partial coverage (zeros outside) and refuses a range that misses the grid', () => {
    const { values, coverage } = toModelGrid(readPatternFile(peakFile('part.xy', 30, 20, 60, 0.01)), DEFAULT_GRID);
    expect(coverage.from).toBeCloseTo(20, 6);
    expect(coverage.to).toBeCloseTo(60, 6);
    expect(coverage.fraction).toBeCloseTo(4001 / 8500, 3);
    expect(values[0]).toBe(0);
    expect(values[8499]).toBe(0);
    const miss = readPatternFile(peakFile('miss.xy', 120, 100, 140, 0.05));
    expect(() => toModelGrid(miss, DEFAULT_GRID)).toThrow(/misses the model's range 5-89.99 deg/);
  });
});

describe('.npy arrays and labels.csv', () => {
  const P = DEFAULT_GRID.points;
  const row = (at: number, scale: number) => Float32Array.from({ length: P }, (_, i) => scale * (1 + 100 * Math.exp(-(((i - at) / 3) ** 2))));

  it('reads [N, points] rows on the model grid lazily, with labels from labels.csv by index', () => {
    const dir = join(tmp, 'npy');
    mkdirSync(dir);
    const rows = new Float32Array(3 * P);
    [1000, 2000, 3000].forEach((at, r) => rows.set(row(at, r + 1), r * P));
    writeFileSync(join(dir, 'patterns.npy'), encodeNpy(rows, [3, P]));
    writeFileSync(join(dir, 'labels.csv'), 'index,name,space_group,crystal_system\n0,a,225,cubic\n1,"b, with comma",14,monoclinic\n2,c,62,orthorhombic\n');
    const sources = patternSources([join(dir, 'patterns.npy')], DEFAULT_GRID);
    expect(sources.map((s) => s.name)).toEqual([0, 1, 2].map((r) => `${join(dir, 'patterns.npy')}[${r}]`));
    const p1 = sources[1]!.read();
    expect(p1.spaceGroup).toBe(14);
    expect(p1.crystalSystem).toBe('monoclinic');
    expect(Math.abs(argmaxDeg(toModelGrid(p1, DEFAULT_GRID).values) - (5 + 2000 * 0.01))).toBeLessThan(1e-9);
    // a directory with an .npy and labels.csv is a labelled directory (labels.csv is not a pattern)
    expect(readLabelledDirectory(dir).map((p) => p.spaceGroup)).toEqual([225, 14, 62]);
  });

  it('reads a 1-D float64 pattern and [n, 2] (2-theta, intensity) columns; refuses other shapes and broken rows', () => {
    const f64 = Float64Array.from(row(4000, 1));
    // a float64 header: the float32 one with its descr changed ('<f4' -> '<f8', same length)
    const header = npyHeader([P]);
    const at = Buffer.from(header).indexOf("'<f4'");
    header[at + 3] = '8'.charCodeAt(0);
    const bytes = new Uint8Array(header.length + f64.byteLength);
    bytes.set(header, 0);
    bytes.set(new Uint8Array(f64.buffer), header.length);
    writeFileSync(join(tmp, 'one.npy'), bytes);
    const one = patternSources([join(tmp, 'one.npy')], DEFAULT_GRID);
    expect(one).toHaveLength(1);
    expect(Math.abs(argmaxDeg(toModelGrid(one[0]!.read(), DEFAULT_GRID).values) - 45)).toBeLessThan(1e-9);

    const cols = new Float32Array(2 * 500);
    for (let i = 0; i < 500; i++) {
      cols[2 * i] = 10 + i * 0.1;
      cols[2 * i + 1] = 1 + 50 * Math.exp(-(((10 + i * 0.1 - 33) / 0.2) ** 2));
    }
    writeFileSync(join(tmp, 'cols.npy'), encodeNpy(cols, [500, 2]));
    const c = patternSources([join(tmp, 'cols.npy')], DEFAULT_GRID)[0]!.read();
    expect(c.twoTheta[0]).toBeCloseTo(10, 5);
    expect(Math.abs(argmaxDeg(toModelGrid(c, DEFAULT_GRID).values) - 33)).toBeLessThan(0.011);

    writeFileSync(join(tmp, 'odd.npy'), encodeNpy(new Float32Array(12), [3, 4]));
    expect(() => patternSources([join(tmp, 'odd.npy')], DEFAULT_GRID)[0]!.read()).toThrow(/shape \(3, 4\) is not a pattern: use \[8500\] or \[N, 8500\]/);
    const bad = row(1000, 1);
    bad[77] = NaN;
    writeFileSync(join(tmp, 'nan.npy'), encodeNpy(bad, [1, P]));
    expect(() => patternSources([join(tmp, 'nan.npy')], DEFAULT_GRID)[0]!.read()).toThrow(/nan.npy\[0\]: value 78 .* is not finite/);
    writeFileSync(join(tmp, 'ints.npy'), encodeNpy(new Int32Array(P), [P]));
    expect(() => patternSources([join(tmp, 'ints.npy')], DEFAULT_GRID)[0]!.read()).toThrow(/dtype <i4 is not a float array/);
  });

  it('labels text files from labels.csv by file name when their headers have none', () => {
    const dir = join(tmp, 'csvlabels');
    mkdirSync(dir);
    const plain = (name: string) => peakFile(join('csvlabels', name), 30, 5, 90, 0.02);
    plain('x1.xy');
    plain('x2.xy');
    writeFileSync(join(dir, 'labels.csv'), 'file,crystal_system\nx1.xy,hexagonal\nx2.xy,Cubic\n');
    expect(readLabelledDirectory(dir).map((p) => p.crystalSystem)).toEqual(['hexagonal', 'cubic']);
  });
});
