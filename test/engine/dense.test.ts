import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../helpers/data.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError } from '../../src/engine/errors.ts';
import { DENSE_VARIANTS, dense, denseBackwardBias, denseBackwardInput, denseBackwardWeight } from '../../src/engine/ops/dense.ts';
import {
  denseBackwardBiasRef,
  denseBackwardInputRef,
  denseBackwardWeightRef,
  denseRef,
  type DenseDims,
} from '../reference/dense.ts';
import { maxRelError, numericVjp, scaledError } from '../reference/gradcheck.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

interface Case {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dy: Float32Array;
}

function makeCase(d: DenseDims, seed: number): Case {
  return { x: data(d.n * d.inF, seed), w: data(d.outF * d.inF, seed + 1), b: data(d.outF, seed + 2), dy: data(d.n * d.outF, seed + 3) };
}

async function runAll(d: DenseDims, c: Case) {
  const x = engine.tensor(c.x, [d.n, d.inF]);
  const w = engine.tensor(c.w, [d.outF, d.inF]);
  const b = engine.tensor(c.b, [d.outF]);
  const dy = engine.tensor(c.dy, [d.n, d.outF]);
  const y = dense(engine, x, w, b);
  const dx = denseBackwardInput(engine, dy, w);
  const dw = denseBackwardWeight(engine, dy, x);
  const db = denseBackwardBias(engine, dy);
  expect(y.shape).toEqual([d.n, d.outF]);
  expect(dx.shape).toEqual([d.n, d.inF]);
  expect(dw.shape).toEqual([d.outF, d.inF]);
  expect(db.shape).toEqual([d.outF]);
  const out = { y: await y.read(), dx: await dx.read(), dw: await dw.read(), db: await db.read() };
  for (const t of [x, w, b, dy, y, dx, dw, db]) t.dispose();
  return out;
}

// Ragged: nothing a multiple of the block sizes (16 rows, 64 or 16 columns, 4 along k).
const SHAPES: [string, DenseDims][] = [
  ['tiny', { n: 1, inF: 1, outF: 1 }],
  ['ragged', { n: 5, inF: 37, outF: 19 }],
  ['ragged wide', { n: 3, inF: 131, outF: 70 }],
  ['aligned', { n: 32, inF: 128, outF: 64 }],
  ['batch > block', { n: 67, inF: 9, outF: 33 }],
];

