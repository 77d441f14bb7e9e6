import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ag from '../../src/engine/autograd.ts';
import { AutogradError, FreedTensorError, GraphFreedError, Variable } from '../../src/engine/autograd.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { windowOutputLength } from '../../src/engine/ops/common.ts';
import { EngineDestroyedError, ShapeError, ValueError } from '../../src/engine/errors.ts';
import { Adam, AdamW } from '../../src/engine/optim.ts';
import { Parameters, ParameterError, seededRandom } from '../../src/engine/parameters.ts';
import { adamStepRef } from '../reference/optimizer.ts';
import { conv1dRef, conv1dRefOutputLength, type Conv1dRefShape } from '../reference/conv1d.ts';
import { denseRef, type DenseDims } from '../reference/dense.ts';
import { dropoutRef } from '../reference/dropout.ts';
import { reluRef } from '../reference/elementwise.ts';
import { maxRelError, numericVjp } from '../reference/gradcheck.ts';
import { avgPool1dRef } from '../reference/pool.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

function values(n: number, seed: number, scale = 1): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (2 * r() - 1) * scale);
}

/** Mean over rows of -log softmax(z)[label], in float64. */
function xentRef(z: ArrayLike<number>, labels: ArrayLike<number>, c: number): number {
  const n = labels.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, z[i * c + j]!);
    let se = 0;
    for (let j = 0; j < c; j++) se += Math.exp(z[i * c + j]! - m);
    total += m + Math.log(se) - z[i * c + labels[i]!]!;
  }
  return total / n;
}

function sum64(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/**
 * Checks every gradient of a scalar loss against float64 central differences of a CPU forward:
 * `cpu(vals)` computes the loss from the named values, `names` are the ones to check.
 */
function numericGrads(
  cpu: (vals: Record<string, Float64Array>) => number,
  init: Record<string, Float32Array>,
  names: string[],
): Record<string, Float64Array> {
  const base: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(init)) base[k] = Float64Array.from(v);
  const out: Record<string, Float64Array> = {};
  for (const name of names) {
    out[name] = numericVjp((p) => [cpu({ ...base, [name]: p })], base[name]!, [1]);
  }
  return out;
}

