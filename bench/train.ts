// Training benchmark: patterns/s of a full training step (render the simulated batch, forward,
// backward, gradient norm, AdamW) and of inference, for npcnn, compact and compact-logq, next to the same models
// in PyTorch CPU (bench/torch_train.py, all cores) measured in the same run; the GPU memory the
// engine's pool held; and where a step's time goes, op by op (each op timed alone, synchronised).
//
//   npm run bench:train                      table (npcnn, compact, compact-logq; batch 64 and 256)
//   npm run bench:train -- --json            one JSON object
//   options: --arch npcnn,compact,compact-logq  --batch 64,256  --min-time 15 (seconds per measurement)
//            --no-torch  --no-profile
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scriptArgs } from '../src/cli/args.ts';
import { createEngine, type Engine } from '../src/engine/engine.ts';
import { batchNorm1d, batchNorm1dBackward } from '../src/engine/ops/batchnorm.ts';
import { conv1d, conv1dBackwardBias, conv1dBackwardInput, conv1dBackwardWeight } from '../src/engine/ops/conv1d.ts';
import { dense, denseBackwardBias, denseBackwardInput, denseBackwardWeight } from '../src/engine/ops/dense.ts';
import { dropout, dropoutBackward } from '../src/engine/ops/dropout.ts';
import { relu, reluBackward } from '../src/engine/ops/elementwise.ts';
import { adamStep } from '../src/engine/ops/optimizer.ts';
import { avgPool1d, avgPool1dBackward } from '../src/engine/ops/pool.ts';
import { sumSquares } from '../src/engine/ops/reduce.ts';
import { softmaxCrossEntropy } from '../src/engine/ops/softmax-xent.ts';
import { AdamW } from '../src/engine/optim.ts';
import type { Tensor } from '../src/engine/tensor.ts';
import { ARCHITECTURES, layerOutputShape, modelConfig, type Architecture } from '../src/npcnn/config.ts';
import { SimulatedSource } from '../src/npcnn/data.ts';
import { chunks, maxMicroBatch, score } from '../src/npcnn/infer.ts';
import { createModel, type Model } from '../src/npcnn/model.ts';
import { accumulateGradients } from '../src/npcnn/train.ts';

interface Args {
  json: boolean;
  archs: Architecture[];
  batches: number[];
  minTime: number;
  torch: boolean;
  profile: boolean;
}

function parseArgs(): Args {
  const { flags } = scriptArgs(
    [
      { name: 'json', type: 'boolean', description: 'print one JSON object instead of the table' },
      { name: 'arch', type: 'string', value: 'A,B', description: 'architectures', default: 'npcnn,compact,compact-logq' },
      { name: 'batch', type: 'string', value: 'N,M', description: 'batch sizes', default: '64,256' },
      { name: 'min-time', type: 'number', value: 'S', description: 'seconds to time each case for at least', default: 15 },
      { name: 'no-torch', type: 'boolean', description: 'leave out the PyTorch CPU peer' },
      { name: 'no-profile', type: 'boolean', description: 'leave out the per-layer kernel profile' },
    ],
    'bench/train.ts',
  );
  const a: Args = {
    json: flags.json === true,
    archs: (flags.arch as string).split(',') as Architecture[],
    batches: (flags.batch as string).split(',').map(Number),
    minTime: flags['min-time'] as number,
    torch: flags['no-torch'] !== true,
    profile: flags['no-profile'] !== true,
  };
  const fail = (m: string): never => {
    console.error(m);
    process.exit(2);
  };
  if (a.archs.some((x) => !ARCHITECTURES.includes(x))) fail(`--arch takes ${ARCHITECTURES.join(', ')}`);
  if (a.batches.some((b) => !(Number.isInteger(b) && b >= 1)) || !(a.minTime > 0)) fail('--batch needs positive integers and --min-time a positive number');
  return a;
}

interface Row {
  arch: string;
  parameters: number;
  batch: number;
  micro_batch: number;
  train_patterns_per_s: number;
  infer_patterns_per_s: number;
  gpu_pool_mib: number;
  torch_train_patterns_per_s: number | null;
  torch_infer_patterns_per_s: number | null;
  train_ratio: number | null;
  infer_ratio: number | null;
}

/** Seconds per call of fn (GPU work included), over at least minTime after one warm-up. */
async function timed(engine: Engine, fn: () => Promise<void> | void, minTime: number): Promise<number> {
  await fn();
  await engine.sync();
  let n = 0;
  const t0 = performance.now();
  for (;;) {
    await fn();
    await engine.sync();
    n++;
    const s = (performance.now() - t0) / 1000;
    if (s >= minTime && n >= 2) return s / n;
  }
}

async function trainRate(engine: Engine, model: Model, source: SimulatedSource, batch: number, minTime: number): Promise<{ rate: number; micro: number }> {
  const micro = Math.min(batch, maxMicroBatch(model));
  const parts = chunks(batch, micro);
  const opt = new AdamW(model.params, { lr: 1e-4, weightDecay: 0 });
  let b = 0;
  let next = source.prepare(b, batch);
  const step = async () => {
    const cur = next;
    const pending = accumulateGradients(model, source, cur, cur.crystalSystem, parts, b);
    next = source.prepare(++b, batch);
    await pending.read();
    opt.step();
    opt.zeroGrad();
  };
  const s = await timed(engine, step, minTime);
  opt.dispose();
  return { rate: batch / s, micro };
}

