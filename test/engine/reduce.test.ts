import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../helpers/data.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import {
  argmax,
  mean,
  meanBackward,
  meanLastAxis,
  meanLastAxisBackward,
  sum,
  sumBackward,
  sumLastAxis,
  sumLastAxisBackward,
  sumSquares,
  topK,
} from '../../src/engine/ops/reduce.ts';
import { maxRelError, numericVjp } from '../reference/gradcheck.ts';
import { argmaxRef, rowSumsRef, topKRef } from '../reference/reduce.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** fp32 summation error is bounded relative to sum |x|, not to the (possibly cancelling) sum. */
function expectSums(got: ArrayLike<number>, want: Float64Array, absRows: Float64Array, tol = 2e-6): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * absRows[i] + 1e-7)) expect.fail(`row ${i}: got ${got[i]}, want ${want[i]} (|x| sum ${absRows[i]})`);
  }
}

// Ragged, tiny, chunk-boundary (256, 257), a long row needing three passes (70000 > 256^2) and
// the logits of an NPCNN batch (64 x 230).
const SHAPES: number[][] = [[1], [7], [256], [257], [3, 5, 17], [64, 230], [2, 12160], [3, 70000], [1_000_000]];

describe('sum and mean', () => {
  for (const shape of SHAPES) {
    it(`match the reference over all elements and over the last axis on [${shape}]`, async () => {
      const n = size(shape);
      const cols = shape[shape.length - 1]!;
      const rows = n / cols;
      const xv = data(n, n);
      const absv = Float64Array.from(xv, Math.abs);
      const x = engine.tensor(xv, shape);
      const s = sum(engine, x);
      const m = mean(engine, x);
      const sq = sumSquares(engine, x);
      expect(s.shape).toEqual([]);
      const squares = Float64Array.from(xv, (v) => v * v);
      expectSums(await sq.read(), rowSumsRef(squares, 1, n), rowSumsRef(squares, 1, n));
      expectSums(await s.read(), rowSumsRef(xv, 1, n), rowSumsRef(absv, 1, n));
      expectSums(await m.read(), rowSumsRef(xv, 1, n, 1 / n), rowSumsRef(absv, 1, n, 1 / n));
      const sl = sumLastAxis(engine, x);
      const ml = meanLastAxis(engine, x);
      expect(sl.shape).toEqual(shape.slice(0, -1));
      expectSums(await sl.read(), rowSumsRef(xv, rows, cols), rowSumsRef(absv, rows, cols));
      expectSums(await ml.read(), rowSumsRef(xv, rows, cols, 1 / cols), rowSumsRef(absv, rows, cols, 1 / cols));
      for (const t of [x, s, m, sq, sl, ml]) t.dispose();
    });
  }

  it('sum of an empty tensor is 0', async () => {
    expect(Array.from(await sum(engine, engine.empty([0, 3])).read())).toEqual([0]);
    expect(Array.from(await sumSquares(engine, engine.empty([0, 3])).read())).toEqual([0]);
    expect(Array.from(await sumLastAxis(engine, engine.empty([2, 0])).read())).toEqual([0, 0]);
  });

  it('backward passes match float64 finite differences', async () => {
    for (const shape of [[1], [5], [3, 7], [2, 3, 33]]) {
      const n = size(shape);
      const cols = shape[shape.length - 1]!;
      const rows = n / cols;
      const xv = data(n, 3);
      const g0 = data(1, 4);
      const gr = data(rows, 5);
      const cases: [typeof sumBackward, ArrayLike<number>, number[], (z: Float64Array) => Float64Array][] = [
        [sumBackward, g0, [], (z) => rowSumsRef(z, 1, n)],
        [meanBackward, g0, [], (z) => rowSumsRef(z, 1, n, 1 / n)],
        [sumLastAxisBackward, gr, shape.slice(0, -1), (z) => rowSumsRef(z, rows, cols)],
        [meanLastAxisBackward, gr, shape.slice(0, -1), (z) => rowSumsRef(z, rows, cols, 1 / cols)],
      ];
      for (const [backward, dyv, dyShape, forward] of cases) {
        const dx = backward(engine, engine.tensor(dyv, dyShape), shape);
        expect(dx.shape).toEqual(shape);
        expect(maxRelError(await dx.read(), numericVjp(forward, xv, dyv), 1e-6)).toBeLessThan(1e-3);
      }
    }
  });
});

describe('argmax and topK', () => {
  // Values on a coarse grid so every row has ties.
  const tied = (n: number, seed: number) => Float32Array.from(data(n, seed), (v) => Math.floor(v * 4));

  for (const [shape, k] of [
    [[1], 1],
    [[7], 3],
    [[3, 5, 17], 5],
    [[64, 230], 10],
    [[256, 7], 7],
    [[16, 3000], 16],
  ] as [number[], number][]) {
    it(`match the reference (ties to the lower index) on [${shape}] k=${k}`, async () => {
      const n = size(shape);
      const cols = shape[shape.length - 1]!;
      const rows = n / cols;
      for (const xv of [data(n, n), tied(n, n)]) {
        const x = engine.tensor(xv, shape);
        const am = argmax(engine, x);
        expect(am.dtype).toBe('i32');
        expect(am.shape).toEqual(shape.slice(0, -1));
        expect(Array.from(await am.read())).toEqual(Array.from(argmaxRef(xv, rows, cols)));
        const { values, indices } = topK(engine, x, k);
        expect(values.shape).toEqual([...shape.slice(0, -1), k]);
        const ref = topKRef(xv, rows, cols, k);
        expect(Array.from(await indices.read())).toEqual(Array.from(ref.indices));
        expect(Array.from(await values.read())).toEqual(Array.from(ref.values));
        for (const t of [x, am, values, indices]) t.dispose();
      }
    });
  }

  it('handle -Infinity and all-equal rows', async () => {
    const x = engine.tensor([-Infinity, -Infinity, -Infinity, 2, 2, 2, -Infinity, 5, -Infinity], [3, 3]);
    expect(Array.from(await argmax(engine, x).read())).toEqual([0, 0, 1]);
    const { values, indices } = topK(engine, x, 2);
    expect(Array.from(await indices.read())).toEqual([0, 1, 0, 1, 1, 0]);
    expect(Array.from(await values.read())).toEqual([-Infinity, -Infinity, 2, 2, 5, -Infinity]);
  });
});

describe('errors', () => {
  it('reject bad shapes and values with typed errors', () => {
    const x = engine.zeros([4, 6]);
    expect(() => topK(engine, x, 0)).toThrow(ValueError);
    expect(() => topK(engine, x, 17)).toThrow(/k must be an integer in 1\.\.16/);
    expect(() => topK(engine, x, 7)).toThrow(ShapeError);
    expect(() => argmax(engine, engine.zeros([]))).toThrow(/scalar/);
    expect(() => argmax(engine, engine.zeros([3, 0]))).toThrow(/empty/);
    expect(() => mean(engine, engine.zeros([0]))).toThrow(ShapeError);
    expect(() => sumLastAxis(engine, engine.zeros([4, 6], 'i32'))).toThrow(/must be an f32 tensor/);
    expect(() => sumLastAxisBackward(engine, engine.zeros([6]), [4, 6])).toThrow(/dy must be \[4\] for x \[4, 6\], got \[6\]/);
    expect(() => meanBackward(engine, engine.zeros([1]), [4, 6])).toThrow(ShapeError);
  });
});
