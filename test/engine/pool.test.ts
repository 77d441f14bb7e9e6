import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../helpers/data.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import { avgPool1d, avgPool1dBackward, segmentMean, segments } from '../../src/engine/ops/pool.ts';
import { maxRelError, numericVjp } from '../reference/gradcheck.ts';
import { windowOutputLength } from '../../src/engine/ops/common.ts';
import { avgPool1dBackwardRef, avgPool1dRef, segmentMeanRef } from '../reference/pool.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

// [N, C, L], kernel, stride: tiny, ragged, overlapping (k > s), gapped (k < s), and the SCNN's
// first pooling layer on the conv1 output (80 x 1681).
const CASES: [number[], number, number | undefined][] = [
  [[1, 1, 1], 1, undefined],
  [[1, 1, 3], 3, undefined],
  [[2, 3, 11], 3, 2],
  [[3, 5, 17], 4, 3],
  [[2, 3, 19], 2, 5],
  [[1, 7, 13], 3, undefined],
  [[8, 80, 1681], 3, 2],
];

describe('avgPool1d', () => {
  for (const [shape, kernel, stride] of CASES) {
    it(`forward and backward match the reference on [${shape}] k=${kernel} s=${stride ?? kernel}`, async () => {
      const [n, c, len] = shape as [number, number, number];
      const s = stride ?? kernel;
      const lo = windowOutputLength(len, kernel, s);
      const xv = data(n * c * len, len);
      const dyv = data(n * c * lo, len + 1);
      const x = engine.tensor(xv, shape);
      const y = avgPool1d(engine, x, { kernel, stride });
      expect(y.shape).toEqual([n, c, lo]);
      const dy = engine.tensor(dyv, y.shape);
      const dx = avgPool1dBackward(engine, dy, shape, { kernel, stride });
      expect(dx.shape).toEqual(shape);
      // inputs are O(1) with mixed signs, so means can cancel to ~0: atol 1e-2 keeps the test
      // about fp32 rounding (~1e-7 absolute) rather than relative error of near-zero results
      expect(maxRelError(await y.read(), avgPool1dRef(xv, n * c, len, kernel, s), 1e-2)).toBeLessThan(1e-4);
      expect(maxRelError(await dx.read(), avgPool1dBackwardRef(dyv, n * c, len, kernel, s), 1e-2)).toBeLessThan(1e-4);
      for (const t of [x, y, dy, dx]) t.dispose();
    });
  }

  it('backward matches float64 finite differences', async () => {
    for (const [shape, kernel, stride] of CASES.slice(0, 6)) {
      const [n, c, len] = shape as [number, number, number];
      const s = stride ?? kernel;
      const lo = windowOutputLength(len, kernel, s);
      const xv = data(n * c * len, 7);
      const dyv = data(n * c * lo, 8);
      const dx = avgPool1dBackward(engine, engine.tensor(dyv, [n, c, lo]), shape, { kernel, stride });
      const fd = numericVjp((z) => avgPool1dRef(z, n * c, len, kernel, s), xv, dyv);
      expect(maxRelError(await dx.read(), fd, 1e-6)).toBeLessThan(1e-3);
    }
  });

  it('matches PyTorch AvgPool1d(3, stride=2) on a fixed input', async () => {
    // torch 1.13: x = arange(22).reshape(1, 2, 11) ** 1.5, dy = arange(10) + 1
    const xv = Array.from({ length: 22 }, (_, i) => i ** 1.5);
    const y = avgPool1d(engine, engine.tensor(xv, [1, 2, 11]), { kernel: 3, stride: 2 });
    const torchY = [
      1.2761423749, 5.3415265158, 11.2924261147, 18.614871544, 27.0833978666, 41.6414195522, 52.450040063, 64.0625152762,
      76.4264693103, 89.4986295404,
    ];
    expect(maxRelError(await y.read(), torchY)).toBeLessThan(1e-6);
    const dy = engine.tensor(Array.from({ length: 10 }, (_, i) => i + 1), [1, 2, 5]);
    const dx = avgPool1dBackward(engine, dy, [1, 2, 11], { kernel: 3, stride: 2 });
    const t = 1 / 3;
    const torchDx = [
      t, t, 1, 2 * t, 5 * t, 1, 7 * t, 4 * t, 3, 5 * t, 5 * t, 2, 2, 13 * t, 7 * t, 5, 8 * t, 17 * t, 3, 19 * t, 10 * t, 10 * t,
    ];
    expect(maxRelError(await dx.read(), torchDx)).toBeLessThan(1e-6);
  });

  it('rejects bad shapes and params with typed errors', () => {
    const x = engine.zeros([2, 3, 5]);
    expect(() => avgPool1d(engine, engine.zeros([3, 5]), { kernel: 2 })).toThrow(/must be \[N, C, L\]/);
    expect(() => avgPool1d(engine, x, { kernel: 6 })).toThrow(ShapeError);
    expect(() => avgPool1d(engine, x, { kernel: 0 })).toThrow(ValueError);
    expect(() => avgPool1d(engine, x, { kernel: 2, stride: 1.5 })).toThrow(/stride must be a positive integer/);
    expect(() => avgPool1dBackward(engine, engine.zeros([2, 3, 3]), [2, 3, 5], { kernel: 2 })).toThrow(
      /dy must be \[2, 3, 2\] for input \[2, 3, 5\], got \[2, 3, 3\]/,
    );
    expect(() => avgPool1d(engine, engine.zeros([2, 3, 5], 'u32'), { kernel: 2 })).toThrow(ShapeError);
  });
});

