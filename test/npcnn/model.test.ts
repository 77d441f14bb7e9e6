// Models against PyTorch on the same weights: the paper's NPCNN at full size (and the other
// architectures) built from config.json by scripts/torch_model.py, logits and one step's parameter
// gradients compared on a real simulated batch. Plus config validation and model directories.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ag from '../../src/engine/autograd.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { decodeSafetensors } from '../../src/engine/safetensors.ts';
import { modelConfig, validateModelConfig, ModelConfigError, type Architecture } from '../../src/npcnn/config.ts';
import { createModel, ModelLoadError } from '../../src/npcnn/model.ts';
import { loadModel, saveModel } from '../../src/npcnn/model-dir.ts';
import { encodeNpy } from '../../src/sim/npy.ts';
import { simulate } from '../../src/sim/stream.ts';
import { scaledError } from '../reference/gradcheck.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const python = '/usr/bin/python3';
const hasTorch = existsSync(python) && spawnSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;

let engine: Engine;
let tmp: string;
beforeAll(async () => {
  engine = await createEngine();
  tmp = mkdtempSync(join(tmpdir(), 'xrd-model-'));
});
afterAll(() => {
  engine?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function simulatedBatch(n: number): Promise<{ patterns: Float32Array; labels: Int32Array }> {
  for await (const b of simulate({ engine, source: 'synthetic', batchSize: n, effects: 'paper', seed: 11, batches: 1 })) {
    const patterns = (await b.patterns.read()) as Float32Array;
    const labels = (await b.crystalSystem.read()) as Int32Array;
    b.patterns.dispose();
    b.spaceGroup.dispose();
    b.crystalSystem.dispose();
    return { patterns, labels };
  }
  throw new Error('no batch');
}

describe('architectures', () => {
  it("npcnn has the paper's shapes: 31.1M parameters, 12160 flattened features", () => {
    const c = modelConfig({ architecture: 'npcnn', task: 'crystal-system' });
    const dense = c.layers.filter((l) => l.type === 'dense');
    expect(dense.map((l) => [l.in, l.out])).toEqual([
      [12160, 2300],
      [2300, 1150],
      [1150, 7],
    ]);
    expect(c.layers.filter((l) => l.type === 'dropout').map((l) => l.p)).toEqual([0.3, 0.3, 0.3, 0.5, 0.5]);
    expect(modelConfig({ architecture: 'npcnn', task: 'space-group' }).classes).toHaveLength(230);
  });

  it('rejects unknown architectures, tasks and inconsistent layer lists with messages naming the field', () => {
    expect(() => modelConfig({ architecture: 'resnet' as Architecture, task: 'crystal-system' })).toThrow(/unknown architecture 'resnet'.*npcnn, npcnn-bn, compact, compact-logq, scnn, mlp/);
    const c = modelConfig({ architecture: 'compact', task: 'crystal-system' });
    const broken = { ...c, layers: c.layers.map((l) => (l.type === 'dense' && l.out === 256 ? { ...l, in: 100 } : l)) };
    expect(() => validateModelConfig(broken, 'x.json')).toThrow(ModelConfigError);
    expect(() => validateModelConfig(broken, 'x.json')).toThrow(/x.json: layer \d+ \(dense\): in must be/);
    expect(() => validateModelConfig({ ...c, classes: ['a', 'b'] }, 'x.json')).toThrow(/gives 7 outputs but there are 2 classes/);
    expect(() => validateModelConfig({ ...c, version: 99 }, 'x.json')).toThrow(/schema version 99/);
  });
});

describe('model directories', () => {
  it('a layer larger than the device binds is refused with a message saying what to do', () => {
    const limit = engine.info.limits.maxStorageBufferBindingSize;
    // the MLP's first weight is points x 4000 floats
    const config = modelConfig({ architecture: 'mlp', task: 'crystal-system', grid: { points: Math.ceil(limit / 16000) + 1 } });
    expect(() => createModel(engine, config)).toThrow(/needs \d+ MiB of weights in one buffer, but this device binds at most \d+ MiB/);
  });

  it('save and load round-trip the weights; wrong or damaged directories give ModelLoadError', async () => {
    const model = createModel(engine, modelConfig({ architecture: 'compact', task: 'crystal-system', seed: 5 }));
    const dir = join(tmp, 'compact');
    await saveModel(dir, model);
    const back = await loadModel(engine, dir);
    for (const p of model.params) expect(await back.params.get(p.name).data.read()).toEqual(await p.data.read());
    back.dispose();

    await expect(loadModel(engine, join(tmp, 'nothing'))).rejects.toThrow(/is not a model directory/);
    // weights of another architecture under a compact config
    const other = createModel(engine, modelConfig({ architecture: 'compact', task: 'space-group' }));
    const otherDir = join(tmp, 'other');
    await saveModel(otherDir, other);
    other.dispose();
    writeFileSync(join(otherDir, 'config.json'), JSON.stringify(model.config));
    await expect(loadModel(engine, otherDir)).rejects.toThrow(ModelLoadError);
    await expect(loadModel(engine, otherDir)).rejects.toThrow(/has shape \[230, 256\] but the model expects \[7, 256\]/);
    // truncated weights
    const bytes = readFileSync(join(dir, 'weights.safetensors'));
    writeFileSync(join(dir, 'weights.safetensors'), bytes.subarray(0, bytes.length >> 1));
    await expect(loadModel(engine, dir)).rejects.toThrow(ModelLoadError);
    writeFileSync(join(dir, 'config.json'), '{"schema": ');
    await expect(loadModel(engine, dir)).rejects.toThrow(/not valid JSON/);
    model.dispose();
  });
});

describe.skipIf(!hasTorch)('against PyTorch on the same weights (skipped without /usr/bin/python3 + torch)', () => {
  // [architecture, task, batch, BatchNorm on batch statistics (training) or running ones]
  const cases: [Architecture, 'crystal-system' | 'space-group', number, boolean?][] = [
    ['npcnn', 'crystal-system', 4],
    ['compact', 'space-group', 6, true],
    ['compact', 'crystal-system', 3, false],
    ['compact-logq', 'crystal-system', 4, true],
    ['compact-logq', 'space-group', 3, false],
    ['npcnn-bn', 'crystal-system', 3, false],
    ['scnn', 'crystal-system', 2],
    ['mlp', 'crystal-system', 2],
  ];
  for (const [arch, task, n, bnTraining] of cases) {
    // the paper's MLP has an 8500 x 4000 weight (136 MB): more than lavapipe binds (128 MiB)
    const fits = () => arch !== 'mlp' || engine.info.limits.maxStorageBufferBindingSize >= 136e6;
    const mode = bnTraining === undefined ? '' : bnTraining ? ', BatchNorm on batch statistics' : ', BatchNorm on running statistics';
    it(`${arch} (${task}${mode}): logits to 1e-4 and parameter gradients of one step to 1e-3 relative, batch ${n}`, async (ctx) => {
      if (!fits()) ctx.skip();
      const model = createModel(engine, modelConfig({ architecture: arch, task, seed: 7 }));
      const dir = join(tmp, `torch-${arch}-${task}`);
      const { patterns, labels: cs } = await simulatedBatch(n);
      // space-group labels: any valid class works for the gradient check
      const labels = task === 'crystal-system' ? cs : Int32Array.from(cs, (c, i) => (c * 31 + i * 7) % 230);
      const outPath = join(dir, 'torch.safetensors');
      // non-trivial running statistics, so evaluation mode is tested with them
      for (const [name, t] of model.buffers) {
        const v = Float32Array.from({ length: t.size }, (_, i) => (name.endsWith('mean') ? 0.01 * ((i % 7) - 3) : 0.5 + 0.1 * (i % 5)));
        engine.write(t, v);
      }
      await saveModel(dir, model);
      writeFileSync(join(dir, 'x.npy'), encodeNpy(patterns, [n, patterns.length / n]));
      writeFileSync(join(dir, 'y.npy'), encodeNpy(labels, [n]));
      const args = [join(repoRoot, 'scripts/torch_model.py'), dir, join(dir, 'x.npy'), join(dir, 'y.npy'), outPath, ...(bnTraining ? ['train'] : [])];
      const info = JSON.parse(execFileSync(python, args, { encoding: 'utf8' })) as { parameters: number };
      expect(info.parameters).toBe(model.parameterCount());
      const torchOut = decodeSafetensors(new Uint8Array(readFileSync(outPath))).tensors;

      const input = model.prepareInput(engine.tensor(patterns, [n, patterns.length / n]));
      // training mode only for models without dropout (its masks differ between the two sides)
      if (bnTraining) expect(model.config.layers.some((l) => l.type === 'dropout')).toBe(false);
      const logits = model.forward(ag.variable(input), { training: !!bnTraining }).keep();
      const loss = ag.softmaxCrossEntropy(logits, labels);
      loss.keep();
      loss.backward();
      const ours = await logits.read();
      const want = torchOut.get('logits')!.data;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - want[i]!));
      expect(worst).toBeLessThan(1e-4);
      expect(Math.abs((await loss.readLoss()) - torchOut.get('loss')!.data[0]!)).toBeLessThan(1e-4);
      for (const p of model.params) {
        const g = torchOut.get(`grad.${p.name}`)!.data;
        const ours = await p.grad!.read();
        const largest = (a: ArrayLike<number>) => {
          let m = 0;
          for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
          return m;
        };
        // A bias just before BatchNorm on batch statistics has a zero gradient: only rounding noise
        // on either side, whose size depends on summation order (PyTorch's thread count). Both must
        // be negligible against the gradient of the same layer's weights.
        const layer = Number(p.name.split('.')[0]);
        if (bnTraining && p.name.endsWith('.bias') && model.config.layers[layer + 1]?.type === 'batchnorm1d') {
          const scale = largest(torchOut.get(`grad.${layer}.weight`)!.data);
          expect(largest(g)).toBeLessThan(1e-3 * scale);
          expect(largest(ours)).toBeLessThan(1e-3 * scale);
          continue;
        }
        if (largest(g) < 1e-6) {
          expect(largest(ours)).toBeLessThan(1e-5);
          continue;
        }
        const err = scaledError(ours, g);
        if (!(err < 1e-3)) expect.fail(`${p.name}: gradient differs from PyTorch by ${err.toExponential(2)} of its scale`);
      }
      for (const [name, t] of model.buffers) {
        const err = scaledError(await t.read(), torchOut.get(`buffer.${name}`)!.data);
        if (!(err < 1e-5)) expect.fail(`${name}: running statistic differs from PyTorch by ${err.toExponential(2)} of its scale`);
      }
      for (const v of [logits, loss]) v.dispose();
      input.dispose();
      model.dispose();
    }, 240_000);
  }
});
