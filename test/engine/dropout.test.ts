import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../helpers/data.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import { dropout, dropoutBackward, type DropoutParams } from '../../src/engine/ops/dropout.ts';
import { dropoutMaskRef, dropoutRef } from '../reference/dropout.ts';
import { maxRelError, numericVjp } from '../reference/gradcheck.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

async function mask(n: number, params: DropoutParams): Promise<Uint8Array> {
  const ones = engine.tensor(new Float32Array(n).fill(1), [n]);
  const y = await dropout(engine, ones, params).read();
  ones.dispose();
  return Uint8Array.from(y, (v) => (v !== 0 ? 1 : 0));
}

const N = 1_000_000;

// every kernel variant: 'blocked' (8 elements per invocation) and 'flat' (1)
describe.each(['blocked', 'flat'])('variant %s', (variant) => {
  beforeAll(() => engine.setVariant('dropout', variant));
  afterAll(() => engine.setVariant('dropout', undefined));

  describe('dropout kernels', () => {
    it('match the CPU reference bit for bit on the mask, forward and backward', async () => {
      for (const [shape, p] of [
        [[1], 0.5],
        [[3, 7, 11], 0.3],
        [[64, 2300], 0.5],
      ] as [number[], number][]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const xv = data(n, n);
        const params = { p, seed: 1234, step: 17, training: true };
        const x = engine.tensor(xv, shape);
        const y = dropout(engine, x, params);
        expect(y.shape).toEqual(shape);
        expect(maxRelError(await y.read(), dropoutRef(xv, p, 1234, 17), 1e-7)).toBeLessThan(1e-6);
        const dx = dropoutBackward(engine, x, params);
        expect(maxRelError(await dx.read(), dropoutRef(xv, p, 1234, 17), 1e-7)).toBeLessThan(1e-6);
      }
    });

    it('backward matches float64 finite differences of the forward', async () => {
      const n = 257;
      const xv = data(n, 3);
      const dyv = data(n, 4);
      const params = { p: 0.4, seed: 9, step: 2, training: true };
      const dx = dropoutBackward(engine, engine.tensor(dyv, [n]), params);
      const fd = numericVjp((z) => dropoutRef(z, 0.4, 9, 2), xv, dyv);
      expect(maxRelError(await dx.read(), fd, 1e-6)).toBeLessThan(1e-3);
    });
  });
});

describe('dropout', () => {
  it('same seed and step give the same mask; another step or seed gives another', async () => {
    const base = { p: 0.3, seed: 42, step: 5, training: true };
    const a = await mask(N, base);
    const b = await mask(N, base);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(dropoutMaskRef(N, 0.3, 42, 5)))).toBe(0);
    for (const other of [{ ...base, step: 6 }, { ...base, seed: 43 }]) {
      const c = await mask(N, other);
      let same = 0;
      for (let i = 0; i < N; i++) same += a[i] === c[i] ? 1 : 0;
      // independent masks agree with probability p^2 + (1-p)^2 = 0.58 (sd 4.9e-4)
      expect(Math.abs(same / N - 0.58)).toBeLessThan(0.003);
    }
  });

  it('an offset gives the rows of the whole mask: two halves with offsets equal the mask of the whole', async () => {
    const base = { p: 0.3, seed: 42, step: 5, training: true };
    const whole = await mask(N, base);
    const half = N / 2;
    const first = await mask(half, base);
    const second = await mask(half, { ...base, offset: half });
    expect(Buffer.compare(Buffer.from(whole.subarray(0, half)), Buffer.from(first))).toBe(0);
    expect(Buffer.compare(Buffer.from(whole.subarray(half)), Buffer.from(second))).toBe(0);
    expect(Buffer.compare(Buffer.from(second), Buffer.from(dropoutMaskRef(half, 0.3, 42, 5, half)))).toBe(0);
  });

  it('keeps a fraction 1-p of 1e6 elements, independently of neighbours, and preserves the mean', async () => {
    for (const p of [0.3, 0.5, 0.9]) {
      const m = await mask(N, { p, seed: 7, step: 1000, training: true });
      let kept = 0;
      let pairs = 0;
      for (let i = 0; i < N; i++) {
        kept += m[i];
        if (i > 0) pairs += m[i] & m[i - 1];
      }
      const q = 1 - p;
      const sd = Math.sqrt((p * q) / N);
      expect(Math.abs(kept / N - q)).toBeLessThan(5 * sd);
      // neighbouring elements are both kept with probability q^2; overlapping pairs are not
      // independent, so allow 10 binomial sd
      expect(Math.abs(pairs / (N - 1) - q * q)).toBeLessThan(10 * Math.sqrt((q * q * (1 - q * q)) / N));
    }
    // mean of dropout(x) for x = 1 + small noise stays ~ mean(x)
    const xv = Float32Array.from(data(N, 11), (v) => 1 + 0.1 * v);
    const y = await dropout(engine, engine.tensor(xv, [N]), { p: 0.5, seed: 3, step: 0, training: true }).read();
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < N; i++) {
      sx += xv[i];
      sy += y[i];
    }
    // y_i = 2 x_i or 0: sd of the mean is ~ 1 / sqrt(N) = 1e-3
    expect(Math.abs(sy / N - sx / N)).toBeLessThan(5e-3);
  });

  it('is the identity for p = 0 or training = false', async () => {
    const xv = data(1001, 8);
    const x = engine.tensor(xv, [7, 143]);
    for (const params of [
      { p: 0, seed: 1, step: 1, training: true },
      { p: 0.7, seed: 1, step: 1, training: false },
    ]) {
      const y = dropout(engine, x, params);
      expect(y.buffer).not.toBe(x.buffer);
      expect(Array.from(await y.read())).toEqual(Array.from(xv));
      expect(Array.from(await dropoutBackward(engine, x, params).read())).toEqual(Array.from(xv));
    }
  });

  it('rejects p = 1 and other bad params with a ValueError, and non-f32 input with a ShapeError', () => {
    const x = engine.zeros([10]);
    expect(() => dropout(engine, x, { p: 1, seed: 0, step: 0, training: true })).toThrow(ValueError);
    expect(() => dropout(engine, x, { p: 1, seed: 0, step: 0, training: true })).toThrow(/p must be in \[0, 1\)/);
    expect(() => dropout(engine, x, { p: -0.1, seed: 0, step: 0, training: true })).toThrow(ValueError);
    expect(() => dropout(engine, x, { p: Number.NaN, seed: 0, step: 0, training: true })).toThrow(ValueError);
    expect(() => dropout(engine, x, { p: 0.5, seed: 1.5, step: 0, training: true })).toThrow(/seed must be an integer/);
    expect(() => dropoutBackward(engine, x, { p: 0.5, seed: 0, step: -1, training: true })).toThrow(/step must be an integer/);
    expect(() => dropout(engine, x, { p: 0.5, seed: 2 ** 32, step: 0, training: true })).toThrow(ValueError);
    expect(() => dropout(engine, engine.zeros([10], 'i32'), { p: 0.5, seed: 0, step: 0, training: true })).toThrow(ShapeError);
  });
});
