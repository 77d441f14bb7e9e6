import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetWriteError, DatasetWriter, flattenRecord } from '../../src/sim/dataset-writer.ts';
import { NpyError, decodeNpy, encodeNpy, npyHeader, parseNpyHeader } from '../../src/sim/npy.ts';

const PY = '/usr/bin/python3';
const hasNumpy = (() => {
  if (!existsSync(PY)) return false;
  try {
    execFileSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const tmp = mkdtempSync(join(tmpdir(), 'xrd-dataset-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const grid = { twoThetaMin: 5, step: 0.5, points: 7, wavelength: 1.5418 };

function patternsOf(rows: number, offset: number): Float32Array {
  const a = new Float32Array(rows * grid.points);
  for (let i = 0; i < a.length; i++) a[i] = Math.fround((offset * grid.points + i) / 97 + 1 / 3);
  return a;
}

describe('npy format', () => {
  it('pads the header to 64 bytes with the fields numpy expects', () => {
    for (const shape of [[3, 8500], [1], [123456789, 8500], []]) {
      const h = npyHeader(shape);
      expect(h.length % 64).toBe(0);
      expect(h[h.length - 1]).toBe(0x0a);
      const text = new TextDecoder().decode(h.slice(10));
      expect(text).toContain("'descr': '<f4'");
      expect(text).toContain("'fortran_order': False");
      expect(h[8] | (h[9] << 8)).toBe(h.length - 10);
      expect(parseNpyHeader(h).shape).toEqual(shape);
    }
    expect(new TextDecoder().decode(npyHeader([5]))).toContain("'shape': (5,)");
  });

  it('round-trips float32 and int32 data bit for bit', () => {
    const f = new Float32Array([0, -1.5, 3.25e-20, 1e30, Math.PI, NaN]);
    const back = decodeNpy(encodeNpy(f, [2, 3]));
    expect(back.shape).toEqual([2, 3]);
    expect(new Uint32Array(back.data.buffer)).toEqual(new Uint32Array(f.buffer));
    const i = new Int32Array([-7, 0, 2147483647]);
    const bi = decodeNpy(encodeNpy(i, [3]));
    expect(bi.data).toBeInstanceOf(Int32Array);
    expect(Array.from(bi.data)).toEqual([-7, 0, 2147483647]);
  });

  it('rejects wrong shapes, bad magic and truncated data', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(NpyError);
    expect(() => decodeNpy(new Uint8Array(64))).toThrow(/magic/);
    const bytes = encodeNpy(new Float32Array(6), [2, 3]);
    expect(() => decodeNpy(bytes.slice(0, bytes.length - 4))).toThrow(/needs 24/);
  });

  it.skipIf(!hasNumpy)('numpy reads what we write (skipped without /usr/bin/python3 + numpy)', () => {
    const f = new Float32Array([1, 2.5, -3, 0.1, 5, 6]);
    const p = join(tmp, 'small.npy');
    writeFileSync(p, encodeNpy(f, [3, 2]));
    const out = execFileSync(PY, ['-c', `import numpy as n; a=n.load(${JSON.stringify(p)}); print(a.dtype, a.shape, repr(a.ravel().tolist()))`], { encoding: 'utf8' });
    expect(out.trim()).toBe(`float32 (3, 2) [1.0, 2.5, -3.0, ${Math.fround(0.1)}, 5.0, 6.0]`);
  });
});

describe('DatasetWriter', () => {
  it('flattens nested parameters to dotted keys', () => {
    expect(flattenRecord({ a: 1, b: { c: [2, 3], d: null }, e: undefined, f: 'x' })).toEqual({ a: 1, 'b.c.0': 2, 'b.c.1': 3, 'b.d': null, f: 'x' });
  });

  it('streams batches into one .npy with the final shape and writes labels as JSON and CSV', async () => {
    const dir = join(tmp, 'ds');
    const w = DatasetWriter.open(dir, { count: 5, grid, metadata: { preset: 'paper', seed: 7 } });
    w.append(patternsOf(2, 0), [
      { name: 'a', spaceGroup: 225, params: { zero_shift: 0.01, caglioti: { U: 0.05, V: -0.06 } } },
      { name: 'b, "quoted"', spaceGroup: 1 },
    ]);
    w.append(patternsOf(3, 2), [
      { name: 'c', spaceGroup: 136, params: { impurity: { fraction: 0.1 }, caglioti: null } },
      { name: 'd', spaceGroup: 194 },
      { name: 'e', spaceGroup: 15 },
    ]);
    const summary = await w.close();
    expect(summary.count).toBe(5);
    const { data, shape } = decodeNpy(new Uint8Array(readFileSync(join(dir, 'patterns.npy'))));
    expect(shape).toEqual([5, 7]);
    expect(Array.from(data)).toEqual(Array.from(patternsOf(5, 0)));

    const labels = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')) as Record<string, unknown>[];
    expect(labels.map((l) => l.index)).toEqual([0, 1, 2, 3, 4]);
    expect(labels.map((l) => l.crystal_system)).toEqual(['cubic', 'triclinic', 'tetragonal', 'hexagonal', 'monoclinic']);
    expect(labels.map((l) => l.crystal_system_id)).toEqual([6, 0, 3, 5, 1]);
    expect(labels[0].caglioti).toEqual({ U: 0.05, V: -0.06 });

    const csv = readFileSync(join(dir, 'labels.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('index,name,space_group,crystal_system,crystal_system_id,caglioti.U,caglioti.V,impurity.fraction,zero_shift');
    expect(csv[1]).toBe('0,a,225,cubic,6,0.05,-0.06,,0.01');
    expect(csv[2]).toBe('1,"b, ""quoted""",1,triclinic,0,,,,');
    expect(csv[3]).toBe('2,c,136,tetragonal,3,,,0.1,');
    expect(csv).toHaveLength(6);

    const meta = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
    expect(meta).toMatchObject({ preset: 'paper', seed: 7, count: 5, wavelength: 1.5418, grid: { two_theta_min: 5, two_theta_max: 8, step: 0.5, points: 7 } });
    expect(meta.patterns.shape).toEqual([5, 7]);
  });

  it('writes patterns as CSV when asked', async () => {
    const dir = join(tmp, 'csv');
    const w = DatasetWriter.open(dir, { count: 2, grid, format: 'csv' });
    const p = patternsOf(2, 0);
    w.append(p, [{ name: 'a', spaceGroup: 2 }, { name: 'b', spaceGroup: 3 }]);
    await w.close();
    const rows = readFileSync(join(dir, 'patterns.csv'), 'utf8').trimEnd().split('\n').map((l) => l.split(',').map(Number));
    expect(rows).toHaveLength(2);
    rows.flat().forEach((v, i) => expect(v).toBeCloseTo(p[i], 6));
  });

  it('refuses too many rows, too few rows, NaN, and an existing dataset', async () => {
    const dir = join(tmp, 'bad');
    const w = DatasetWriter.open(dir, { count: 2, grid });
    expect(() => w.append(patternsOf(3, 0), [{ name: 'a', spaceGroup: 1 }, { name: 'b', spaceGroup: 1 }, { name: 'c', spaceGroup: 1 }])).toThrow(/exceed the dataset count 2/);
    expect(() => w.append(patternsOf(2, 0), [{ name: 'a', spaceGroup: 1 }])).toThrow(/need 7 pattern values/);
    const nan = patternsOf(1, 0);
    nan[3] = NaN;
    expect(() => w.append(nan, [{ name: 'n', spaceGroup: 1 }])).toThrow(/non-finite value at point 3/);
    w.append(patternsOf(1, 0), [{ name: 'a', spaceGroup: 1 }]);
    await expect(w.close()).rejects.toThrow(DatasetWriteError);

    const done = join(tmp, 'done');
    const w2 = DatasetWriter.open(done, { count: 1, grid });
    w2.append(patternsOf(1, 0), [{ name: 'a', spaceGroup: 1 }]);
    await w2.close();
    expect(() => DatasetWriter.open(done, { count: 1, grid })).toThrow(/already holds a dataset/);
    expect(() => DatasetWriter.open(done, { count: 0, grid, overwrite: true })).toThrow(/positive integer/);

    const aborted = join(tmp, 'aborted');
    const w3 = DatasetWriter.open(aborted, { count: 3, grid });
    w3.append(patternsOf(1, 0), [{ name: 'a', spaceGroup: 1 }]);
    w3.abort();
    expect(existsSync(join(aborted, 'patterns.npy')) || existsSync(join(aborted, 'labels.json'))).toBe(false);
    expect(() => w3.append(patternsOf(1, 0), [{ name: 'a', spaceGroup: 1 }])).toThrow(/after close/);
  });

  it.skipIf(!hasNumpy)('numpy loads a streamed dataset with the right shape and values', async () => {
    const dir = join(tmp, 'np');
    const w = DatasetWriter.open(dir, { count: 4, grid });
    for (let b = 0; b < 4; b++) w.append(patternsOf(1, b), [{ name: `x${b}`, spaceGroup: 1 + b }]);
    await w.close();
    const out = execFileSync(PY, ['-c', `import numpy as n; a=n.load(${JSON.stringify(join(dir, 'patterns.npy'))}); print(a.dtype, a.shape, float(a.sum()))`], { encoding: 'utf8' });
    const sum = patternsOf(4, 0).reduce((s, v) => s + v, 0);
    const [dtype, s0, s1, total] = out.trim().split(' ');
    expect(`${dtype} ${s0} ${s1}`).toBe('float32 (4, 7)');
    expect(Number(total)).toBeCloseTo(sum, 3);
  });
});
