import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../helpers/data.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { ShapeError, ValueError } from '../../src/engine/errors.ts';
import { adamStep, adamwStep } from '../../src/engine/ops/optimizer.ts';
import { maxRelError } from '../reference/gradcheck.ts';
import { adamStepRef } from '../reference/optimizer.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

// every kernel variant: 'blocked' (8 elements per invocation) and 'flat' (1)
describe.each(['blocked', 'flat'])('variant %s', (variant) => {
  beforeAll(() => engine.setVariant('optimizer', variant));
  afterAll(() => engine.setVariant('optimizer', undefined));

  describe('adamStep / adamwStep', () => {
    // tiny, ragged, a conv2 weight (80 x 80 x 50) and the 230-class output layer (230 x 1150)
    for (const shape of [[1], [7], [1000], [80, 80, 50], [230, 1150]]) {
      for (const decoupled of [false, true]) {
        it(`${decoupled ? 'AdamW' : 'Adam'} matches the reference over 5 steps on [${shape}]`, async () => {
          const n = shape.reduce((a, b) => a * b, 1);
          const p0 = data(n, n);
          const param = engine.tensor(p0, shape);
          const m = engine.zeros(shape);
          const v = engine.zeros(shape);
          const rp = Float64Array.from(p0);
          const rm = new Float64Array(n);
          const rv = new Float64Array(n);
          const opts = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
          for (let step = 1; step <= 5; step++) {
            // gradients of varied scale, with some exact zeros
            const gv = Float32Array.from(data(n, n + step), (x, i) => (i % 11 === 0 ? 0 : x * (1 + (i % 5))));
            const grad = engine.tensor(gv, shape);
            // a clipping factor on one step (the update sees gradScale * grad)
            const gradScale = step === 3 ? 0.25 : 1;
            if (decoupled) adamwStep(engine, param, grad, m, v, { ...opts, step, gradScale });
            else adamStep(engine, param, grad, m, v, { ...opts, step, gradScale });
            adamStepRef(rp, gv, rm, rv, { ...opts, decoupled, step, gradScale });
            grad.dispose();
          }
          // params and moments are O(1) (absolute tolerance 1: fp32 rounding of O(1) sums is
          // absolute, even where the result lands near 0); v is compared relatively
          expect(maxRelError(await param.read(), rp, 1)).toBeLessThan(2e-6);
          expect(maxRelError(await m.read(), rm, 1)).toBeLessThan(2e-6);
          expect(maxRelError(await v.read(), rv, 1e-6)).toBeLessThan(1e-5);
          // the parameters moved by ~lr per step, so the comparison is not trivially p0 == p0
          expect(maxRelError(p0, rp, 1e-3)).toBeGreaterThan(1e-3);
          for (const t of [param, m, v]) t.dispose();
        });
      }
    }

  });
});