describe('gradients of composed graphs match float64 finite differences', () => {
  it('dense -> relu -> dropout -> dense -> sum, including dx', async () => {
    const d1: DenseDims = { n: 3, inF: 5, outF: 4 };
    const d2: DenseDims = { n: 3, inF: 4, outF: 3 };
    const drop = { p: 0.3, seed: 7, step: 2, training: true };
    const init: Record<string, Float32Array> = {
      x: values(15, 1),
      w1: values(20, 2, 0.5),
      b1: values(4, 3, 0.1),
      w2: values(12, 4, 0.5),
      b2: values(3, 5, 0.1),
    };
    const cpu = (v: Record<string, Float64Array>): number => {
      const h = dropoutRef(reluRef(denseRef(v.x!, v.w1!, v.b1!, d1)), drop.p, drop.seed, drop.step);
      return sum64(denseRef(h, v.w2!, v.b2!, d2));
    };
    const params = new Parameters(engine);
    for (const [name, shape] of [
      ['w1', [4, 5]],
      ['b1', [4]],
      ['w2', [3, 4]],
      ['b2', [3]],
    ] as const) {
      params.create(name, shape, init[name]!);
    }
    const x = new Variable(engine.tensor(init.x!, [3, 5]), true, 'x');
    const h = ag.dropout(ag.relu(ag.dense(x, params.get('w1'), params.get('b1'))), drop);
    const loss = ag.sum(ag.dense(h, params.get('w2'), params.get('b2'))).keep();
    expect(loss.shape).toEqual([]);
    ag.backward(loss);
    expect((await loss.read())[0]).toBeCloseTo(cpu(Object.fromEntries(Object.entries(init).map(([k, v]) => [k, Float64Array.from(v)]))), 4);
    const num = numericGrads(cpu, init, ['x', 'w1', 'b1', 'w2', 'b2']);
    expect(maxRelError(await x.grad!.read(), num.x!, 1e-3)).toBeLessThan(1e-3);
    for (const p of params) expect(maxRelError(await p.grad!.read(), num[p.name]!, 1e-3), p.name).toBeLessThan(1e-3);
    loss.dispose();
    x.dispose();
    params.dispose();
  });

  it('conv1d (stride, padding, dilation) -> relu -> conv1d -> flatten -> dense -> mean, odd sizes', async () => {
    const s1: Conv1dRefShape = { n: 2, cin: 3, l: 19, cout: 5, k: 4, stride: 2, padding: 1, dilation: 2 };
    const l1 = conv1dRefOutputLength(s1);
    const s2: Conv1dRefShape = { n: 2, cin: 5, l: l1, cout: 3, k: 3, stride: 1, padding: 0, dilation: 1 };
    const l2 = conv1dRefOutputLength(s2);
    const d: DenseDims = { n: 2, inF: 3 * l2, outF: 3 };
    const init: Record<string, Float32Array> = {
      x: values(2 * 3 * 19, 21),
      c1w: values(5 * 3 * 4, 22, 0.4),
      c1b: values(5, 23, 0.1),
      c2w: values(3 * 5 * 3, 24, 0.4),
      c2b: values(3, 25, 0.1),
      fw: values(3 * 3 * l2, 26, 0.4),
      fb: values(3, 27, 0.1),
    };
    const cpu = (v: Record<string, Float64Array>): number => {
      const h1 = reluRef(conv1dRef(v.x!, v.c1w!, v.c1b!, s1));
      const h2 = conv1dRef(h1, v.c2w!, v.c2b!, s2);
      return sum64(denseRef(h2, v.fw!, v.fb!, d)) / 6;
    };
    const params = new Parameters(engine);
    params.create('c1w', [5, 3, 4], init.c1w!);
    params.create('c1b', [5], init.c1b!);
    params.create('c2w', [3, 5, 3], init.c2w!);
    params.create('c2b', [3], init.c2b!);
    params.create('fw', [3, 3 * l2], init.fw!);
    params.create('fb', [3], init.fb!);
    const x = new Variable(engine.tensor(init.x!, [2, 3, 19]), true);
    const g = (n: string) => params.get(n);
    const h1 = ag.relu(ag.conv1d(x, g('c1w'), g('c1b'), { stride: 2, padding: 1, dilation: 2 }));
    const h2 = ag.conv1d(h1, g('c2w'), g('c2b'));
    expect(h2.shape).toEqual([2, 3, l2]);
    ag.mean(ag.dense(ag.flatten(h2), g('fw'), g('fb'))).backward();
    const num = numericGrads(cpu, init, ['x', ...params.names()]);
    expect(maxRelError(await x.grad!.read(), num.x!, 1e-3)).toBeLessThan(1e-3);
    for (const p of params) expect(maxRelError(await p.grad!.read(), num[p.name]!, 1e-3), p.name).toBeLessThan(1e-3);
    x.dispose();
    params.dispose();
  });

  it('dense -> relu -> dropout -> dense -> softmax cross-entropy (ragged: 5 samples, 7 classes)', async () => {
    const d1: DenseDims = { n: 5, inF: 3, outF: 9 };
    const d2: DenseDims = { n: 5, inF: 9, outF: 7 };
    const labels = Int32Array.from([0, 6, 3, 3, 1]);
    const drop = { p: 0.25, seed: 3, step: 11, training: true };
    const init: Record<string, Float32Array> = {
      x: values(15, 41, 2),
      w1: values(27, 42),
      b1: values(9, 43, 0.1),
      w2: values(63, 44),
      b2: values(7, 45, 0.1),
    };
    const cpu = (v: Record<string, Float64Array>): number =>
      xentRef(denseRef(dropoutRef(reluRef(denseRef(v.x!, v.w1!, v.b1!, d1)), drop.p, drop.seed, drop.step), v.w2!, v.b2!, d2), labels, 7);
    const params = new Parameters(engine);
    params.create('w1', [9, 3], init.w1!);
    params.create('b1', [9], init.b1!);
    params.create('w2', [7, 9], init.w2!);
    params.create('b2', [7], init.b2!);
    const g = (n: string) => params.get(n);
    const x = new Variable(engine.tensor(init.x!, [5, 3]), true);
    const logits = ag.dense(ag.dropout(ag.relu(ag.dense(x, g('w1'), g('b1'))), drop), g('w2'), g('b2'));
    const loss = ag.softmaxCrossEntropy(logits, labels).keep();
    loss.backward();
    const f64 = Object.fromEntries(Object.entries(init).map(([k, v]) => [k, Float64Array.from(v)]));
    expect(await loss.readLoss()).toBeCloseTo(cpu(f64), 5);
    expect(loss.losses.shape).toEqual([5]);
    const num = numericGrads(cpu, init, ['x', ...params.names()]);
    expect(maxRelError(await x.grad!.read(), num.x!, 1e-3)).toBeLessThan(1e-3);
    for (const p of params) expect(maxRelError(await p.grad!.read(), num[p.name]!, 1e-3), p.name).toBeLessThan(1e-3);
    loss.dispose();
    x.dispose();
    params.dispose();
  });

  it('softmax cross-entropy on leaf logits with a retained graph accumulates without aliasing', async () => {
    const params = new Parameters(engine);
    const z = params.create('z', [2, 3], [1, 2, 3, -1, 0, 4]);
    const labels = Int32Array.from([2, 0]);
    const loss = ag.softmaxCrossEntropy(z, labels).keep();
    loss.backward({ retainGraph: true });
    loss.backward({ retainGraph: true });
    loss.backward();
    const num = numericVjp((v) => [xentRef(v, labels, 3)], [1, 2, 3, -1, 0, 4], [1]);
    expect(maxRelError(await z.grad!.read(), num.map((v) => 3 * v), 1e-4)).toBeLessThan(1e-4);
    loss.dispose();
    params.dispose();
  });

  it('avgPool1d -> flatten -> dense -> mean (ragged lengths, a view in the middle)', async () => {
    const [n, c, len, k, s, out] = [2, 3, 11, 3, 2, 5];
    const lo = windowOutputLength(len, k, s);
    const d: DenseDims = { n, inF: c * lo, outF: out };
    const init = { x: values(n * c * len, 11), w: values(out * c * lo, 12, 0.4), b: values(out, 13, 0.1) };
    const cpu = (v: Record<string, Float64Array>): number => sum64(denseRef(avgPool1dRef(v.x!, n * c, len, k, s), v.w!, v.b!, d)) / (n * out);
    const params = new Parameters(engine);
    params.create('w', [out, c * lo], init.w);
    params.create('b', [out], init.b);
    const x = new Variable(engine.tensor(init.x, [n, c, len]), true);
    const loss = ag.mean(ag.dense(ag.flatten(ag.avgPool1d(x, { kernel: k, stride: s })), params.get('w'), params.get('b')));
    loss.backward();
    const num = numericGrads(cpu, init, ['x', 'w', 'b']);
    expect(maxRelError(await x.grad!.read(), num.x!, 1e-3)).toBeLessThan(1e-3);
    expect(maxRelError(await params.get('w').grad!.read(), num.w!, 1e-3)).toBeLessThan(1e-3);
    expect(maxRelError(await params.get('b').grad!.read(), num.b!, 1e-3)).toBeLessThan(1e-3);
    x.dispose();
    params.dispose();
  });

  it('tiny 1-element tensors, a variable used twice by one op, retainGraph', async () => {
    // z = w x + b; loss = z * z + c (dense with z as both input and weight): dz = 2z.
    const params = new Parameters(engine);
    const w = params.create('w', [1, 1], [0.5]);
    const b = params.create('b', [1], [0.25]);
    const c = params.create('c', [1], [3]);
    const x = ag.variable(engine.tensor([2], [1, 1]));
    const z = ag.dense(x, w, b);
    const loss = ag.reshape(ag.dense(z, z, c), []).keep();
    loss.backward({ retainGraph: true });
    expect((await loss.read())[0]).toBeCloseTo(1.25 * 1.25 + 3, 6);
    expect((await w.grad!.read())[0]).toBeCloseTo(2 * 1.25 * 2, 5);
    expect((await b.grad!.read())[0]).toBeCloseTo(2 * 1.25, 5);
    expect((await c.grad!.read())[0]).toBeCloseTo(1, 6);
    loss.backward(); // the retained graph: gradients accumulate
    expect((await w.grad!.read())[0]).toBeCloseTo(2 * 5, 5);
    expect(() => z.data).toThrow(FreedTensorError);
    loss.dispose();
    x.dispose();
    params.dispose();
  });
});

