import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import { softmax, softmaxCrossEntropy } from '../../src/engine/ops/softmax-xent.ts';
import { maxRelError, numericVjp } from '../reference/gradcheck.ts';
import { softmaxCrossEntropyRef, softmaxRef } from '../reference/softmax-xent.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

function data(n: number, seed = 1, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 31 - 1) * scale;
  });
}

function labelsFor(n: number, c: number, seed = 5): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i * 7919 + seed * 31) % c);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function run(logitsv: Float32Array, labels: Int32Array, n: number, c: number, gradScale?: number) {
  const logits = engine.tensor(logitsv, [n, c]);
  const r = softmaxCrossEntropy(engine, logits, labels, gradScale === undefined ? {} : { gradScale });
  expect(r.loss.shape).toEqual([1]);
  expect(r.losses.shape).toEqual([n]);
  expect(r.grad.shape).toEqual([n, c]);
  const out = { loss: await r.readLoss(), losses: await r.losses.read(), grad: await r.grad.read() };
  r.dispose();
  logits.dispose();
  return out;
}

describe('softmaxCrossEntropy', () => {
  it.each([
    ['tiny', 1, 1],
    ['two classes', 3, 2],
    ['ragged', 7, 13],
    ['crystal systems', 64, 7],
    ['space groups (NPCNN)', 64, 230],
    ['large C', 3, 10000],
  ])('matches the CPU reference (%s: N=%i, C=%i)', async (_name, n, c) => {
    const lv = data(n * c, n + c, 4);
    const labels = labelsFor(n, c);
    const got = await run(lv, labels, n, c);
    const ref = softmaxCrossEntropyRef(lv, labels, n, c);
    expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-5 * Math.max(1, ref.loss));
    expect(maxRelError(got.losses, ref.losses, 1e-6)).toBeLessThan(1e-4);
    // gradient entries are (p - onehot) / N: compare against the scale 1 / N
    expect(maxAbsDiff(got.grad, ref.grad) * n).toBeLessThan(1e-5);
  });

  it('gradient matches float64 finite differences of the mean loss, with gradScale', async () => {
    const n = 4;
    const c = 5;
    const lv = data(n * c, 9, 2);
    const labels = labelsFor(n, c);
    const got = await run(lv, labels, n, c, 3);
    const fd = numericVjp((z) => [softmaxCrossEntropyRef(z, labels, n, c).loss], lv, [3]);
    expect(maxRelError(got.grad, fd, 1e-4)).toBeLessThan(1e-3);
  });

  it('stays finite and exact for extreme logits (1e4, -1e4)', async () => {
    const n = 4;
    const c = 6;
    const lv = new Float32Array(n * c);
    lv.set([1e4, -1e4, 0, 1e4, 5, -5], 0); // two tied maxima
    lv.set([-1e4, -1e4, -1e4, -1e4, -1e4, -1e4], 6); // all equal and very negative
    lv.set([1e4, 0, 0, 0, 0, 0], 12); // label far below the max: loss 1e4
    lv.set([-1e4, 1e4, -1e4, 1e4, -1e4, 1e4], 18);
    const labels = Int32Array.from([0, 3, 1, 0]);
    const got = await run(lv, labels, n, c);
    const ref = softmaxCrossEntropyRef(lv, labels, n, c);
    for (const v of [...got.losses, ...got.grad, got.loss]) expect(Number.isFinite(v)).toBe(true);
    expect(got.losses[0]).toBeCloseTo(Math.log(2), 5);
    expect(got.losses[1]).toBeCloseTo(Math.log(6), 5);
    expect(got.losses[2]).toBeCloseTo(1e4, 1);
    expect(maxRelError(got.losses, ref.losses, 1e-6)).toBeLessThan(1e-5);
    expect(maxAbsDiff(got.grad, ref.grad) * n).toBeLessThan(1e-5);
  });

  it('accepts labels as an i32 tensor', async () => {
    const n = 5;
    const c = 9;
    const lv = data(n * c, 4);
    const labels = labelsFor(n, c);
    const logits = engine.tensor(lv, [n, c]);
    const lt = engine.tensor(labels, [n], 'i32');
    const r = softmaxCrossEntropy(engine, logits, lt);
    expect(await r.readLoss()).toBeCloseTo(softmaxCrossEntropyRef(lv, labels, n, c).loss, 5);
    expect(Array.from(await r.status.read())).toEqual([0, 0]);
    r.dispose();
  });
});

