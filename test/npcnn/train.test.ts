// Training on simulated data: micro-batches equal the full batch, a small model learns a
// crystal-system task well above chance on held-out patterns, an interrupted and resumed run ends
// with the same weights as an uninterrupted one, and bad runs fail with one clear error and
// leave no partial run directory.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { decodeSafetensors } from '../../src/engine/safetensors.ts';
import { modelConfig, type ModelConfig } from '../../src/npcnn/config.ts';
import { SimulatedSource, trainingSource } from '../../src/npcnn/data.ts';
import { chunks } from '../../src/npcnn/infer.ts';
import { createModel } from '../../src/npcnn/model.ts';
import { loadModel } from '../../src/npcnn/model-dir.ts';
import { accumulateGradients, train, TrainingDivergedError, type TrainEvent, type TrainOptions } from '../../src/npcnn/train.ts';

let engine: Engine;
let tmp: string;
beforeAll(async () => {
  engine = await createEngine();
  tmp = mkdtempSync(join(tmpdir(), 'xrd-train-'));
});
afterAll(() => {
  engine?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A coarse grid (2000 points, 5-85 deg at 0.04 deg) keeps the compact model small and fast. */
const GRID = { points: 2000, step: 0.04 };
function smallCompact(seed = 1): ModelConfig {
  return modelConfig({ architecture: 'compact', task: 'crystal-system', seed, grid: GRID });
}

async function collect(o: TrainOptions): Promise<TrainEvent[]> {
  const events: TrainEvent[] = [];
  for await (const e of train(o)) events.push(e);
  return events;
}

describe('micro-batches', () => {
  it('gradients accumulated over micro-batches of 3, 3 and 4 equal those of the batch of 10 in one pass, dropout included', async () => {
    // compact without BatchNorm (it normalises each pass with its own statistics) and with
    // dropout after the hidden layer and after the first convolution
    const base = smallCompact();
    const layers = base.layers.filter((l) => l.type !== 'batchnorm1d');
    const lastRelu = layers.map((l) => l.type).lastIndexOf('relu');
    layers.splice(lastRelu + 1, 0, { type: 'dropout', p: 0.3 });
    layers.splice(2, 0, { type: 'dropout', p: 0.2 });
    const model = createModel(engine, { ...base, layers });
    const source = new SimulatedSource(engine, { effects: 'paper', poolSize: 8 }, 'micro', GRID);
    const batch = source.prepare(0, 10);
    const grads = async (parts: [number, number][]) => {
      const r = await accumulateGradients(model, source, batch, batch.crystalSystem, parts, 4).read();
      const g = new Map<string, Float32Array>();
      for (const p of model.params) g.set(p.name, (await p.grad!.read()) as Float32Array);
      model.params.zeroGrad();
      return { ...r, g };
    };
    const whole = await grads([[0, 10]]);
    const parts = chunks(10, 4);
    expect(parts).toEqual([
      [0, 3],
      [3, 6],
      [6, 10],
    ]);
    const split = await grads(parts);
    expect(split.lossSum).toBeCloseTo(whole.lossSum, 4);
    expect(split.correct).toBe(whole.correct);
    expect(Math.abs(split.gradNorm - whole.gradNorm) / whole.gradNorm).toBeLessThan(1e-5);
    for (const [name, a] of whole.g) {
      const b = split.g.get(name)!;
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(a[i]!));
      }
      if (!(diff <= 1e-5 * scale)) expect.fail(`${name}: micro-batch gradient differs by ${diff} (scale ${scale})`);
    }
    model.dispose();
  });
});