describe('tape semantics', () => {
  function twoLayer(params: Parameters, x: Variable): Variable {
    return ag.sum(ag.dense(ag.relu(ag.dense(x, params.get('w1'), params.get('b1'))), params.get('w2'), params.get('b2')));
  }
  function makeParams(): Parameters {
    const p = new Parameters(engine);
    const r = seededRandom(3);
    p.uniform('w1', [6, 4], 0.5, r);
    p.uniform('b1', [6], 0.5, r);
    p.uniform('w2', [2, 6], 0.5, r);
    p.uniform('b2', [2], 0.5, r);
    return p;
  }

  it('accumulates gradients over backward calls until zeroGrad', async () => {
    const params = makeParams();
    const x = ag.variable(engine.tensor(values(12, 9), [3, 4]));
    twoLayer(params, x).backward();
    const once = await params.get('w1').grad!.read();
    twoLayer(params, x).backward();
    const twice = await params.get('w1').grad!.read();
    expect(maxRelError(twice, Float64Array.from(once, (v) => 2 * v))).toBeLessThan(1e-6);
    expect(once.some((v) => v !== 0)).toBe(true);
    params.zeroGrad();
    expect(params.get('w1').grad).toBeNull();
    twoLayer(params, x).backward();
    expect(maxRelError(await params.get('w1').grad!.read(), once)).toBeLessThan(1e-6);
    x.dispose();
    params.dispose();
  });

  it('a kept output becomes a constant once its graph is freed', async () => {
    const params = makeParams();
    const g = (n: string) => params.get(n);
    const x = ag.variable(engine.tensor(values(12, 9), [3, 4]));
    const h = ag.relu(ag.dense(x, g('w1'), g('b1'))).keep();
    expect(h.requiresGrad).toBe(true);
    ag.sum(ag.dense(h, g('w2'), g('b2'))).backward();
    expect(h.requiresGrad).toBe(false);
    params.zeroGrad();
    ag.sum(ag.dense(h, g('w2'), g('b2'))).backward();
    expect(g('w1').grad).toBeNull();
    expect(g('w2').grad).not.toBeNull();
    h.dispose();
    x.dispose();
    params.dispose();
  });

  it('returns every intermediate buffer to the pool after a training step', async () => {
    const params = makeParams();
    const x = ag.variable(engine.tensor(values(12, 9), [3, 4]));
    const step = (): void => {
      params.zeroGrad();
      twoLayer(params, x).backward();
    };
    step();
    engine.flush();
    const baseline = engine.pool.stats.live;
    const loss = twoLayer(params, x);
    engine.flush();
    expect(engine.pool.stats.live).toBeGreaterThan(baseline); // the graph holds its activations
    params.zeroGrad();
    loss.backward();
    engine.flush();
    expect(engine.pool.stats.live).toBe(baseline);
    for (let i = 0; i < 3; i++) step();
    engine.flush();
    expect(engine.pool.stats.live).toBe(baseline);
    // keep() holds exactly one more buffer until disposed.
    const kept = twoLayer(params, x).keep();
    kept.backward();
    engine.flush();
    expect(engine.pool.stats.live).toBe(baseline + 1);
    kept.dispose();
    engine.flush();
    expect(engine.pool.stats.live).toBe(baseline);
    x.dispose();
    params.dispose();
  });

  it('noGrad records nothing and frees everything it does not return', async () => {
    const params = makeParams();
    const x = ag.variable(engine.tensor(values(12, 9), [3, 4]));
    engine.flush();
    const before = engine.pool.stats.live;
    let hidden: Variable | null = null;
    const y = ag.noGrad(() => {
      hidden = ag.relu(ag.dense(x, params.get('w1'), params.get('b1')));
      expect(ag.isGradEnabled()).toBe(false);
      return ag.dense(hidden, params.get('w2'), params.get('b2'));
    });
    expect(ag.isGradEnabled()).toBe(true);
    expect(y.node).toBeNull();
    expect(y.requiresGrad).toBe(false);
    expect(() => hidden!.data).toThrow(FreedTensorError);
    engine.flush();
    expect(engine.pool.stats.live).toBe(before + 1);
    // Same values as the recorded forward.
    const rec = ag.dense(ag.relu(ag.dense(x, params.get('w1'), params.get('b1'))), params.get('w2'), params.get('b2')).keep();
    expect(maxRelError(await y.read(), await rec.read())).toBe(0);
    expect(() => y.backward()).toThrow(AutogradError);
    rec.freeGraph();
    rec.dispose();
    y.dispose();
    engine.flush();
    expect(engine.pool.stats.live).toBe(before);
    expect(() => ag.noGrad(() => Promise.resolve(1))).toThrow(/synchronous/);
    x.dispose();
    params.dispose();
  });
});

