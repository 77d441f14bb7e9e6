// `xrd eval` and `xrd calibrate`: score a model on labelled pattern files (metrics, HTML report);
// fit a softmax temperature. Thin over npcnn/metrics.ts and npcnn/calibration.ts.
import { join, resolve } from 'node:path';
import { classIndex } from '../npcnn/config.ts';
import type { Metrics } from '../npcnn/metrics.ts';
import type { Model } from '../npcnn/model.ts';
import type { FileFailure, FilePrediction } from '../npcnn/predict.ts';
import { UsageError, type FlagValue } from './args.ts';
import type { CliIO, Command } from './command.ts';
import { loadModels, MODEL_FLAG, patternFiles, WAVELENGTH_FLAG } from './models.ts';
import { Progress } from './progress.ts';

/**
 * The predictions whose files carry the model's kind of label, their class indices and the full
 * probability rows (predictions must list every class in `top`).
 */
function labelledRows(model: Model, predictions: FilePrediction[]): { labelled: FilePrediction[]; labels: number[]; probs: Float32Array } {
  const labelled = predictions.filter((p) => classIndex(model.config.task, p.truth) >= 0);
  const labels = labelled.map((p) => classIndex(model.config.task, p.truth));
  const c = model.classes.length;
  const probs = new Float32Array(labelled.length * c);
  labelled.forEach((p, i) => {
    for (const t of p.top) probs[i * c + model.classes.indexOf(t.label)] = t.probability;
  });
  return { labelled, labels, probs };
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'score a model on labelled pattern files: top-k, per-class F1, confusion, calibration',
  usage: 'xrd eval --model DIR FILES|DIRS... [--json] [--report FILE]  |  xrd eval --baseline nearest --reference DIR [--task NAME] FILES|DIRS...',
  description: [
    'Classifies labelled patterns (a `# space_group: N` or `# crystal_system: NAME` header) and',
    'reports n, top-1/3/5 accuracy, the majority-class baseline, macro-F1, per-class precision,',
    'recall and F1, the confusion matrix and the expected calibration error (10 bins) with its',
    'reliability curve. Files that cannot be read are listed and left out of the scores.',
    'With --baseline nearest no model is used: each pattern gets the label of the most correlated',
    '(mean-centred Pearson) pattern of --reference, itself excluded; the score a lookup of known',
    'patterns reaches, to report beside a model. Near-duplicates inside the data flatter it: use',
    'xrd folds for grouped splits.',
  ].join('\n'),
  flags: [
    MODEL_FLAG,
    { name: 'json', type: 'boolean', description: 'one JSON object on stdout' },
    { name: 'report', type: 'string', value: 'FILE', description: 'also write a self-contained HTML report with plots' },
    { name: 'baseline', type: 'string', value: 'nearest', description: 'score a baseline instead of a model' },
    { name: 'reference', type: 'string', value: 'DIR', description: 'labelled patterns the nearest-neighbour baseline looks up' },
    { name: 'task', type: 'string', value: 'NAME', description: 'with --baseline: crystal-system (default) or space-group' },
    WAVELENGTH_FLAG,
  ],
  examples: ['xrd eval --model runs/cs-compact ../shared/data/rruff-dev --report rruff.html', 'xrd eval --model models/space-group labelled/ --json'],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length === 0) throw new UsageError("xrd eval needs labelled pattern files or directories; see 'xrd eval --help'");
    const files = patternFiles(positionals);
    if (f.baseline !== undefined) return nearestBaseline(f, files, io);
    const { createEngine } = await import('../engine/engine.ts');
    const { predictFiles } = await import('../npcnn/predict.ts');
    const { classificationMetrics } = await import('../npcnn/metrics.ts');
    const engine = await createEngine();
    let report: Metrics & { model: object; failures: FileFailure[] };
    let failures: FileFailure[];
    try {
      const models = await loadModels(engine, f.model as string | undefined);
      const model = models[0]!;
      for (const m of models.slice(1)) m.dispose();
      try {
        const c = model.classes.length;
        const progress = new Progress('eval', files.length, io.stderr, 'files');
        let done = 0;
        const r = await predictFiles(model, files, {
          top: c,
          wavelength: f.wavelength as number | undefined,
          onProgress: (d) => {
            progress.tick(d - done);
            done = d;
          },
        });
        progress.finish();
        failures = r.failures;
        const { labelled, labels, probs } = labelledRows(model, r.predictions);
        for (const p of r.predictions) if (!labelled.includes(p)) failures.push({ file: p.file, error: `no ${model.config.task === 'space-group' ? 'space_group' : 'crystal_system'} label in its header` });
        if (labelled.length === 0) throw new UsageError(`none of the ${files.length} files could be scored (${failures[0]?.error ?? 'no labels'})`);
        report = { model: { architecture: model.config.architecture, task: model.config.task }, ...classificationMetrics(model.classes, labels, probs), failures };
        if (f.report !== undefined) {
          const truthOf = (i: number) => model.classes[labels[i]!]!;
          const worst = labelled
            .map((p, i) => ({ p, i }))
            .filter(({ p, i }) => p.top[0]!.label !== truthOf(i))
            .sort((a, b) => b.p.top[0]!.probability - a.p.top[0]!.probability)
            .slice(0, 6);
          const { patternSources, toModelGrid } = await import('../io/patterns.ts');
          const { evalReportHtml } = await import('../plot/report-html.ts');
          const { writeAtomically } = await import('../io/files.ts');
          const grid = model.config.input;
          const sources = new Map(patternSources(files, grid).map((src) => [src.name, src]));
          const { gridTwoTheta } = await import('../sim/render.ts');
          const x = gridTwoTheta(grid);
          const html = evalReportHtml({
            title: `xrd eval: ${model.config.architecture} (${model.config.task})`,
            about: [`model ${String(f.model ?? 'the shipped one')}; data ${positionals.join(', ')}; written ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`],
            metrics: report,
            failures,
            mistakes: worst.map(({ p, i }) => ({
              file: p.file,
              truth: truthOf(i),
              top: p.top.slice(0, 3),
              x,
              y: toModelGrid(sources.get(p.file)!.read(), grid, f.wavelength as number | undefined).values,
            })),
          });
          await writeAtomically(f.report as string, html);
        }
      } finally {
        model.dispose();
      }
    } finally {
      engine.destroy();
    }
    if (f.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else io.stdout.write(evalText(report));
    return 0;
  },
};