describe('learning', () => {
  it('compact learns a four-system task (triclinic, tetragonal, hexagonal, cubic groups) well above chance on held-out crystals', async () => {
    const out = join(tmp, 'learn');
    const events = await collect({
      engine,
      out,
      // 5-89.98 deg at 0.02 deg, narrow peaks: measured 0.78 top-1 after 200 steps
      model: modelConfig({ architecture: 'compact', task: 'crystal-system', seed: 3, grid: { points: 4250, step: 0.02 } }),
      steps: 200,
      batch: 32,
      lr: 2e-3,
      warmup: 20,
      validateEvery: 0,
      valSize: 200,
      checkpointEvery: 1000,
      seed: 3,
      data: { effects: 'clean', spaceGroups: [2, 139, 194, 225], poolSize: 256, refreshPerBatch: 32 },
    });
    const val = events.filter((e) => e.type === 'validation');
    expect(val).toHaveLength(1);
    const v = val[0] as Extract<TrainEvent, { type: 'validation' }>;
    // four classes in equal shares: chance is 0.25
    expect(v.top1).toBeGreaterThan(0.6);
    // the run directory is a model directory that scores the same
    const model = await loadModel(engine, out);
    expect(model.config.task).toBe('crystal-system');
    model.dispose();
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(201);
    expect(readFileSync(join(out, 'curves.svg'), 'utf8')).toContain('<svg');
  }, 300_000);
});

