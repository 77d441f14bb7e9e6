// Expedited-learning report of a model on a labelled directory, with honest k-fold splits:
// for every fold (near-duplicates kept together, xrd folds), the model zero-shot, the model
// fine-tuned on the other folds, and the same architecture trained from scratch on the other
// folds, all scored on the held-out fold, beside the nearest-neighbour and majority baselines.
//
//   npx tsx scripts/kfold-report.ts --model models/crystal-system --data ../shared/data/rruff-dev \
//     --folds rruff-folds.json --out runs/kfold-cs [--finetune-steps 200] [--finetune-lr 3e-4] [--scratch-steps 300]
//
// Writes OUT/report.json and prints a table. Fine-tuned and scratch runs go to OUT/fold-K-*; a
// finished scratch run there is reused (it does not depend on the model under evaluation).
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEngine } from '../src/engine/engine.ts';
import { gridRows, readLabelledDirectory, toModelGrid } from '../src/io/patterns.ts';
import { classIndex } from '../src/npcnn/config.ts';
import { filesOfFold } from '../src/npcnn/data.ts';
import { correlations, foldBaselines } from '../src/npcnn/folds.ts';
import { classificationMetrics } from '../src/npcnn/metrics.ts';
import type { Model } from '../src/npcnn/model.ts';
import { loadModel, readModelConfig } from '../src/npcnn/model-dir.ts';
import { predictRows } from '../src/npcnn/predict.ts';
import { train } from '../src/npcnn/train.ts';
import { DEFAULT_GRID } from '../src/sim/render.ts';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) {
    console.error(`missing --${name}; usage: kfold-report.ts --model DIR --data DIR --folds FILE --out DIR [--finetune-steps N] [--finetune-lr X] [--scratch-steps N]`);
    process.exit(2);
  }
  return v;
}

const modelDir = arg('model');
const dataDir = arg('data');
const foldsFile = arg('folds');
const out = arg('out');
const finetuneSteps = Number(arg('finetune-steps', '200'));
const finetuneLr = Number(arg('finetune-lr', '3e-4'));
const scratchSteps = Number(arg('scratch-steps', '300'));
const k = (JSON.parse(readFileSync(foldsFile, 'utf8')) as { k: number }).k;

const engine = await createEngine();
const config = readModelConfig(modelDir);
const task = config.task;

async function scoreFold(model: Model, fold: number): Promise<{ top1: number; n: number; correct: number }> {
  const files = filesOfFold(dataDir, foldsFile, fold, true);
  const probs = await predictRows(engine, model, gridRows(files, config.input), files.length);
  const labels = files.map((f) => classIndex(task, f));
  const m = classificationMetrics(model.classes, labels, probs);
  return { top1: m.top1, n: m.n, correct: Math.round(m.top1 * m.n) };
}

/**
 * The from-scratch control depends only on the architecture, task, fold and steps, not on the
 * model under evaluation: a finished one already in OUT is reused.
 */
function finishedScratch(dir: string): boolean {
  try {
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { model: { layers: unknown; task: string }; options: { steps: number } };
    const log = readFileSync(join(dir, 'log.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number });
    const last = log.filter((e) => e.type === 'step').at(-1);
    return JSON.stringify(run.model.layers) === JSON.stringify(config.layers) && run.model.task === task && run.options.steps === scratchSteps && last?.step === scratchSteps;
  } catch {
    return false;
  }
}

async function run(options: Parameters<typeof train>[0]): Promise<void> {
  for await (const e of train(options)) {
    if (e.type === 'done') console.error(`  ${options.out}: ${e.step} steps in ${e.seconds.toFixed(0)} s`);
  }
}

await mkdir(out, { recursive: true });
const rows: { fold: number; n: number; zeroShot: number; finetuned: number; scratch: number }[] = [];
const base = await loadModel(engine, modelDir);
for (let fold = 0; fold < k; fold++) {
  const zero = await scoreFold(base, fold);
  const common = { engine, steps: 0, batch: 32, valSize: 0, validateEvery: 0, checkpointEvery: 100000, seed: fold, overwrite: true };
  const measured = { dir: dataDir, share: 1, folds: foldsFile, fold };
  const ft = join(out, `fold-${fold}-finetuned`);
  await run({ ...common, out: ft, init: modelDir, steps: finetuneSteps, lr: finetuneLr, warmup: 20, schedule: 'cosine', clip: 5, data: { measured } });
  const sc = join(out, `fold-${fold}-scratch`);
  if (finishedScratch(sc)) console.error(`  ${sc}: reused (same architecture, fold and steps)`);
  else await run({ ...common, out: sc, model: { ...config, seed: fold }, steps: scratchSteps, lr: 2e-3, warmup: 30, schedule: 'cosine', clip: 5, data: { measured } });
  const [ftModel, scModel] = [await loadModel(engine, ft), await loadModel(engine, sc)];
  const row = { fold, n: zero.n, zeroShot: zero.top1, finetuned: (await scoreFold(ftModel, fold)).top1, scratch: (await scoreFold(scModel, fold)).top1 };
  ftModel.dispose();
  scModel.dispose();
  rows.push(row);
  console.error(`fold ${fold}: n ${row.n}, zero-shot ${row.zeroShot.toFixed(3)}, fine-tuned ${row.finetuned.toFixed(3)}, from scratch ${row.scratch.toFixed(3)}`);
}
base.dispose();

// Baselines on the same folds.
const patterns = readLabelledDirectory(dataDir);
const corr = correlations(patterns.map((p) => toModelGrid(p, DEFAULT_GRID).values));
const foldOf = new Map((JSON.parse(readFileSync(foldsFile, 'utf8')) as { files: { file: string; fold: number }[] }).files.map((f) => [f.file, f.fold]));
const folds = patterns.map((p) => foldOf.get(p.file.split('/').pop()!)!);
const b = foldBaselines(corr, patterns.map((p) => p.spaceGroup), patterns.map((p) => p.crystalSystem), folds, k);
const pick = task === 'space-group' ? 'spaceGroup' : 'crystalSystem';
const total = rows.reduce((a, r) => a + r.n, 0);
const mean = (key: 'zeroShot' | 'finetuned' | 'scratch') => rows.reduce((a, r) => a + r[key] * r.n, 0) / total;
const report = {
  model: modelDir,
  task,
  data: dataDir,
  folds: foldsFile,
  k,
  finetune: { steps: finetuneSteps, batch: 32, lr: finetuneLr },
  scratch: { steps: scratchSteps, batch: 32, lr: 2e-3 },
  n: total,
  top1: { zero_shot: mean('zeroShot'), finetuned: mean('finetuned'), from_scratch: mean('scratch'), nearest_neighbour: b.nearest[pick].top1, majority: b.majority[pick].top1 },
  per_fold: rows,
};
await writeFile(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
engine.destroy();
const p = (v: number) => `${(100 * v).toFixed(1)}%`;
console.log(`${task} on ${dataDir}, ${k} folds (near-duplicates kept together), n = ${total}, top-1 on held-out folds:`);
console.log(`  zero-shot ${p(report.top1.zero_shot)} | fine-tuned ${p(report.top1.finetuned)} | from scratch ${p(report.top1.from_scratch)} | nearest neighbour ${p(report.top1.nearest_neighbour)} | majority ${p(report.top1.majority)}`);