function evalText(m: Metrics & { failures: FileFailure[] }): string {
  const lines = [
    `n ${m.n}   top-1 ${m.top1.toFixed(3)}   top-3 ${m.top3.toFixed(3)}   top-5 ${m.top5.toFixed(3)}   macro-F1 ${m.macro_f1.toFixed(3)}   ECE ${m.ece.toFixed(3)}`,
    `majority class (${m.majority.label}) would score top-1 ${m.majority.top1.toFixed(3)}`,
    '',
    'class            precision  recall     F1   support',
  ];
  for (const c of m.per_class) if (c.support || c.predicted) lines.push(`${c.label.padEnd(16)} ${c.precision.toFixed(3).padStart(9)} ${c.recall.toFixed(3).padStart(7)} ${c.f1.toFixed(3).padStart(6)} ${String(c.support).padStart(9)}`);
  if (m.confusion.length <= 10) {
    lines.push('', 'confusion (rows: true, columns: predicted)');
    const names = m.per_class.map((c) => c.label.slice(0, 5));
    lines.push(`${''.padEnd(14)}${names.map((s) => s.padStart(6)).join('')}`);
    m.confusion.forEach((row, i) => lines.push(`${m.per_class[i]!.label.padEnd(14)}${row.map((v) => String(v).padStart(6)).join('')}`));
  }
  if (m.failures.length) lines.push('', `${m.failures.length} files left out:`, ...m.failures.map((x) => `  ${x.file}: ${x.error}`));
  return lines.join('\n') + '\n';
}

export const calibrateCommand: Command = {
  name: 'calibrate',
  summary: "fit a softmax temperature on labelled patterns and store it in the model's config.json",
  usage: 'xrd calibrate --model DIR FILES|DIRS... [--wavelength A]',
  description: [
    'Temperature scaling: one number T divides the logits so that the probabilities match how often',
    'the model is right (top-1 answers do not change). T is fitted by minimising the negative',
    'log-likelihood on the labelled files and written into DIR/config.json; predict and eval use it.',
    'Calibrate on files you do not evaluate on (a fold of xrd folds, say), or the reported',
    'calibration error is optimistic. Prints NLL and expected calibration error before and after.',
  ].join('\n'),
  flags: [{ name: 'model', alias: 'm', type: 'string', value: 'DIR', description: 'the model directory to calibrate (its config.json is updated)' }, WAVELENGTH_FLAG],
  examples: ['xrd calibrate --model runs/cs-compact ../shared/data/rruff-dev'],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (f.model === undefined) throw new UsageError("xrd calibrate needs --model DIR; see 'xrd calibrate --help'");
    if (positionals.length === 0) throw new UsageError("xrd calibrate needs labelled pattern files or directories; see 'xrd calibrate --help'");
    const dir = f.model as string;
    const files = patternFiles(positionals);
    const { createEngine } = await import('../engine/engine.ts');
    const { loadModel } = await import('../npcnn/model-dir.ts');
    const { writeAtomically } = await import('../io/files.ts');
    const { predictFiles } = await import('../npcnn/predict.ts');
    const { applyTemperature, fitTemperature, negativeLogLikelihood } = await import('../npcnn/calibration.ts');
    const { classificationMetrics } = await import('../npcnn/metrics.ts');
    const engine = await createEngine();
    try {
      const model = await loadModel(engine, dir);
      try {
        const c = model.classes.length;
        const r = await predictFiles(model, files, { top: c, wavelength: f.wavelength as number | undefined });
        const { labelled: usable, labels, probs: shown } = labelledRows(model, r.predictions);
        if (usable.length === 0) throw new UsageError(`none of the ${files.length} files has a ${model.config.task === 'space-group' ? 'space_group' : 'crystal_system'} label to calibrate on`);
        // back to temperature 1 when the model was calibrated before
        const raw = applyTemperature(shown, c, 1 / (model.config.temperature ?? 1));
        const t = fitTemperature(raw, labels, c);
        const before = { nll: negativeLogLikelihood(raw, labels, c), ece: classificationMetrics(model.classes, labels, raw).ece };
        const fitted = applyTemperature(raw, c, t);
        const after = { nll: negativeLogLikelihood(fitted, labels, c), ece: classificationMetrics(model.classes, labels, fitted).ece };
        await writeAtomically(join(dir, 'config.json'), `${JSON.stringify({ ...model.config, temperature: Number(t.toPrecision(6)) }, null, 2)}\n`);
        io.stdout.write(
          `temperature ${t.toFixed(3)} fitted on ${usable.length} patterns` +
            (r.failures.length ? ` (${r.failures.length} files unreadable: ${r.failures.map((x) => x.file).join(', ')})` : '') +
            `\nNLL ${before.nll.toFixed(3)} -> ${after.nll.toFixed(3)}, expected calibration error ${before.ece.toFixed(3)} -> ${after.ece.toFixed(3)}; written to ${join(dir, 'config.json')}\n`,
        );
      } finally {
        model.dispose();
      }
    } finally {
      engine.destroy();
    }
  },
};