async function inferRate(engine: Engine, model: Model, source: SimulatedSource, batch: number, minTime: number): Promise<number> {
  const prepared = source.prepare(0, batch);
  const patterns = source.render(prepared, 0, batch);
  const s = await timed(engine, async () => void (await score(model, patterns)), minTime);
  patterns.dispose();
  return batch / s;
}

function torchPeer(arch: Architecture, batch: number, minTime: number): { train: number; infer: number } | null {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) return null;
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
  try {
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(modelConfig({ architecture: arch, task: 'crystal-system' })));
    const r = spawnSync(python, [join(import.meta.dirname, 'torch_train.py'), path, String(batch), String(minTime)], { encoding: 'utf8' });
    if (r.status !== 0) {
      console.error(`PyTorch peer failed (${r.stderr.trim().split('\n').at(-1)}); our numbers are shown alone`);
      return null;
    }
    const j = JSON.parse(r.stdout) as { train_patterns_per_s: number; infer_patterns_per_s: number };
    return { train: j.train_patterns_per_s, infer: j.infer_patterns_per_s };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface OpTime {
  op: string;
  seconds: number;
}

/**
 * One micro-batch step of `model`, op by op: every kernel the training step runs, timed alone at
 * the model's shapes (median of 3, synchronised), grouped by layer and pass.
 */
async function profile(engine: Engine, model: Model, source: SimulatedSource, n: number): Promise<OpTime[]> {
  const times: OpTime[] = [];
  const time = async (op: string, fn: () => Tensor | Tensor[] | void) => {
    const runs: number[] = [];
    for (let r = 0; r < 3; r++) {
      await engine.sync();
      const t0 = performance.now();
      const out = fn();
      await engine.sync();
      runs.push((performance.now() - t0) / 1000);
      for (const t of [out ?? []].flat()) t.dispose();
    }
    runs.sort((a, b) => a - b);
    times.push({ op, seconds: runs[1]! });
  };
  const prepared = source.prepare(0, n);
  await time('render patterns', () => source.render(prepared, 0, n));
  const patterns = source.render(prepared, 0, n);
  await time('input transform', () => model.prepareInput(patterns));
  let x = model.prepareInput(patterns) as Tensor;
  patterns.dispose();
  let shape = [1, model.inputLength];
  const grads: Tensor[] = [];
  for (const [i, l] of model.config.layers.entries()) {
    const name = `${i} ${l.type}${l.type === 'conv1d' ? ` ${l.in}->${l.out} k${l.kernel} s${l.stride}` : l.type === 'dense' ? ` ${l.in}->${l.out}` : ''}`;
    let y: Tensor;
    if (l.type === 'conv1d') {
      const w = model.params.get(`${i}.weight`).data;
      const b = model.params.get(`${i}.bias`).data;
      const p = { stride: l.stride };
      await time(`${name} forward`, () => conv1d(engine, x, w, b, p));
      y = conv1d(engine, x, w, b, p);
      await time(`${name} weight grad`, () => conv1dBackwardWeight(engine, x, y, p, l.kernel));
      await time(`${name} bias grad`, () => conv1dBackwardBias(engine, y));
      if (i > 0) await time(`${name} input grad`, () => conv1dBackwardInput(engine, y, w, p, shape[1]!));
    } else if (l.type === 'dense') {
      const w = model.params.get(`${i}.weight`).data;
      const b = model.params.get(`${i}.bias`).data;
      await time(`${name} forward`, () => dense(engine, x, w, b));
      y = dense(engine, x, w, b);
      await time(`${name} weight grad`, () => denseBackwardWeight(engine, y, x));
      await time(`${name} bias grad`, () => denseBackwardBias(engine, y));
      await time(`${name} input grad`, () => denseBackwardInput(engine, y, w));
    } else if (l.type === 'relu') {
      await time(`${name} forward+backward`, () => {
        const a = relu(engine, x);
        return [a, reluBackward(engine, a, x)];
      });
      y = relu(engine, x);
    } else if (l.type === 'dropout') {
      const p = { p: l.p, seed: i, step: 1, training: true };
      await time(`${name} forward+backward`, () => {
        const a = dropout(engine, x, p);
        return [a, dropoutBackward(engine, a, p)];
      });
      y = dropout(engine, x, p);
    } else if (l.type === 'avgpool1d') {
      const p = { kernel: l.kernel, stride: l.stride };
      await time(`${name} forward+backward`, () => {
        const a = avgPool1d(engine, x, p);
        return [a, avgPool1dBackward(engine, a, x.shape, p)];
      });
      y = avgPool1d(engine, x, p);
    } else if (l.type === 'batchnorm1d') {
      const w = model.params.get(`${i}.weight`).data;
      const b = model.params.get(`${i}.bias`).data;
      const running = { runningMean: engine.zeros([l.features]), runningVar: engine.zeros([l.features]) };
      await time(`${name} forward+backward`, () => {
        const f = batchNorm1d(engine, x, w, b, running, { training: true });
        const g = batchNorm1dBackward(engine, f.y, x, w, f.stats, true);
        return [f.y, f.stats, g.dx, g.dgamma, g.dbeta];
      });
      const f = batchNorm1d(engine, x, w, b, running, { training: true });
      f.stats.dispose();
      running.runningMean.dispose();
      running.runningVar.dispose();
      y = f.y;
    } else {
      y = x.reshape([n, -1]); // flatten
    }
    shape = layerOutputShape(l, shape);
    x.dispose();
    x = y;
  }
  const labels = new Int32Array(n);
  await time('softmax cross-entropy', () => {
    const r = softmaxCrossEntropy(engine, x, labels);
    return [r.loss, r.losses, r.grad, r.status];
  });
  x.dispose();
  for (const p of model.params) grads.push(engine.zeros(p.data.shape));
  await time('gradient norm', () => grads.map((g) => sumSquares(engine, g)));
  const moments = [...model.params].map((p) => [engine.zeros(p.data.shape), engine.zeros(p.data.shape)] as const);
  await time('AdamW update', () => {
    [...model.params].forEach((p, k) => adamStep(engine, p.data, grads[k]!, moments[k]![0], moments[k]![1], { lr: 1e-4, step: 1, decoupled: true, weightDecay: 0 }));
  });
  for (const g of grads) g.dispose();
  for (const [m, v] of moments) {
    m.dispose();
    v.dispose();
  }
  return times;
}