describe('adamStep / adamwStep against PyTorch and limits', () => {
  it('matches torch.optim.Adam / AdamW (float64, 4 steps) on a fixed problem', async () => {
    // torch 1.13: p = [0.5, -1.2, 3.0, 0.0, -0.01]; grad at step t: sin(i + 0.7 t) * (i + 1) * 0.3;
    // lr 0.01, betas (0.9, 0.999), eps 1e-8.
    const torch: [string, number, boolean, number[]][] = [
      ['adam', 0.1, false, [0.46063951564313743, -1.2257520806767288, 2.9837045400170514, 0.039143276893262725, 0.02264504925681886]],
      ['adamw', 0.1, true, [0.45898139645747094, -1.225617249750469, 2.987648873007047, 0.0390859168037848, 0.022639169659583663]],
      ['adam0', 0, false, [0.4609187034370545, -1.2304672065607243, 2.9996017402841266, 0.03914528442880838, 0.022657345212483842]],
    ];
    for (const [, weightDecay, decoupled, want] of torch) {
      const p0 = [0.5, -1.2, 3.0, 0.0, -0.01];
      const param = engine.tensor(p0, [5]);
      const m = engine.zeros([5]);
      const v = engine.zeros([5]);
      const rp = Float64Array.from(p0);
      const rm = new Float64Array(5);
      const rv = new Float64Array(5);
      for (let step = 1; step <= 4; step++) {
        const gv = Array.from({ length: 5 }, (_, i) => Math.sin(i + 0.7 * step) * (i + 1) * 0.3);
        const opts = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step };
        adamStep(engine, param, engine.tensor(gv, [5]), m, v, { ...opts, decoupled });
        adamStepRef(rp, gv, rm, rv, { ...opts, decoupled });
      }
      // the float64 reference reproduces PyTorch to rounding; the fp32 kernel to fp32 precision
      expect(maxRelError(rp, want, 1e-12)).toBeLessThan(1e-12);
      expect(maxRelError(await param.read(), want, 1)).toBeLessThan(1e-6);
    }
  });

  it('uses PyTorch defaults (betas 0.9/0.999, eps 1e-8, AdamW decay 0.01)', async () => {
    const p0 = data(33, 2);
    const gv = data(33, 3);
    for (const decoupled of [false, true]) {
      const param = engine.tensor(p0, [33]);
      if (decoupled) adamwStep(engine, param, engine.tensor(gv, [33]), engine.zeros([33]), engine.zeros([33]), { lr: 0.1, step: 1 });
      else adamStep(engine, param, engine.tensor(gv, [33]), engine.zeros([33]), engine.zeros([33]), { lr: 0.1, step: 1 });
      const rp = Float64Array.from(p0);
      adamStepRef(rp, gv, new Float64Array(33), new Float64Array(33), {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: decoupled ? 0.01 : 0,
        decoupled,
        step: 1,
      });
      expect(maxRelError(await param.read(), rp, 1)).toBeLessThan(2e-6);
    }
  });

  it('updates tensors longer than 65535 workgroups (grid split over y)', async () => {
    const n = 65535 * 256 + 300;
    const param = engine.zeros([n]);
    const grad = engine.empty([n]);
    engine.write(grad, Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -1)));
    // 'flat' (one element per invocation) is the variant whose grid needs the y split here
    engine.setVariant('optimizer', 'flat');
    adamStep(engine, param, grad, engine.zeros([n]), engine.zeros([n]), { lr: 0.5, step: 1 });
    engine.setVariant('optimizer', undefined);
    const out = await param.read();
    // first step: update = -lr * sign(g) (m_hat / sqrt(v_hat) = g / |g|)
    let bad = 0;
    for (let i = 0; i < n; i++) if (Math.abs(out[i] - (i % 2 ? -0.5 : 0.5)) > 1e-6) bad++;
    expect(bad).toBe(0);
  });

  it('rejects bad shapes and hyperparameters with typed errors', () => {
    const p = engine.zeros([4, 3]);
    const g = engine.zeros([4, 3]);
    const m = engine.zeros([4, 3]);
    const v = engine.zeros([4, 3]);
    const ok = { lr: 1e-3, step: 1 };
    expect(() => adamStep(engine, p, engine.zeros([12]), m, v, ok)).toThrow(/adamStep: grad has shape \[12\] but param has \[4, 3\]/);
    expect(() => adamwStep(engine, p, g, engine.zeros([3, 4]), v, ok)).toThrow(ShapeError);
    expect(() => adamStep(engine, p, g, m, engine.zeros([4, 3], 'i32'), ok)).toThrow(/v must be an f32 tensor/);
    expect(() => adamStep(engine, p, g, m, v, { lr: 1e-3, step: 0 })).toThrow(/step must be an integer >= 1/);
    expect(() => adamStep(engine, p, g, m, v, { lr: -1, step: 1 })).toThrow(ValueError);
    expect(() => adamStep(engine, p, g, m, v, { lr: 1e-3, step: 1, beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => adamStep(engine, p, g, m, v, { lr: 1e-3, step: 1, beta2: Number.NaN })).toThrow(ValueError);
    expect(() => adamwStep(engine, p, g, m, v, { lr: 1e-3, step: 1, eps: -1 })).toThrow(/adamwStep: eps/);
    expect(() => adamStep(engine, p, g, m, v, { lr: 1e-3, step: 1, weightDecay: -0.1 })).toThrow(ValueError);
    expect(() => adamStep(engine, p, g, m, m, ok)).toThrow(/same buffer/);
  });
});