describe('checkpoints and resume', () => {
  const base = (out: string): TrainOptions => ({
    engine,
    out,
    model: smallCompact(5),
    steps: 6,
    batch: 8,
    microBatch: 5,
    validateEvery: 3,
    valSize: 16,
    checkpointEvery: 2,
    seed: 9,
    data: { effects: 'realistic', poolSize: 16, refreshPerBatch: 2 },
  });

  it('an interrupted run (abort after step 3) resumed to the end equals the uninterrupted run bit for bit', async () => {
    const a = join(tmp, 'straight');
    await collect(base(a));
    const b = join(tmp, 'interrupted');
    const controller = new AbortController();
    const first: TrainEvent[] = [];
    for await (const e of train({ ...base(b), signal: controller.signal })) {
      first.push(e);
      if (e.type === 'step' && e.step === 3) controller.abort();
    }
    expect(first.at(-1)).toMatchObject({ type: 'stopped', step: 3 });
    const resumed = await collect({ engine, out: b, resume: true });
    expect(resumed[0]).toMatchObject({ type: 'start', step: 3, resumed: true });
    expect(resumed.at(-1)).toMatchObject({ type: 'done', step: 6 });
    expect(readFileSync(join(b, 'weights.safetensors')).equals(readFileSync(join(a, 'weights.safetensors')))).toBe(true);
    // optimizer moments too (the metadata differs only in the seconds spent)
    const tensors = (dir: string) => decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'checkpoint.safetensors')))).tensors;
    const [ta, tb] = [tensors(a), tensors(b)];
    expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort());
    expect([...ta.keys()].some((k) => k.startsWith('optimizer.m.'))).toBe(true);
    const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    for (const [k, t] of ta) expect(bytes(tb.get(k)!.data).equals(bytes(t.data)), k).toBe(true);
    // the same losses after the resume, and one log line per step
    const losses = (dir: string) =>
      readFileSync(join(dir, 'log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; loss: number })
        .filter((e) => e.type === 'step')
        .map((e) => e.loss);
    expect(losses(b)).toEqual(losses(a));
    expect(losses(a)).toHaveLength(6);
    // extending a finished run with more steps continues it
    const more = await collect({ engine, out: b, resume: true, steps: 7 });
    expect(more.at(-1)).toMatchObject({ type: 'done', step: 7 });
  }, 120_000);

  it('refuses runs it must not touch and damaged checkpoints, with one clear message', async () => {
    const existing = join(tmp, 'straight');
    await expect(collect(base(existing))).rejects.toThrow(/holds another training run; pass --resume to continue it or --overwrite/);
    const unrelated = join(tmp, 'unrelated');
    mkdirSync(unrelated);
    writeFileSync(join(unrelated, 'notes.txt'), 'mine');
    await expect(collect(base(unrelated))).rejects.toThrow(/is not empty and holds no training run/);
    expect(readFileSync(join(unrelated, 'notes.txt'), 'utf8')).toBe('mine');
    await expect(collect({ engine, out: join(tmp, 'none'), resume: true })).rejects.toThrow(/has no checkpoint to resume/);
    await expect(collect({ engine, out: existing, resume: true, architecture: 'npcnn' })).rejects.toThrow(/is a run of compact, not npcnn/);
    await expect(collect({ ...base(join(tmp, 'bad-steps')), steps: 0 })).rejects.toThrow(/steps must be an integer >= 1, got 0/);
    await expect(collect({ ...base(join(tmp, 'bad-batch')), batch: 2.5 })).rejects.toThrow(/batch must be an integer >= 1/);
    expect(existsSync(join(tmp, 'bad-steps'))).toBe(false);

    const copy = join(tmp, 'damaged');
    mkdirSync(copy);
    for (const f of ['run.json', 'checkpoint.safetensors']) writeFileSync(join(copy, f), readFileSync(join(existing, f)));
    const ck = readFileSync(join(copy, 'checkpoint.safetensors'));
    writeFileSync(join(copy, 'checkpoint.safetensors'), ck.subarray(0, ck.length - 100));
    await expect(collect({ engine, out: copy, resume: true })).rejects.toThrow(/checkpoint.safetensors is damaged/);
  }, 120_000);

  it('a diverging run stops with a clear message and leaves no run directory when nothing was saved', async () => {
    const out = join(tmp, 'diverge');
    await expect(collect({ ...base(out), lr: 1e30, clip: 0, warmup: 0, schedule: 'constant', checkpointEvery: 100 })).rejects.toThrow(TrainingDivergedError);
    await expect(collect({ ...base(out), lr: 1e30, clip: 0, warmup: 0, schedule: 'constant', checkpointEvery: 100 })).rejects.toThrow(/lower the learning rate/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});

describe('measured patterns: fine-tuning, frozen convolutions, souping, folds', () => {
  /** Writes n simulated patterns as labelled .xy files (stand-ins for measurements) and a folds file. */
  async function measuredDir(n: number): Promise<{ dir: string; folds: string }> {
    const dir = join(tmp, 'measured');
    if (existsSync(dir)) return { dir, folds: join(tmp, 'measured-folds.json') };
    mkdirSync(dir);
    const source = new SimulatedSource(engine, { effects: 'paper', spaceGroups: [2, 225], poolSize: 8 }, 'measured', GRID);
    const prepared = source.prepare(0, n);
    const t = source.render(prepared, 0, n);
    const rows = await t.read();
    t.dispose();
    const files: { file: string; fold: number }[] = [];
    for (let i = 0; i < n; i++) {
      const lines = [`# space_group: ${prepared.spaceGroup[i]! + 1}`];
      for (let j = 0; j < GRID.points; j++) lines.push(`${(5 + j * GRID.step).toFixed(2)} ${(1000 * rows[i * GRID.points + j]!).toFixed(2)}`);
      writeFileSync(join(dir, `m${String(i).padStart(2, '0')}.xy`), lines.join('\n') + '\n');
      files.push({ file: `m${String(i).padStart(2, '0')}.xy`, fold: i % 3 });
    }
    const folds = join(tmp, 'measured-folds.json');
    writeFileSync(folds, JSON.stringify({ k: 3, files }));
    return { dir, folds };
  }

  it('fine-tunes from a model directory on the other folds, validates on the held-out fold, and can freeze the convolutions', async () => {
    const { dir, folds } = await measuredDir(12);
    const init = join(tmp, 'ft-init');
    await collect({ engine, out: init, model: smallCompact(11), steps: 2, batch: 4, valSize: 4, data: { effects: 'paper', poolSize: 4 } });
    const out = join(tmp, 'ft');
    const events = await collect({
      engine,
      out,
      init,
      steps: 3,
      batch: 4,
      lr: 1e-3,
      valSize: 4,
      valDir: dir,
      valFold: { folds, fold: 1 },
      freeze: 'conv',
      data: { measured: { dir, share: 1, folds, fold: 1 } },
    });
    const start = events[0] as Extract<TrainEvent, { type: 'start' }>;
    expect(start.source).toBe('8 measured patterns');
    const val = events.filter((e) => e.type === 'validation') as Extract<TrainEvent, { type: 'validation' }>[];
    expect(val.map((v) => [v.set, v.n])).toContainEqual([`${dir} (fold 1 of ${folds})`, 4]);
    const before = await loadModel(engine, init);
    const after = await loadModel(engine, out);
    for (const p of after.params) {
      const same = Buffer.from((await p.data.read()).buffer).equals(Buffer.from((await before.params.get(p.name).data.read()).buffer));
      const conv = after.config.layers[Number(p.name.split('.')[0])]!.type === 'conv1d';
      // convolutions frozen, everything else moved
      expect(same, p.name).toBe(conv);
    }
    before.dispose();
    after.dispose();
  }, 120_000);

  it('souping mixes measured patterns into simulated batches at the asked share', async () => {
    const { dir, folds } = await measuredDir(12);
    const source = trainingSource(engine, { effects: 'paper', poolSize: 8, measured: { dir, share: 0.25, folds, fold: 0 } }, 'soup', GRID);
    expect(source.describe()).toMatch(/^synthetic crystals .* \+ 8 measured patterns \(25 % of patterns\)$/);
    let measured = 0;
    for (let b = 0; b < 10; b++) {
      const p = source.prepare(b, 20);
      measured += p.rows!.length / GRID.points;
      expect((p.specs?.length ?? 0) + p.rows!.length / GRID.points).toBe(20);
      if (b === 0) {
        // a range across the simulated/measured boundary renders into one tensor, measured rows intact
        const nSim = p.specs!.length;
        const t = source.render(p, nSim - 1, 20);
        const v = await t.read();
        t.dispose();
        expect(Array.from(v.subarray(GRID.points))).toEqual(Array.from(p.rows!));
      }
    }
    // 200 draws at p = 0.25: mean 50, sd 6
    expect(measured).toBeGreaterThan(30);
    expect(measured).toBeLessThan(70);
    source.close();
  }, 120_000);
});

describe('CIF structures and element-substituted variants', () => {
  it('draws CIF patterns at the asked share, variants at theirs, each labelled with its parent structure', async () => {
    const dir = join(tmp, 'cif-lib');
    mkdirSync(dir, { recursive: true });
    const examples = join(import.meta.dirname, '../../examples');
    // a two-block file counts as two structures
    writeFileSync(join(dir, 'pair.cif'), `${readFileSync(join(examples, 'NaCl-halite.cif'), 'utf8')}\n${readFileSync(join(examples, 'TiO2-rutile.cif'), 'utf8')}`);
    const options = { effects: 'clean' as const, cifDirs: [dir], cifShare: 1, substituteShare: 0.5 };
    const source = new SimulatedSource(engine, options, 'variants', GRID);
    expect(source.describe()).toBe('2 CIF structures (100 % of patterns, 50 % of them element-substituted variants)');
    const n = 400;
    const p = source.prepare(0, n);
    // halite (225) and rutile (136) and their variants only: substitution never changes the group
    expect(new Set(Array.from(p.spaceGroup).map((g) => g + 1))).toEqual(new Set([136, 225]));
    // with 'clean' effects a parent always gives the same first peak; a variant's cell is scaled
    const parents = new SimulatedSource(engine, { ...options, substituteShare: 0 }, 'variants', GRID).prepare(0, 64);
    const parentFirst = new Set(parents.specs!.map((s) => s.center[0]!.toFixed(6)));
    expect(parentFirst.size).toBe(2);
    const variants = p.specs!.filter((s) => !parentFirst.has(s.center[0]!.toFixed(6))).length;
    expect(Math.abs(variants / n - 0.5)).toBeLessThan(0.1);
    // the same seed and batch give the same batch (resume stays bit-exact)
    const again = new SimulatedSource(engine, options, 'variants', GRID).prepare(0, n);
    expect(Array.from(again.spaceGroup)).toEqual(Array.from(p.spaceGroup));
    expect(() => new SimulatedSource(engine, { ...options, substituteShare: 2 }, 'x', GRID)).toThrow(/substituteShare must be in \[0, 1\]/);
  }, 120_000);
});

describe('held-out simulated validation', () => {
  it('uses fresh synthetic crystals only: never the CIF structures or measured patterns trained on, never the training prior', async () => {
    const { heldOutData } = await import('../../src/npcnn/train.ts');
    const data = {
      effects: 'realistic' as const,
      prior: 'system-balanced' as const,
      spaceGroups: [2, 225],
      cifDirs: ['/some/cifs'],
      cifShare: 0.3,
      substituteShare: 0.5,
      measured: { dir: '/some/patterns', share: 0.1 },
    };
    expect(heldOutData(data)).toEqual({ effects: 'realistic', spaceGroups: [2, 225], refreshPerBatch: 0 });
    expect(heldOutData({ dataset: '/ds' })).toEqual({ dataset: '/ds' });
  });
});

describe('space-group priors', () => {
  it('sampled space groups follow the prior: uniform over groups, or equal shares of the seven crystal systems', async () => {
    const { drawSpaceGroup, priorWeights } = await import('../../src/npcnn/data.ts');
    const { crystalSystemOf, CRYSTAL_SYSTEMS } = await import('../../src/sim/crystal.ts');
    const { Rng } = await import('../../src/sim/random.ts');
    const n = 70000;
    const share = (prior: 'uniform' | 'system-balanced') => {
      const rng = new Rng(`prior-${prior}`);
      const w = priorWeights(prior);
      const counts = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const s = crystalSystemOf(drawSpaceGroup(w, rng));
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      return CRYSTAL_SYSTEMS.map((s) => (counts.get(s) ?? 0) / n);
    };
    // groups per system: 2, 13, 59, 68, 25, 27, 36 of 230 (sd of a share <= 0.002 at n = 70000)
    const uniform = share('uniform');
    [2, 13, 59, 68, 25, 27, 36].forEach((g, i) => expect(Math.abs(uniform[i]! - g / 230)).toBeLessThan(0.008));
    for (const x of share('system-balanced')) expect(Math.abs(x - 1 / 7)).toBeLessThan(0.008);
  });

  it('counts priors come from real structures (CIFs) or labelled patterns, smoothed, and bad ones are refused', async () => {
    const { spaceGroupCounts } = await import('../../src/npcnn/data.ts');
    const fromCifs = spaceGroupCounts(join(import.meta.dirname, '../../examples'));
    expect(fromCifs.kind).toBe('structures');
    expect(fromCifs.n).toBe(3);
    expect([224, 135, 226].map((i) => fromCifs.counts[i])).toEqual([1, 1, 1]);
    expect(fromCifs.counts.reduce((a, b) => a + b, 0)).toBe(3);
    expect(
      () => new SimulatedSource(engine, { prior: { counts: new Array(230).fill(0), smoothing: 0 } }, 'x', GRID),
    ).toThrow(/a counts prior needs 230 non-negative counts/);
    // only groups 225-227 possible (counts 1, smoothing 0): every structure is cubic
    const counts = new Array<number>(230).fill(0);
    counts[224] = counts[225] = counts[226] = 1;
    const source = new SimulatedSource(engine, { effects: 'clean', prior: { counts, smoothing: 0 }, poolSize: 6, refreshPerBatch: 0 }, 'counts', GRID);
    const p = source.prepare(0, 12);
    expect(Array.from(p.spaceGroup).every((g) => g >= 224 && g <= 226)).toBe(true);
  }, 60_000);
});

describe('structure library in the stream', () => {
  it('draws library entries per mineral or per entry and never an excluded one', async () => {
    const lib = (await import('../../src/library/library.ts')).readLibrary();
    const keep = new Set(['0000789', '0004265', '0006212', '0000003']); // three quartz entries, galena
    const others = lib.entries.filter((e) => !keep.has(e.id)).map((e) => e.id);
    const share = (weighting: 'mineral' | 'entry', exclude = others): number[] => {
      const s = new SimulatedSource(engine, { effects: 'clean', cifShare: 1, library: { exclude, weighting } }, 'library', GRID);
      const g = Array.from(s.prepare(0, 2000).spaceGroup, (x) => x + 1);
      return [154, 225].map((n) => g.filter((x) => x === n).length / g.length);
    };
    const [qm, gm] = share('mineral');
    expect(qm! + gm!).toBe(1);
    expect(Math.abs(gm! - 0.5)).toBeLessThan(0.05); // two minerals, equally often
    const [, ge] = share('entry');
    expect(Math.abs(ge! - 0.25)).toBeLessThan(0.05); // four entries, equally often
    const [q0, g0] = share('mineral', [...others, '0000003']);
    expect([q0, g0]).toEqual([1, 0]);
    expect(() => new SimulatedSource(engine, { effects: 'clean', library: { exclude: lib.entries.map((e) => e.id) } }, 'x', GRID)).toThrow(/every entry .* is excluded/);
  });
});