describe('optimizers over the registry', () => {
  for (const [name, Opt, decoupled, wd] of [
    ['Adam', Adam, false, 0.1],
    ['AdamW', AdamW, true, 0.01],
  ] as const) {
    it(`${name}: three steps match the float64 reference; parameters without a gradient stay put`, async () => {
      const params = new Parameters(engine);
      const w = params.create('w', [3, 4], values(12, 31));
      const b = params.create('b', [3], values(3, 32));
      const frozen = params.create('frozen', [2], [1, 2]);
      const x = ag.variable(engine.tensor(values(8, 33), [2, 4]));
      const opt = name === 'Adam' ? new Opt(params, { lr: 0.05, weightDecay: wd }) : new Opt(params, { lr: 0.05 });
      const ref = { w: Float64Array.from(await w.data.read()), b: Float64Array.from(await b.data.read()) };
      const mom = { w: [new Float64Array(12), new Float64Array(12)], b: [new Float64Array(3), new Float64Array(3)] };
      for (let t = 1; t <= 3; t++) {
        opt.zeroGrad();
        ag.sum(ag.relu(ag.dense(x, w, b))).backward();
        const grads = { w: await w.grad!.read(), b: await b.grad!.read() };
        opt.step();
        for (const k of ['w', 'b'] as const) {
          adamStepRef(ref[k], grads[k], mom[k][0]!, mom[k][1]!, { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: wd, decoupled, step: t });
        }
      }
      expect(opt.stepCount).toBe(3);
      expect(maxRelError(await w.data.read(), ref.w, 1e-6)).toBeLessThan(1e-5);
      expect(maxRelError(await b.data.read(), ref.b, 1e-6)).toBeLessThan(1e-5);
      expect([...(await frozen.data.read())]).toEqual([1, 2]);
      opt.dispose();
      x.dispose();
      params.dispose();
    });
  }
});