/** `xrd eval --baseline nearest --reference DIR`: the lookup scored with the same metrics. */
async function nearestBaseline(f: Record<string, FlagValue | undefined>, files: string[], io: CliIO): Promise<number> {
  if (f.baseline !== 'nearest') throw new UsageError(`--baseline must be 'nearest', got '${f.baseline}'`);
  if (f.reference === undefined) throw new UsageError('--baseline nearest needs --reference DIR (labelled patterns to look up)');
  if (f.model !== undefined || f.report !== undefined) throw new UsageError('--baseline uses no model and writes no report; drop --model/--report');
  const task = (f.task as string | undefined) ?? 'crystal-system';
  if (task !== 'crystal-system' && task !== 'space-group') throw new UsageError(`--task must be crystal-system or space-group, got '${task}'`);
  const { patternSources, readLabelledDirectory, toModelGrid } = await import('../io/patterns.ts');
  const { nearestNeighbours } = await import('../npcnn/folds.ts');
  const { classificationMetrics } = await import('../npcnn/metrics.ts');
  const { taskClasses } = await import('../npcnn/config.ts');
  const { DEFAULT_GRID } = await import('../sim/render.ts');
  const wavelength = f.wavelength as number | undefined;
  const reference = readLabelledDirectory(f.reference as string);
  const failures: FileFailure[] = [];
  const queries: { file: string; label: number; values: Float32Array }[] = [];
  const classes = taskClasses(task);
  const labelOf = (p: { spaceGroup: number | null; crystalSystem: string | null }) => classIndex(task, p);
  for (const src of patternSources(files, DEFAULT_GRID)) {
    try {
      const p = src.read();
      const label = labelOf(p);
      if (label < 0) throw new Error(`no ${task === 'space-group' ? 'space_group' : 'crystal_system'} label`);
      queries.push({ file: p.file, label, values: toModelGrid(p, DEFAULT_GRID, wavelength).values });
    } catch (e) {
      failures.push({ file: src.name, error: (e as Error).message });
    }
  }
  const refLabels = reference.map(labelOf);
  const usable = reference.map((_, j) => j).filter((j) => refLabels[j]! >= 0);
  if (queries.length === 0 || usable.length === 0) throw new UsageError('nothing to score: no labelled patterns among the files or in --reference');
  const refRows = usable.map((j) => toModelGrid(reference[j]!, DEFAULT_GRID, wavelength).values);
  const nn = nearestNeighbours(
    queries.map((q) => q.values),
    refRows,
    (i, r) => resolve(queries[i]!.file) === resolve(reference[usable[r]!]!.file),
  );
  const probs = new Float32Array(queries.length * classes.length);
  nn.forEach((m, i) => (probs[i * classes.length + refLabels[usable[m.index]!]!] = 1));
  // one answer per pattern: top-k beyond 1 and calibration have no meaning for a lookup
  const { top3: _t3, top5: _t5, ece: _e, reliability: _r, ...m } = classificationMetrics(classes, queries.map((q) => q.label), probs);
  if (f.json) io.stdout.write(`${JSON.stringify({ baseline: 'nearest neighbour', reference: f.reference, task, ...m, failures }, null, 2)}\n`);
  else {
    const text = evalText({ ...m, top3: NaN, top5: NaN, ece: NaN, reliability: [], failures }).split('\n').slice(1).join('\n');
    io.stdout.write(`nearest-neighbour lookup in ${String(f.reference)} (${usable.length} labelled patterns)\nn ${m.n}   top-1 ${m.top1.toFixed(3)}   macro-F1 ${m.macro_f1.toFixed(3)}\n${text}`);
  }
  return 0;
}
