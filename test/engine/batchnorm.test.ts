// BatchNorm1d kernels against the float64 CPU reference (forward, running statistics) and float64
// finite differences of the reference (backward), training and evaluation mode, on tiny, ragged
// and NPCNN-sized shapes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../helpers/data.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError } from '../../src/engine/errors.ts';
import { batchNorm1d, batchNorm1dBackward } from '../../src/engine/ops/batchnorm.ts';
import { batchNormRef } from '../reference/batchnorm.ts';
import { maxRelError, numericVjp } from '../reference/gradcheck.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

// [N, C, L]: two values per channel, ragged blocks (L = 300 spans two 256-blocks), [N, C] input
// (L = 1), and the compact model's first conv output at batch 16.
const SHAPES: [number, number, number][] = [
  [2, 1, 1],
  [1, 3, 2],
  [3, 4, 300],
  [5, 7, 1],
  [16, 16, 1681],
];

function setup(n: number, c: number, l: number) {
  // an offset and scale per channel so that normalising matters
  const xv = Float32Array.from(data(n * c * l, n + c + l), (v, i) => 3 * v + 2 + (Math.floor(i / l) % c));
  const gv = Float32Array.from(data(c, 7), (v) => 1 + 0.5 * v);
  const bv = data(c, 8);
  const rmv = data(c, 9);
  const rvv = Float32Array.from(data(c, 10), (v) => 1 + 0.5 * Math.abs(v));
  return { xv, gv, bv, rmv, rvv };
}

describe('batchNorm1d', () => {
  for (const [n, c, l] of SHAPES) {
    for (const training of [true, false]) {
      it(`${training ? 'training' : 'evaluation'}: forward, running statistics and gradients match the reference on [${n}, ${c}, ${l}]`, async () => {
        const { xv, gv, bv, rmv, rvv } = setup(n, c, l);
        const shape = l === 1 ? [n, c] : [n, c, l];
        const x = engine.tensor(xv, shape);
        const gamma = engine.tensor(gv, [c]);
        const beta = engine.tensor(bv, [c]);
        const running = { runningMean: engine.tensor(rmv, [c]), runningVar: engine.tensor(rvv, [c]) };
        const o = { training, momentum: 0.1, eps: 1e-5 };
        const { y, stats } = batchNorm1d(engine, x, gamma, beta, running, o);
        const ref = batchNormRef(xv, n, c, l, gv, bv, rmv, rvv, o);
        expect(maxRelError(await y.read(), ref.y, 1)).toBeLessThan(2e-5);
        expect(maxRelError(await running.runningMean.read(), ref.runningMean, 1)).toBeLessThan(1e-5);
        expect(maxRelError(await running.runningVar.read(), ref.runningVar, 1)).toBeLessThan(1e-5);

        // backward against finite differences of the float64 reference (small shapes only)
        if (n * c * l <= 2000) {
          const dyv = data(n * c * l, 99);
          const dy = engine.tensor(dyv, shape);
          const g = batchNorm1dBackward(engine, dy, x, gamma, stats, training);
          const f = (xs: Float64Array, gs: ArrayLike<number>, bs: ArrayLike<number>) => batchNormRef(xs, n, c, l, gs, bs, rmv, rvv, o).y;
          const wantDx = numericVjp((xs) => f(xs, gv, bv), xv, dyv);
          const wantDg = numericVjp((gs) => f(Float64Array.from(xv), gs, bv), gv, dyv);
          const wantDb = numericVjp((bs) => f(Float64Array.from(xv), gv, bs), bv, dyv);
          expect(maxRelError(await g.dx.read(), wantDx, 1e-2)).toBeLessThan(2e-3);
          expect(maxRelError(await g.dgamma.read(), wantDg, 1e-2)).toBeLessThan(2e-3);
          expect(maxRelError(await g.dbeta.read(), wantDb, 1e-2)).toBeLessThan(2e-3);
          for (const t of [dy, g.dx, g.dgamma, g.dbeta]) t.dispose();
        }
        for (const t of [x, gamma, beta, running.runningMean, running.runningVar, y, stats]) t.dispose();
      });
    }
  }

  it('refuses training with one value per channel and mismatched shapes', () => {
    const one = { runningMean: engine.zeros([3]), runningVar: engine.zeros([3]) };
    const x = engine.zeros([1, 3]);
    expect(() => batchNorm1d(engine, x, engine.zeros([3]), engine.zeros([3]), one, { training: true })).toThrow(/more than one value per channel/);
    expect(() => batchNorm1d(engine, engine.zeros([2, 4, 5]), engine.zeros([3]), engine.zeros([3]), one, { training: false })).toThrow(ShapeError);
  });
});