describe('segmentMean', () => {
  // one segment; single-point segments; ragged segments not reaching the end of the axis; widths
  // growing along the axis like log-Q bins over a 2-theta grid (8500 points, 1392 segments)
  const logLike = [0];
  for (let s = 1; logLike[logLike.length - 1]! < 8400; s++) logLike.push(Math.round(8400 * (s / 1392) ** 2) + s);
  const CASES: [number, number, number[]][] = [
    [1, 4, [0, 4]],
    [2, 5, [0, 1, 2, 3, 4, 5]],
    [3, 17, [2, 3, 7, 8, 15]],
    [4, 8500, logLike],
  ];
  for (const [n, len, starts] of CASES) {
    it(`matches the reference on [${n}, ${len}] with ${starts.length - 1} segments`, async () => {
      const xv = data(n * len, len);
      const seg = segments(engine, starts, len);
      const x = engine.tensor(xv, [n, len]);
      const y = segmentMean(engine, x, seg);
      expect(y.shape).toEqual([n, starts.length - 1]);
      expect(maxRelError(await y.read(), segmentMeanRef(xv, n, len, starts), 1e-2)).toBeLessThan(1e-4);
      for (const t of [x, y, seg.tensor]) t.dispose();
    });
  }

  it('equals avgPool1d when the segments are equal windows', async () => {
    const xv = data(3 * 12, 5);
    const seg = segments(engine, [0, 3, 6, 9, 12], 12);
    const a = await segmentMean(engine, engine.tensor(xv, [3, 12]), seg).read();
    const b = await avgPool1d(engine, engine.tensor(xv, [3, 1, 12]), { kernel: 3 }).read();
    expect(maxRelError(a, b)).toBeLessThan(1e-6);
    seg.tensor.dispose();
  });

  it('rejects empty, unordered or out-of-range segments and a wrong input length', () => {
    expect(() => segments(engine, [0], 4)).toThrow(/at least one segment/);
    expect(() => segments(engine, [0, 2, 2, 4], 4)).toThrow(/segment 1 \[2, 2\) must be non-empty/);
    expect(() => segments(engine, [0, 3, 2], 4)).toThrow(ValueError);
    expect(() => segments(engine, [0, 5], 4)).toThrow(/within 0..4/);
    const seg = segments(engine, [0, 2, 4], 4);
    expect(() => segmentMean(engine, engine.zeros([2, 5]), seg)).toThrow(/x must be \[N, 4\], got \[2, 5\]/);
    seg.tensor.dispose();
  });
});
