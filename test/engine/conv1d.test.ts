import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import {
  CONV1D_VARIANTS,
  conv1d,
  conv1dBackwardBias,
  conv1dBackwardInput,
  conv1dBackwardWeight,
  conv1dOutputLength,
  type Conv1dParams,
} from '../../src/engine/ops/conv1d.ts';
import {
  conv1dBackwardBiasRef,
  conv1dBackwardInputRef,
  conv1dBackwardWeightRef,
  conv1dRef,
  conv1dRefOutputLength,
  type Conv1dRefShape,
} from '../reference/conv1d.ts';
import { numericVjp, scaledError } from '../reference/gradcheck.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

function rand(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

interface Case extends Conv1dRefShape {
  name: string;
}

const shape = (name: string, n: number, cin: number, l: number, cout: number, k: number, stride = 1, padding = 0, dilation = 1): Case => ({
  name,
  n,
  cin,
  l,
  cout,
  k,
  stride,
  padding,
  dilation,
});

const forwardCases: Case[] = [
  shape('aligned', 2, 8, 64, 16, 4),
  shape('ragged odd channels/lengths', 3, 5, 37, 7, 3),
  shape('tiny 1x1x1', 1, 1, 1, 1, 1),
  shape('stride 3', 2, 3, 50, 9, 5, 3),
  shape('padding 2', 2, 4, 19, 6, 5, 1, 2),
  shape('dilation 2', 2, 3, 33, 5, 4, 1, 0, 2),
  shape('stride 4 dilation 2 padding 3', 2, 6, 41, 10, 3, 4, 3, 2),
  shape('stride 2 dilation 3 (no sliding window)', 2, 5, 40, 9, 4, 2, 1, 3),
  shape('kernel longer than stride, padding', 1, 9, 70, 11, 12, 5, 6),
  shape('kernel shorter than stride', 2, 3, 23, 5, 2, 5),
  shape('long output, many channels', 3, 13, 300, 21, 7, 1, 3),
];

const gradCases: Case[] = [
  shape('ragged', 2, 3, 13, 5, 3, 2, 1),
  shape('tiny 1x1x1', 1, 1, 1, 1, 1),
  shape('stride 3 dilation 2 padding 2', 1, 2, 17, 3, 3, 3, 2, 2),
  shape('stride 2 dilation 3', 1, 3, 15, 2, 2, 2, 1, 3),
  shape('stride 5 kernel 7', 2, 2, 24, 9, 7, 5),
  shape('kernel shorter than stride', 2, 2, 17, 3, 2, 5, 1),
  // gcd(stride, dilation) > 1: some input phases receive no tap at all
  shape('stride 2 dilation 2 padding 1', 2, 3, 19, 5, 4, 2, 1, 2),
  shape('stride 4 dilation 2 padding 3', 2, 3, 29, 4, 3, 4, 3, 2),
];

const params = (c: Conv1dRefShape): Conv1dParams => ({ stride: c.stride, padding: c.padding, dilation: c.dilation });

for (const variant of CONV1D_VARIANTS) {
  describe(`conv1d (${variant})`, () => {
    beforeAll(() => engine.setVariant('conv1d', variant));
    afterAll(() => engine.setVariant('conv1d', undefined));

    for (const c of forwardCases) {
      it(`forward matches the CPU reference: ${c.name}`, async () => {
        const lout = conv1dRefOutputLength(c);
        const x = rand(c.n * c.cin * c.l, 1);
        const w = rand(c.cout * c.cin * c.k, 2);
        const b = rand(c.cout, 3);
        const xt = engine.tensor(x, [c.n, c.cin, c.l]);
        const wt = engine.tensor(w, [c.cout, c.cin, c.k]);
        const bt = engine.tensor(b, [c.cout]);
        const y = conv1d(engine, xt, wt, bt, params(c));
        expect(y.shape).toEqual([c.n, c.cout, lout]);
        expect(scaledError(await y.read(), conv1dRef(x, w, b, c))).toBeLessThan(1e-5);
        const y0 = conv1d(engine, xt, wt, null, params(c));
        expect(scaledError(await y0.read(), conv1dRef(x, w, null, c))).toBeLessThan(1e-5);
        for (const t of [xt, wt, bt, y, y0]) t.dispose();
      });
    }

    for (const c of gradCases) {
      it(`dx, dW, db match float64 finite differences: ${c.name}`, async () => {
        const lout = conv1dRefOutputLength(c);
        const x = rand(c.n * c.cin * c.l, 4);
        const w = rand(c.cout * c.cin * c.k, 5);
        const b = rand(c.cout, 6);
        const g = rand(c.n * c.cout * lout, 7);
        const xt = engine.tensor(x, [c.n, c.cin, c.l]);
        const wt = engine.tensor(w, [c.cout, c.cin, c.k]);
        const gt = engine.tensor(g, [c.n, c.cout, lout]);
        const dx = conv1dBackwardInput(engine, gt, wt, params(c), c.l);
        const dw = conv1dBackwardWeight(engine, xt, gt, params(c), c.k);
        const db = conv1dBackwardBias(engine, gt);
        expect(dx.shape).toEqual([c.n, c.cin, c.l]);
        expect(dw.shape).toEqual([c.cout, c.cin, c.k]);
        expect(db.shape).toEqual([c.cout]);
        const fdx = numericVjp((xs) => conv1dRef(xs, w, b, c), x, g);
        const fdw = numericVjp((ws) => conv1dRef(x, ws, b, c), w, g);
        const fdb = numericVjp((bs) => conv1dRef(x, w, bs, c), b, g);
        expect(scaledError(await dx.read(), fdx)).toBeLessThan(1e-3);
        expect(scaledError(await dw.read(), fdw)).toBeLessThan(1e-3);
        expect(scaledError(await db.read(), fdb)).toBeLessThan(1e-3);
        for (const t of [xt, wt, gt, dx, dw, db]) t.dispose();
      });
    }
  });
}

// The three NPCNN conv layers (DESIGN.md) at batch 2; references computed once for both variants.
describe('conv1d at the NPCNN layer shapes', () => {
  const layers: Case[] = [
    shape('conv 1->80 k100 s5', 2, 1, 8500, 80, 100, 5),
    shape('conv 80->80 k50 s5', 2, 80, 1681, 80, 50, 5),
    shape('conv 80->80 k25 s2', 2, 80, 327, 80, 25, 2),
  ];
  for (const c of layers) {
    it(`forward, dx, dW, db match the CPU reference for every variant: ${c.name}`, async () => {
      const lout = conv1dRefOutputLength(c);
      const x = rand(c.n * c.cin * c.l, 8);
      const w = rand(c.cout * c.cin * c.k, 9);
      const b = rand(c.cout, 10);
      const g = rand(c.n * c.cout * lout, 11);
      const ref = {
        y: conv1dRef(x, w, b, c),
        dx: conv1dBackwardInputRef(g, w, c),
        dw: conv1dBackwardWeightRef(x, g, c),
        db: conv1dBackwardBiasRef(g, c.n, c.cout, lout),
      };
      const xt = engine.tensor(x, [c.n, c.cin, c.l]);
      const wt = engine.tensor(w, [c.cout, c.cin, c.k]);
      const bt = engine.tensor(b, [c.cout]);
      const gt = engine.tensor(g, [c.n, c.cout, lout]);
      try {
        for (const variant of CONV1D_VARIANTS) {
          engine.setVariant('conv1d', variant);
          const y = conv1d(engine, xt, wt, bt, params(c));
          const dx = conv1dBackwardInput(engine, gt, wt, params(c), c.l);
          const dw = conv1dBackwardWeight(engine, xt, gt, params(c), c.k);
          const db = conv1dBackwardBias(engine, gt);
          expect(scaledError(await y.read(), ref.y), `${variant} forward`).toBeLessThan(1e-4);
          expect(scaledError(await dx.read(), ref.dx), `${variant} dx`).toBeLessThan(1e-4);
          expect(scaledError(await dw.read(), ref.dw), `${variant} dW`).toBeLessThan(1e-4);
          expect(scaledError(await db.read(), ref.db), `${variant} db`).toBeLessThan(1e-4);
          for (const t of [y, dx, dw, db]) t.dispose();
        }
      } finally {
        engine.setVariant('conv1d', undefined);
        for (const t of [xt, wt, bt, gt]) t.dispose();
      }
    }, 30_000);
  }
});

describe('conv1d errors', () => {
  it('throws ShapeError naming the op and argument for wrong shapes', () => {
    const x = engine.zeros([2, 3, 20]);
    const w = engine.zeros([4, 5, 3]);
    const w3 = engine.zeros([4, 3, 3]);
    const b = engine.zeros([5]);
    const dy = engine.zeros([2, 4, 18]);
    expect(() => conv1d(engine, x, w, null)).toThrow(ShapeError);
    expect(() => conv1d(engine, x, w, null)).toThrow(/conv1d: w has 5 input channels/);
    expect(() => conv1d(engine, x, w3, b)).toThrow(/conv1d: b must have shape \[4\]/);
    expect(() => conv1d(engine, x.reshape([6, 20]), w3, null)).toThrow(/conv1d: x must have shape \[N, Cin, L\]/);
    expect(() => conv1d(engine, x, engine.zeros([4, 3, 30]), null)).toThrow(/input length 20 is too short for kernel size 30/);
    expect(() => conv1dBackwardInput(engine, dy, w3, {}, 21)).toThrow(/conv1dBackwardInput: dy has length 18 but inputLength 21/);
    expect(() => conv1dBackwardInput(engine, dy, engine.zeros([5, 3, 3]), {}, 20)).toThrow(/w has 5 output channels/);
    expect(() => conv1dBackwardWeight(engine, engine.zeros([3, 3, 20]), dy, {}, 3)).toThrow(/conv1dBackwardWeight: dy has batch 2/);
    expect(() => conv1dBackwardWeight(engine, x, dy, {}, 4)).toThrow(/conv1dBackwardWeight: dy has length 18/);
    expect(() => conv1dBackwardBias(engine, dy.reshape([8, 18]))).toThrow(/conv1dBackwardBias: dy must have shape/);
  });

  it('throws ValueError for invalid parameters', () => {
    const x = engine.zeros([1, 1, 10]);
    const w = engine.zeros([1, 1, 3]);
    expect(() => conv1d(engine, x, w, null, { stride: 0 })).toThrow(ValueError);
    expect(() => conv1d(engine, x, w, null, { padding: -1 })).toThrow(/padding must be an integer >= 0/);
    expect(() => conv1d(engine, x, w, null, { dilation: 1.5 })).toThrow(/dilation must be an integer >= 1/);
    expect(() => conv1dBackwardWeight(engine, x, engine.zeros([1, 1, 8]), {}, 0)).toThrow(/kernelSize must be an integer >= 1/);
  });

  it('computes the output length like PyTorch', () => {
    expect(conv1dOutputLength(8500, 100, { stride: 5 })).toBe(1681);
    expect(conv1dOutputLength(1681, 50, { stride: 5 })).toBe(327);
    expect(conv1dOutputLength(327, 25, { stride: 2 })).toBe(152);
    expect(conv1dOutputLength(10, 3, { stride: 2, padding: 1, dilation: 2 })).toBe(4);
  });
});
