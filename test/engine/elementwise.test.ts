import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../helpers/data.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import { grid1d } from '../../src/engine/ops/common.ts';
import { add, addInto, affine, fill, logScale, relu, reluBackward, scale } from '../../src/engine/ops/elementwise.ts';
import { addRef, affineRef, logScaleRef, reluBackwardRef, reluRef } from '../reference/elementwise.ts';
import { maxRelError, numericVjp } from '../reference/gradcheck.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

/** Deterministic values in [-1, 1). */
const SHAPES: number[][] = [[1], [7], [3, 5, 17], [1000], [4, 80, 257]];

// every kernel variant: 'blocked' (8 elements per invocation) and 'flat' (1)
describe.each(['blocked', 'flat'])('variant %s', (variant) => {
  beforeAll(() => engine.setVariant('elementwise', variant));
  afterAll(() => engine.setVariant('elementwise', undefined));

  describe('relu', () => {
    for (const shape of SHAPES) {
      it(`forward and backward match the reference on [${shape}]`, async () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const xv = data(n, n);
        const dyv = data(n, n + 1);
        const x = engine.tensor(xv, shape);
        const dy = engine.tensor(dyv, shape);
        const y = relu(engine, x);
        const dx = reluBackward(engine, dy, x);
        expect(y.shape).toEqual(shape);
        expect(maxRelError(await y.read(), reluRef(xv))).toBe(0);
        expect(maxRelError(await dx.read(), reluBackwardRef(dyv, xv))).toBe(0);
        for (const t of [x, dy, y, dx]) t.dispose();
      });
    }

    it('backward matches float64 finite differences (away from the kink)', async () => {
      const n = 301;
      // |x| >= 0.05 so a step of 1e-4 never crosses 0
      const xv = Float32Array.from(data(n, 5), (v) => (v >= 0 ? v + 0.05 : v - 0.05));
      const dyv = data(n, 6);
      const x = engine.tensor(xv, [n]);
      const dy = engine.tensor(dyv, [n]);
      const dx = reluBackward(engine, dy, x);
      const fd = numericVjp((z) => reluRef(z), xv, dyv);
      expect(maxRelError(await dx.read(), fd, 1e-6)).toBeLessThan(1e-3);
      const got = await dx.read();
      // half the entries are negative inputs: their gradient is exactly 0
      expect(got.filter((v, i) => xv[i] < 0 && v !== 0).length).toBe(0);
    });

    it('gives 0 gradient at x == 0', async () => {
      const x = engine.tensor([0, -0, 1e-30, -1e-30], [4]);
      const dy = engine.tensor([1, 2, 3, 4], [4]);
      expect(Array.from(await reluBackward(engine, dy, x).read())).toEqual([0, 0, 3, 0]);
    });
  });

  describe('add, addInto, scale, affine, fill', () => {
    for (const shape of SHAPES) {
      it(`match the reference on [${shape}]`, async () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const av = data(n, 2 * n);
        const bv = data(n, 3 * n);
        const a = engine.tensor(av, shape);
        const b = engine.tensor(bv, shape);
        expect(maxRelError(await add(engine, a, b).read(), addRef(av, bv))).toBeLessThan(1e-6);
        expect(maxRelError(await scale(engine, a, -2.5).read(), affineRef(av, -2.5, 0))).toBeLessThan(1e-6);
        expect(maxRelError(await affine(engine, a, 0.5, 3).read(), affineRef(av, 0.5, 3))).toBeLessThan(1e-6);
        // log intensity: negative values clamp to 0, positive ones span several decades
        expect(maxRelError(await logScale(engine, a, 100, 0.2).read(), logScaleRef(av, 100, 0.2), 1e-3)).toBeLessThan(1e-5);
        // accumulate three gradients into a zeroed buffer: acc = 0 + a + b + 0.5 a
        const acc = engine.zeros(shape);
        addInto(engine, acc, a);
        addInto(engine, acc, b);
        addInto(engine, acc, a, 0.5);
        const want = Float64Array.from(av, (v, i) => v + bv[i] + 0.5 * v);
        expect(maxRelError(await acc.read(), want, 1e-6)).toBeLessThan(1e-5);
        fill(engine, acc, -7.25);
        expect((await acc.read()).every((v) => v === -7.25)).toBe(true);
      });
    }

    it('handles grids beyond 65535 workgroups (split over y)', async () => {
      const n = 65535 * 256 + 777; // 65539 workgroups of 256
      const g = grid1d(engine, n);
      expect(g.workgroups[1]).toBe(2);
      const t = engine.empty([n]);
      fill(engine, t, 1.5);
      const u = affine(engine, t, 2, -1); // 2
      const acc = engine.zeros([n]);
      addInto(engine, acc, u);
      addInto(engine, acc, t); // 3.5
      const out = await acc.read();
      // the tail (second row of workgroups) and the head both get written
      for (const i of [0, 1, 65535 * 256 - 1, 65535 * 256, n - 2, n - 1]) expect(out[i]).toBe(3.5);
      let bad = 0;
      for (let i = 0; i < n; i++) if (out[i] !== 3.5) bad++;
      expect(bad).toBe(0);
      for (const x of [t, u, acc]) x.dispose();
    });

    it('treat empty tensors as no-ops', async () => {
      const e = engine.empty([0, 5]);
      expect(relu(engine, e).shape).toEqual([0, 5]);
      fill(engine, e, 1);
    });
  });
});

describe('views', () => {
  it('a reshaped tensor shares the buffer; ops see its data; disposing the view keeps the base', async () => {
    const base = engine.tensor(data(24, 9), [2, 3, 4]);
    const view = base.reshape([6, 4]);
    expect(view.buffer).toBe(base.buffer);
    const flat = base.flatten();
    expect(flat.shape).toEqual([2, 12]);
    fill(engine, view, 2);
    expect(Array.from(await base.read())).toEqual(new Array(24).fill(2));
    const y = scale(engine, flat, 3);
    expect(y.shape).toEqual([2, 12]);
    expect(Array.from(await y.read())).toEqual(new Array(24).fill(6));
    view.dispose();
    flat.dispose();
    expect(base.isDisposed).toBe(false);
    addInto(engine, base, y.reshape([2, 3, 4]));
    expect(Array.from(await base.read())).toEqual(new Array(24).fill(8));
    expect(() => view.buffer).toThrow(/after dispose/);
  });
});

describe('errors', () => {
  it('reject mismatched shapes, wrong dtypes and bad values with typed errors', () => {
    const a = engine.zeros([4, 5]);
    const b = engine.zeros([5, 4]);
    const i = engine.zeros([4, 5], 'i32');
    expect(() => add(engine, a, b)).toThrow(ShapeError);
    expect(() => add(engine, a, b)).toThrow(/add: b has shape \[5, 4\] but a has \[4, 5\]/);
    expect(() => addInto(engine, a, b)).toThrow(ShapeError);
    expect(() => addInto(engine, a, a)).toThrow(/share a buffer/);
    expect(() => reluBackward(engine, a, b)).toThrow(ShapeError);
    expect(() => relu(engine, i)).toThrow(/relu: x must be an f32 tensor, got i32/);
    expect(() => scale(engine, a, Number.NaN)).toThrow(ValueError);
    expect(() => fill(engine, a, Infinity)).toThrow(ValueError);
    engine.setVariant('elementwise', 'tiled');
    try {
      expect(() => relu(engine, a)).toThrow(/unknown elementwise kernel variant "tiled"/);
    } finally {
      engine.setVariant('elementwise', undefined);
    }
  });
});