describe.each(DENSE_VARIANTS)('dense, variant %s', (variant) => {
  beforeAll(() => engine.setVariant('dense', variant));
  afterAll(() => engine.setVariant('dense', undefined));

  it.each(SHAPES)('forward and backward match the CPU reference (%s)', async (_name, d) => {
    const c = makeCase(d, d.n * 7 + d.inF);
    const got = await runAll(d, c);
    expect(scaledError(got.y, denseRef(c.x, c.w, c.b, d))).toBeLessThan(1e-5);
    expect(scaledError(got.dx, denseBackwardInputRef(c.dy, c.w, d))).toBeLessThan(1e-5);
    expect(scaledError(got.dw, denseBackwardWeightRef(c.dy, c.x, d))).toBeLessThan(1e-5);
    expect(scaledError(got.db, denseBackwardBiasRef(c.dy, d))).toBeLessThan(1e-5);
  });

  it('gradients match float64 finite differences of the CPU forward', async () => {
    for (const d of [
      { n: 3, inF: 5, outF: 4 },
      { n: 1, inF: 1, outF: 1 },
    ]) {
      const c = makeCase(d, 11 + d.inF);
      const got = await runAll(d, c);
      const fx = numericVjp((xv) => denseRef(xv, c.w, c.b, d), c.x, c.dy);
      const fw = numericVjp((wv) => denseRef(c.x, wv, c.b, d), c.w, c.dy);
      const fb = numericVjp((bv) => denseRef(c.x, c.w, bv, d), c.b, c.dy);
      expect(maxRelError(got.dx, fx, 1e-3)).toBeLessThan(1e-3);
      expect(maxRelError(got.dw, fw, 1e-3)).toBeLessThan(1e-3);
      expect(maxRelError(got.db, fb, 1e-3)).toBeLessThan(1e-3);
    }
  });

  // NPCNN dense layers at batch 64; the first (12160 -> 2300) only on the default software
  // variant to keep the file fast (the tiled variant runs ~1.5 GFLOP/s on lavapipe).
  const layers: [number, number][] = variant === 'regblock' ? [[12160, 2300], [2300, 1150], [1150, 230]] : [[1150, 230]];
  it.each(layers)('NPCNN layer %i -> %i at batch 64 (sampled entries)', async (inF, outF) => {
    const d = { n: 64, inF, outF };
    const c = makeCase(d, inF);
    const got = await runAll(d, c);
    const samples = 200;
    let s = 12345;
    const pick = (n: number) => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s % n;
    };
    for (let t = 0; t < samples; t++) {
      const n = pick(d.n);
      const o = pick(outF);
      const i = pick(inF);
      let y = c.b[o];
      let yAbs = Math.abs(c.b[o]);
      for (let k = 0; k < inF; k++) {
        y += c.x[n * inF + k] * c.w[o * inF + k];
        yAbs += Math.abs(c.x[n * inF + k] * c.w[o * inF + k]);
      }
      let dx = 0;
      let dxAbs = 0;
      for (let k = 0; k < outF; k++) {
        dx += c.dy[n * outF + k] * c.w[k * inF + i];
        dxAbs += Math.abs(c.dy[n * outF + k] * c.w[k * inF + i]);
      }
      let dw = 0;
      let dwAbs = 0;
      let db = 0;
      for (let k = 0; k < d.n; k++) {
        dw += c.dy[k * outF + o] * c.x[k * inF + i];
        dwAbs += Math.abs(c.dy[k * outF + o] * c.x[k * inF + i]);
        db += c.dy[k * outF + o];
      }
      // fp32 accumulation error is bounded relative to the sum of |terms|
      expect(Math.abs(got.y[n * outF + o] - y)).toBeLessThan(1e-5 * yAbs);
      expect(Math.abs(got.dx[n * inF + i] - dx)).toBeLessThan(1e-5 * dxAbs);
      expect(Math.abs(got.dw[o * inF + i] - dw)).toBeLessThan(1e-5 * dwAbs);
      expect(Math.abs(got.db[o] - db)).toBeLessThan(1e-5 * d.n);
    }
  }, 60_000);
});

describe('dense shape errors', () => {
  it('names the op, the argument and the expected shape', () => {
    const x = engine.zeros([4, 8]);
    const w = engine.zeros([3, 8]);
    const b = engine.zeros([3]);
    const dy = engine.zeros([4, 3]);
    expect(() => dense(engine, x, engine.zeros([3, 7]), b)).toThrow(ShapeError);
    expect(() => dense(engine, x, engine.zeros([3, 7]), b)).toThrow(/dense: w has shape \[3, 7\].*\[Out, 8\]/);
    expect(() => dense(engine, x, w, engine.zeros([4]))).toThrow(/b must have shape \[3\]/);
    expect(() => dense(engine, engine.zeros([32]), w, b)).toThrow(/x must be 2-D/);
    expect(() => dense(engine, engine.zeros([4, 8], 'i32'), w, b)).toThrow(/x must be an f32 tensor/);
    expect(() => denseBackwardInput(engine, dy, engine.zeros([4, 8]))).toThrow(/denseBackwardInput: w has shape \[4, 8\].*\[3, In\]/);
    expect(() => denseBackwardWeight(engine, engine.zeros([5, 3]), x)).toThrow(/dy has 5 samples.*x has 4/);
    expect(() => denseBackwardBias(engine, engine.zeros([12]))).toThrow(ShapeError);
  });

  it('rejects an unknown kernel variant', () => {
    engine.setVariant('dense', 'nope');
    try {
      expect(() => dense(engine, engine.zeros([1, 1]), engine.zeros([1, 1]), engine.zeros([1]))).toThrow(/unknown kernel variant "nope"/);
    } finally {
      engine.setVariant('dense', undefined);
    }
  });
});