async function main(): Promise<void> {
  const args = parseArgs();
  const rows: Row[] = [];
  const profiles: Record<string, OpTime[]> = {};
  let device = '';
  for (const arch of args.archs) {
    for (const batch of args.batches) {
      // a fresh engine per row, so its buffer pool holds only this model's memory
      const engine = await createEngine();
      device = engine.info.description;
      try {
        const model = createModel(engine, modelConfig({ architecture: arch, task: 'crystal-system' }));
        // Structure factors prepared once: the bench measures rendering + training, not crystal making.
        const source = new SimulatedSource(engine, { effects: 'paper', poolSize: 64, refreshPerBatch: 0 }, 'bench', {});
        const { rate, micro } = await trainRate(engine, model, source, batch, args.minTime);
        const infer = await inferRate(engine, model, source, batch, args.minTime / 2);
        if (args.profile && batch === args.batches[0]) profiles[arch] = await profile(engine, model, source, micro);
        const peer = args.torch ? torchPeer(arch, batch, args.minTime) : null;
        rows.push({
          arch,
          parameters: model.parameterCount(),
          batch,
          micro_batch: micro,
          train_patterns_per_s: rate,
          infer_patterns_per_s: infer,
          gpu_pool_mib: engine.pool.stats.bytesAllocated / 2 ** 20,
          torch_train_patterns_per_s: peer?.train ?? null,
          torch_infer_patterns_per_s: peer?.infer ?? null,
          train_ratio: peer ? rate / peer.train : null,
          infer_ratio: peer ? infer / peer.infer : null,
        });
        model.dispose();
        source.close();
        if (!args.json) {
          const r = rows.at(-1)!;
          console.error(`measured ${arch} batch ${batch}: ${r.train_patterns_per_s.toFixed(1)} training / ${r.infer_patterns_per_s.toFixed(1)} inference patterns/s`);
        }
      } finally {
        engine.destroy();
      }
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ device, rows, profiles }, null, 2));
    return;
  }
  const f = (v: number | null, d = 1) => (v === null ? '-' : v.toFixed(d));
  console.log(`device: ${device}`);
  console.log('arch         params   batch (pass)  train/s  torch train/s  ratio  infer/s  torch infer/s  ratio  GPU pool MiB');
  for (const r of rows) {
    console.log(
      `${r.arch.padEnd(12)} ${(r.parameters / 1e6).toFixed(2).padStart(5)}M  ${String(r.batch).padStart(5)} (${String(r.micro_batch).padStart(3)})  ${f(r.train_patterns_per_s).padStart(7)}  ${f(r.torch_train_patterns_per_s).padStart(13)}  ${f(r.train_ratio, 2).padStart(5)}  ${f(r.infer_patterns_per_s).padStart(7)}  ${f(r.torch_infer_patterns_per_s).padStart(13)}  ${f(r.infer_ratio, 2).padStart(5)}  ${f(r.gpu_pool_mib, 0).padStart(12)}`,
    );
  }
  for (const [arch, times] of Object.entries(profiles)) {
    const total = times.reduce((a, t) => a + t.seconds, 0);
    console.log(`\nwhere a ${arch} step goes (one pass, ops timed alone, sum ${total.toFixed(2)} s):`);
    for (const t of [...times].sort((a, b) => b.seconds - a.seconds).slice(0, 12)) {
      console.log(`  ${((100 * t.seconds) / total).toFixed(1).padStart(5)} %  ${t.seconds.toFixed(3)} s  ${t.op}`);
    }
  }
}

await main();
