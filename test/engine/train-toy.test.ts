// End-to-end: small networks trained with the engine's autograd and Adam on toy separable
// problems, seeded, to > 95 % accuracy on held-out points.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ag from '../../src/engine/autograd.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { argmax } from '../../src/engine/ops/reduce.ts';
import { Adam } from '../../src/engine/optim.ts';
import { Parameters, seededRandom } from '../../src/engine/parameters.ts';
import type { Tensor } from '../../src/engine/tensor.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

interface Split {
  x: Float32Array;
  y: Int32Array;
}

/** 2-D points around 4 centres on a circle of radius 2 (std 0.5): separable up to a few overlaps. */
function blobs(n: number, r: () => number): Split {
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * 4);
    y[i] = c;
    x[2 * i] = 2 * Math.cos((c * Math.PI) / 2) + 0.5 * gaussian(r);
    x[2 * i + 1] = 2 * Math.sin((c * Math.PI) / 2) + 0.5 * gaussian(r);
  }
  return { x, y };
}

/**
 * 1-D "patterns" of 48 points: noise plus one bump whose shape gives the class (a narrow peak, a
 * wide peak, or a close doublet) at a random position; position does not matter.
 */
function patterns(n: number, r: () => number): Split {
  const len = 48;
  const x = new Float32Array(n * len);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * 3);
    y[i] = c;
    const at = 10 + r() * 28;
    for (let t = 0; t < len; t++) {
      const g = (mu: number, s: number) => Math.exp(-0.5 * ((t - mu) / s) ** 2);
      const v = c === 0 ? g(at, 1) : c === 1 ? g(at, 4) : 0.8 * (g(at - 3, 1) + g(at + 3, 1));
      x[i * len + t] = v + 0.05 * gaussian(r);
    }
  }
  return { x, y };
}

async function accuracy(logits: ag.Variable, labels: Int32Array): Promise<number> {
  const pred = argmax(engine, logits.data);
  const p = await pred.read();
  pred.dispose();
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (p[i] === labels[i]) ok++;
  return ok / labels.length;
}

async function train(
  params: Parameters,
  forward: (x: ag.Variable, step: number, training: boolean) => ag.Variable,
  data: { train: Split; test: Split; shape: (n: number) => number[] },
  steps: number,
  batch: number,
  lr: number,
): Promise<{ trainLoss: number[]; testAccuracy: number; ms: number; liveDrift: number }> {
  const t0 = performance.now();
  const opt = new Adam(params, { lr });
  const nTrain = data.train.y.length;
  const per = data.train.x.length / nTrain;
  const r = seededRandom(99);
  const trainLoss: number[] = [];
  let baseline = -1;
  for (let step = 0; step < steps; step++) {
    const idx = Array.from({ length: batch }, () => Math.floor(r() * nTrain));
    const xb = new Float32Array(batch * per);
    const yb = new Int32Array(batch);
    idx.forEach((j, i) => {
      xb.set(data.train.x.subarray(j * per, (j + 1) * per), i * per);
      yb[i] = data.train.y[j]!;
    });
    const x = ag.variable(engine.tensor(xb, data.shape(batch)));
    const labels: Tensor<'i32'> = engine.tensor(yb, [batch], 'i32');
    opt.zeroGrad();
    const loss = ag.softmaxCrossEntropy(forward(x, step, true), labels);
    const watch = step % 20 === 0 || step === steps - 1;
    if (watch) loss.keep();
    loss.backward();
    opt.step();
    x.dispose();
    labels.dispose();
    if (watch) {
      trainLoss.push(await loss.readLoss());
      loss.dispose();
      // After the first step (gradients and moments exist) the live buffers must stay constant.
      engine.flush();
      if (baseline < 0) baseline = engine.pool.stats.live;
    }
  }
  engine.flush();
  const liveDrift = engine.pool.stats.live - baseline;
  const xt = ag.variable(engine.tensor(data.test.x, data.shape(data.test.y.length)));
  const logits = ag.noGrad(() => forward(xt, 0, false));
  const testAccuracy = await accuracy(logits, data.test.y);
  logits.dispose();
  xt.dispose();
  opt.dispose();
  return { trainLoss, testAccuracy, ms: performance.now() - t0, liveDrift };
}

describe('toy training', () => {
  it('dense -> relu -> dense learns 4 Gaussian blobs to > 95 % test accuracy', async () => {
    const r = seededRandom(1);
    const data = { train: blobs(512, r), test: blobs(512, r), shape: (n: number) => [n, 2] };
    const params = new Parameters(engine);
    params.uniform('fc1.weight', [32, 2], 1 / Math.sqrt(2), r);
    params.uniform('fc1.bias', [32], 1 / Math.sqrt(2), r);
    params.uniform('fc2.weight', [4, 32], 1 / Math.sqrt(32), r);
    params.uniform('fc2.bias', [4], 1 / Math.sqrt(32), r);
    const g = (n: string) => params.get(n);
    const forward = (x: ag.Variable) => ag.dense(ag.relu(ag.dense(x, g('fc1.weight'), g('fc1.bias'))), g('fc2.weight'), g('fc2.bias'));
    const res = await train(params, forward, data, 150, 64, 0.02);
    console.log(`blobs: test accuracy ${(res.testAccuracy * 100).toFixed(1)} %, loss ${res.trainLoss.map((l) => l.toFixed(3)).join(' ')}, ${res.ms.toFixed(0)} ms`);
    expect(res.trainLoss[res.trainLoss.length - 1]!).toBeLessThan(res.trainLoss[0]! / 3);
    expect(res.testAccuracy).toBeGreaterThan(0.95);
    expect(res.liveDrift).toBe(0);
    params.dispose();
  });

  it('conv1d -> relu -> dropout -> flatten -> dense -> relu -> dense learns 1-D peak shapes to > 95 %', async () => {
    const r = seededRandom(2);
    const data = { train: patterns(600, r), test: patterns(300, r), shape: (n: number) => [n, 1, 48] };
    const params = new Parameters(engine);
    const k = 7;
    const lout = Math.floor((48 - k) / 2) + 1;
    params.uniform('conv.weight', [8, 1, k], 1 / Math.sqrt(k), r);
    params.uniform('conv.bias', [8], 1 / Math.sqrt(k), r);
    params.uniform('fc1.weight', [16, 8 * lout], 1 / Math.sqrt(8 * lout), r);
    params.uniform('fc1.bias', [16], 1 / Math.sqrt(8 * lout), r);
    params.uniform('fc2.weight', [3, 16], 1 / 4, r);
    params.uniform('fc2.bias', [3], 1 / 4, r);
    const g = (n: string) => params.get(n);
    const forward = (x: ag.Variable, step: number, training: boolean) => {
      const h = ag.relu(ag.conv1d(x, g('conv.weight'), g('conv.bias'), { stride: 2 }));
      const d = ag.dropout(h, { p: 0.2, seed: 5, step, training });
      const f = ag.relu(ag.dense(ag.flatten(d), g('fc1.weight'), g('fc1.bias')));
      return ag.dense(f, g('fc2.weight'), g('fc2.bias'));
    };
    const res = await train(params, forward, data, 200, 32, 0.01);
    console.log(`patterns: test accuracy ${(res.testAccuracy * 100).toFixed(1)} %, loss ${res.trainLoss.map((l) => l.toFixed(3)).join(' ')}, ${res.ms.toFixed(0)} ms`);
    expect(res.testAccuracy).toBeGreaterThan(0.95);
    expect(res.liveDrift).toBe(0);
    params.dispose();
  });
});