describe('typed errors', () => {
  it('backward() on a non-scalar names the shape', () => {
    const params = new Parameters(engine);
    const w = params.create('w', [2, 3], values(6, 1));
    const b = params.zeros('b', [2]);
    const x = ag.variable(engine.tensor(values(6, 2), [2, 3]));
    const y = ag.dense(x, w, b);
    expect(() => y.backward()).toThrow(AutogradError);
    expect(() => y.backward()).toThrow(/scalar.*\[2, 2\]/);
    y.freeGraph();
    x.dispose();
    params.dispose();
  });

  it('backward twice without retainGraph, and reading a freed intermediate', () => {
    const params = new Parameters(engine);
    const w = params.create('w', [1, 3], values(3, 1));
    const b = params.zeros('b', [1]);
    const x = ag.variable(engine.tensor(values(6, 2), [2, 3]));
    const h = ag.dense(x, w, b);
    const loss = ag.sum(h);
    loss.backward();
    expect(() => loss.backward()).toThrow(GraphFreedError);
    expect(() => loss.backward()).toThrow(/retainGraph/);
    expect(() => h.data).toThrow(FreedTensorError);
    expect(() => ag.relu(h)).toThrow(FreedTensorError);
    x.dispose();
    expect(() => ag.dense(x, w, b)).toThrow(FreedTensorError);
    params.dispose();
  });

  it('labels out of range: ValueError from CPU labels at once, from GPU labels through check()', async () => {
    const params = new Parameters(engine);
    const z = params.create('z', [2, 3], values(6, 1));
    expect(() => ag.softmaxCrossEntropy(z, Int32Array.from([0, 3]))).toThrow(ValueError);
    expect(() => ag.softmaxCrossEntropy(z, Int32Array.from([0, 3]))).toThrow(/label 3 at index 1 is out of range for 3 classes/);
    const gpuLabels = engine.tensor([-1, 2], [2], 'i32');
    const loss = ag.softmaxCrossEntropy(z, gpuLabels).keep();
    loss.backward();
    await expect(loss.readLoss()).rejects.toThrow(/label -1 at index 0 is out of range/);
    expect(Number.isNaN((await loss.read())[0])).toBe(true);
    loss.dispose();
    gpuLabels.dispose();
    params.dispose();
  });

  it('dropout: evaluation mode is a view (no new buffer), a bad p is a ValueError in both modes', async () => {
    const x = ag.variable(engine.tensor([1, -2, 3], [3]));
    engine.flush();
    const live = engine.pool.stats.live;
    const y = ag.dropout(x, { p: 0.5, seed: 1, step: 0, training: false });
    engine.flush();
    expect(engine.pool.stats.live).toBe(live);
    expect([...(await y.read())]).toEqual([1, -2, 3]);
    for (const training of [true, false]) {
      expect(() => ag.dropout(x, { p: 1, seed: 1, step: 0, training })).toThrow(ValueError);
    }
    y.dispose();
    x.dispose();
  });

  it('mismatched shapes between layers raise the op ShapeError', () => {
    const params = new Parameters(engine);
    const w = params.create('w', [2, 4], values(8, 1));
    const b = params.zeros('b', [2]);
    const x = ag.variable(engine.tensor(values(6, 2), [2, 3]));
    expect(() => ag.dense(x, w, b)).toThrow(ShapeError);
    expect(() => ag.reshape(x, [4, 2])).toThrow(ShapeError);
    x.dispose();
    params.dispose();
  });

  it('registry errors: duplicate and unknown names', () => {
    const params = new Parameters(engine);
    params.zeros('a', [2]);
    expect(() => params.zeros('a', [2])).toThrow(ParameterError);
    expect(() => params.get('nope')).toThrow(/no parameter named "nope" \(known: a\)/);
    expect(params.count()).toBe(2);
    params.dispose();
  });

  it('a destroyed engine raises EngineDestroyedError from ops and backward', async () => {
    const other = await createEngine();
    const params = new Parameters(other);
    const w = params.create('w', [1, 2], [1, 2]);
    const b = params.zeros('b', [1]);
    const x = ag.variable(other.tensor([3, 4], [1, 2]));
    const loss = ag.sum(ag.dense(x, w, b));
    other.destroy();
    expect(() => loss.backward()).toThrow(EngineDestroyedError);
    expect(() => ag.dense(x, w, b)).toThrow(EngineDestroyedError);
  });
});