describe('softmaxCrossEntropy bad labels', () => {
  const n = 6;
  const c = 4;
  const lv = data(n * c, 2);

  it('Int32Array labels are checked on the CPU and name the index and value', () => {
    const logits = engine.tensor(lv, [n, c]);
    const labels = Int32Array.from([0, 1, 2, 3, 4, 0]);
    expect(() => softmaxCrossEntropy(engine, logits, labels)).toThrow(ValueError);
    expect(() => softmaxCrossEntropy(engine, logits, labels)).toThrow(/label 4 at index 4 .*4 classes/);
    expect(() => softmaxCrossEntropy(engine, logits, Int32Array.from([0, -1, 0, 0, 0, 0]))).toThrow(/label -1 at index 1/);
  });

  it('GPU labels: readLoss() and check() throw, and the loss and bad rows are NaN, never plausible', async () => {
    const logits = engine.tensor(lv, [n, c]);
    const lt = engine.tensor([0, 1, 2, 7, 1, -3], [n], 'i32');
    const r = softmaxCrossEntropy(engine, logits, lt);
    await expect(r.readLoss()).rejects.toThrow(ValueError);
    await expect(r.check()).rejects.toThrow(/label 7 at index 3 .*4 classes/);
    expect(Array.from(await r.status.read())).toEqual([4, 7]);
    expect(Number.isNaN((await r.loss.read())[0])).toBe(true);
    const losses = await r.losses.read();
    expect([3, 5].every((i) => Number.isNaN(losses[i]))).toBe(true);
    expect([0, 1, 2, 4].every((i) => Number.isFinite(losses[i]))).toBe(true);
    const grad = await r.grad.read();
    for (let i = 0; i < c; i++) expect(Number.isNaN(grad[3 * c + i])).toBe(true);
    r.dispose();
  });

  it('wrong shapes and dtypes raise ShapeError', () => {
    const logits = engine.tensor(lv, [n, c]);
    expect(() => softmaxCrossEntropy(engine, logits, new Int32Array(5))).toThrow(/5 labels for 6 rows/);
    expect(() => softmaxCrossEntropy(engine, logits, engine.zeros([n]))).toThrow(/labels must be an i32 tensor/);
    expect(() => softmaxCrossEntropy(engine, logits, engine.zeros([n, 1], 'i32'))).toThrow(/labels must have shape \[6\]/);
    expect(() => softmaxCrossEntropy(engine, engine.zeros([n * c]), new Int32Array(n))).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(engine, logits, new Int32Array(n), { gradScale: NaN })).toThrow(ValueError);
    expect(() => softmax(engine, engine.zeros([2, 3, 4]))).toThrow(/softmax: logits must be a non-empty 2-D tensor/);
  });
});

describe('softmax', () => {
  it.each([
    [1, 1],
    [5, 13],
    [64, 230],
    [2, 10000],
  ])('matches the CPU reference and rows sum to 1 (N=%i, C=%i)', async (n, c) => {
    const lv = data(n * c, c, 8);
    const p = await softmax(engine, engine.tensor(lv, [n, c])).read();
    const ref = softmaxRef(lv, n, c);
    expect(maxRelError(p, ref, 1e-7)).toBeLessThan(1e-4);
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let i = 0; i < c; i++) s += p[r * c + i];
      expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    }
  });

  it('handles extreme logits without overflow', async () => {
    const p = await softmax(engine, engine.tensor([1e4, -1e4, 1e4, -1e4, -1e4, -1e4], [2, 3])).read();
    expect(Array.from(p)).toEqual([0.5, 0, 0.5, 1 / 3, 1 / 3, 1 / 3].map((v) => Math.fround(v)));
  });
});
