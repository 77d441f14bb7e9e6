// `xrd predict` and `xrd eval`: classify pattern files with one or more models; score a model on
// a labelled directory. Thin over npcnn/predict.ts and npcnn/metrics.ts.
import { CRYSTAL_SYSTEMS, crystalSystemOf, type CrystalSystem } from '../sim/crystal.ts';
import type { Metrics } from '../npcnn/metrics.ts';
import type { Model } from '../npcnn/model.ts';
import type { FileFailure, FilePrediction, RankedClass } from '../npcnn/predict.ts';
import { UsageError } from './args.ts';
import type { CliIO, Command } from './main.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModels, patternFiles } from './models.ts';
import { Progress } from './progress.ts';

const MODEL_FLAG = { name: 'model', alias: 'm', type: 'string', value: 'DIR[,DIR]', description: 'model directories (default: the shipped models in models/)' } as const;
const WAVELENGTH_FLAG = { name: 'wavelength', type: 'number', value: 'A', description: "X-ray wavelength of files whose header gives none (default: the model's, Cu K-alpha 1.5418)" } as const;

interface FileResult {
  file: string;
  crystal_system?: { label: string; probability: number; top: RankedClass[]; derived?: boolean };
  space_group?: { number: number; symbol: string; probability: number; top: RankedClass[] };
  coverage?: { from: number; to: number; fraction: number };
  error?: string;
}

/** Crystal-system probabilities implied by space-group ones (sums over each system's groups). */
function systemsFromGroups(top: RankedClass[]): RankedClass[] {
  const sums = new Map<string, number>();
  for (const r of top) {
    const s = crystalSystemOf(Number(r.label));
    sums.set(s, (sums.get(s) ?? 0) + r.probability);
  }
  return [...sums].map(([label, probability]) => ({ label, probability })).sort((a, b) => b.probability - a.probability);
}

/**
 * The predictions whose files carry the model's kind of label, their class indices and the full
 * probability rows (predictions must list every class in `top`).
 */
function labelledRows(model: Model, predictions: FilePrediction[]): { labelled: FilePrediction[]; labels: number[]; probs: Float32Array } {
  const sg = model.config.task === 'space-group';
  const labelled = predictions.filter((p) => (sg ? p.truth.spaceGroup !== null : p.truth.crystalSystem !== null));
  const labels = labelled.map((p) => (sg ? p.truth.spaceGroup! - 1 : CRYSTAL_SYSTEMS.indexOf(p.truth.crystalSystem as CrystalSystem)));
  const c = model.classes.length;
  const probs = new Float32Array(labelled.length * c);
  labelled.forEach((p, i) => {
    for (const t of p.top) probs[i * c + model.classes.indexOf(t.label)] = t.probability;
  });
  return { labelled, labels, probs };
}

function pct(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}

export const predictCommand: Command = {
  name: 'predict',
  summary: 'classify pattern files: crystal system and space group with probabilities',
  usage: 'xrd predict [--model DIR[,DIR]] FILES|DIRS... [--json | --csv] [--top K] [--wavelength A]',
  description: [
    'Reads two-column pattern files (XY, XYE, CSV, TXT; `#` headers such as RRUFF\'s, a wavelength',
    'from a `# wavelength: 1.5406` header or --wavelength), moves them onto the model\'s grid',
    '(5-89.99 deg at Cu K-alpha; other anodes through d-spacings), scales the maximum to 1 and',
    'classifies them in batches on the GPU. A file that cannot be read is reported with its reason',
    'and the others go on; the exit code is 0 only if every file was classified. With a space-group',
    'model alone, crystal-system probabilities are the sums over each system\'s groups.',
  ].join('\n'),
  flags: [
    MODEL_FLAG,
    { name: 'json', type: 'boolean', description: 'one JSON array on stdout' },
    { name: 'csv', type: 'boolean', description: 'CSV on stdout (one row per file)' },
    { name: 'top', type: 'int', value: 'K', description: 'classes listed per file', default: 5 },
    WAVELENGTH_FLAG,
    { name: 'batch', type: 'int', value: 'N', description: 'files per GPU batch', default: 64 },
  ],
  examples: ['xrd predict --model runs/cs-compact pattern.xy', 'xrd predict --model models/space-group patterns/ --json > predictions.json'],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length === 0) throw new UsageError("xrd predict needs pattern files or directories; see 'xrd predict --help'");
    if (f.json && f.csv) throw new UsageError('give --json or --csv, not both');
    const top = f.top as number;
    if (!(top >= 1)) throw new UsageError(`--top must be at least 1, got ${top}`);
    const batch = f.batch as number;
    if (!(batch >= 1)) throw new UsageError(`--batch must be at least 1, got ${batch}`);
    const wavelength = f.wavelength as number | undefined;
    if (wavelength !== undefined && !(wavelength > 0)) throw new UsageError(`--wavelength must be a positive number of angstrom, got ${wavelength}`);
    const files = patternFiles(positionals);
    const { createEngine } = await import('../engine/engine.ts');
    const { predictFiles } = await import('../npcnn/predict.ts');
    const engine = await createEngine();
    const results = new Map<string, FileResult>();
    try {
      const models = await loadModels(engine, f.model as string | undefined);
      try {
        // one row per pattern: a file, or a row of an .npy array
        const { patternSources } = await import('../io/patterns.ts');
        for (const src of patternSources(files, models[0]!.config.input)) results.set(src.name, { file: src.name });
        for (const model of models) {
          const progress = new Progress(`${model.config.task}`, results.size, io.stderr, 'patterns');
          let done = 0;
          const r = await predictFiles(model, files, {
            top: model.config.task === 'space-group' ? Math.max(top, 230) : Math.max(top, 7),
            wavelength,
            batch,
            onProgress: (d) => {
              progress.tick(d - done);
              done = d;
            },
          });
          progress.finish();
          record(results, model.config.task, r.predictions, r.failures, top);
        }
      } finally {
        for (const m of models) m.dispose();
      }
    } finally {
      engine.destroy();
    }
    const rows = [...results.values()];
    if (f.json) io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (f.csv) io.stdout.write(csv(rows, top));
    else io.stdout.write(table(rows));
    const failed = rows.filter((r) => r.error).length;
    if (failed && !f.json && !f.csv) io.stderr.write(`xrd: ${failed} of ${rows.length} files could not be classified (reasons above)\n`);
    return failed ? 1 : 0;
  },
};

function record(results: Map<string, FileResult>, task: string, predictions: FilePrediction[], failures: FileFailure[], k: number): void {
  for (const x of failures) results.get(x.file)!.error = x.error;
  for (const p of predictions) {
    const r = results.get(p.file)!;
    r.coverage = { from: round(p.coverage.from, 2), to: round(p.coverage.to, 2), fraction: round(p.coverage.fraction, 4) };
    if (task === 'space-group') {
      const best = p.top[0]!;
      r.space_group = { number: Number(best.label), symbol: best.symbol!, probability: best.probability, top: p.top.slice(0, k) };
      if (!r.crystal_system || r.crystal_system.derived) {
        const systems = systemsFromGroups(p.top);
        r.crystal_system = { label: systems[0]!.label, probability: systems[0]!.probability, top: systems.slice(0, k), derived: true };
      }
    } else {
      r.crystal_system = { label: p.top[0]!.label, probability: p.top[0]!.probability, top: p.top.slice(0, k) };
    }
  }
}

function round(v: number, d: number): number {
  return Number(v.toFixed(d));
}

function table(rows: FileResult[]): string {
  const lines = rows.map((r) => {
    if (r.error) return [r.file, `error: ${r.error}`, '', ''];
    const cs = r.crystal_system ? `${r.crystal_system.label} ${pct(r.crystal_system.probability)}` : '-';
    const sg = r.space_group ? `${r.space_group.number} ${r.space_group.symbol} ${pct(r.space_group.probability)}` : '-';
    const top = (r.space_group?.top ?? r.crystal_system?.top ?? []).map((t) => `${t.symbol ? `${t.label} ${t.symbol}` : t.label} ${pct(t.probability)}`).join(', ');
    const cov = r.coverage && r.coverage.fraction < 0.999 ? ` (measured ${r.coverage.from}-${r.coverage.to} deg only)` : '';
    return [r.file + cov, cs, sg, top];
  });
  const head = ['file', 'crystal system', 'space group', 'top classes'];
  const w = head.map((h, i) => Math.max(h.length, ...lines.filter((l) => !l[1]!.startsWith('error')).map((l) => l[i]!.length)));
  const fmt = (l: string[]) => (l[1]!.startsWith('error') ? `${l[0]!.padEnd(w[0]!)}  ${l[1]}` : l.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c)).join('  '));
  return [fmt(head), ...lines.map(fmt)].join('\n') + '\n';
}

function csvCell(s: string | number): string {
  const t = String(s);
  return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

function csv(rows: FileResult[], k: number): string {
  const head = ['file', 'crystal_system', 'crystal_system_probability', 'space_group', 'space_group_symbol', 'space_group_probability'];
  for (let i = 1; i <= k; i++) head.push(`top${i}`, `top${i}_probability`);
  head.push('coverage_from', 'coverage_to', 'error');
  const out = [head.join(',')];
  for (const r of rows) {
    const topList = r.space_group?.top ?? r.crystal_system?.top ?? [];
    const cells: (string | number)[] = [
      r.file,
      r.crystal_system?.label ?? '',
      r.crystal_system?.probability ?? '',
      r.space_group?.number ?? '',
      r.space_group?.symbol ?? '',
      r.space_group?.probability ?? '',
    ];
    for (let i = 0; i < k; i++) cells.push(topList[i]?.label ?? '', topList[i]?.probability ?? '');
    cells.push(r.coverage?.from ?? '', r.coverage?.to ?? '', r.error ?? '');
    out.push(cells.map(csvCell).join(','));
  }
  return out.join('\n') + '\n';
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'score a model on labelled pattern files: top-k, per-class F1, confusion, calibration',
  usage: 'xrd eval --model DIR FILES|DIRS... [--json]',
  description: [
    'Classifies labelled patterns (a `# space_group: N` or `# crystal_system: NAME` header) and',
    'reports n, top-1/3/5 accuracy, the majority-class baseline, macro-F1, per-class precision,',
    'recall and F1, the confusion matrix and the expected calibration error (10 bins) with its',
    'reliability curve. Files that cannot be read are listed and left out of the scores.',
  ].join('\n'),
  flags: [
    MODEL_FLAG,
    { name: 'json', type: 'boolean', description: 'one JSON object on stdout' },
    { name: 'report', type: 'string', value: 'FILE', description: 'also write a self-contained HTML report with plots' },
    WAVELENGTH_FLAG,
  ],
  examples: ['xrd eval --model runs/cs-compact ../shared/data/rruff-dev --report rruff.html', 'xrd eval --model models/space-group labelled/ --json'],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length === 0) throw new UsageError("xrd eval needs labelled pattern files or directories; see 'xrd eval --help'");
    const files = patternFiles(positionals);
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
          const { writeAtomically } = await import('../npcnn/model.ts');
          const grid = model.config.input;
          const sources = new Map(patternSources(files, grid).map((src) => [src.name, src]));
          const x = Float64Array.from({ length: grid.points }, (_, i) => grid.twoThetaMin + i * grid.step);
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
    const { loadModel, writeAtomically } = await import('../npcnn/model.ts');
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

export const explainCommand: Command = {
  name: 'explain',
  summary: 'show which 2-theta regions of a pattern drove the prediction (SVG)',
  usage: 'xrd explain --model DIR FILE -o out.svg [--class LABEL] [--wavelength A]',
  description: [
    'Integrated gradients of the predicted class\'s log-probability with respect to the input',
    '(16 interpolation steps from an empty pattern, through our autograd): the SVG shades the',
    'regions that supported the class, and the peaks that carried most of that support are listed',
    'with their share. --class explains another class (a crystal system or a space-group number).',
  ].join('\n'),
  flags: [
    { name: 'model', alias: 'm', type: 'string', value: 'DIR', description: 'model directory' },
    { name: 'out', alias: 'o', type: 'string', value: 'FILE', description: 'SVG to write' },
    { name: 'class', type: 'string', value: 'LABEL', description: 'class to explain (default: the predicted one)' },
    WAVELENGTH_FLAG,
  ],
  examples: ['xrd explain --model runs/cs-compact pattern.xy -o pattern-explained.svg'],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length !== 1) throw new UsageError("xrd explain takes one pattern file; see 'xrd explain --help'");
    if (f.out === undefined) throw new UsageError('xrd explain needs -o FILE.svg');
    const file = patternFiles(positionals)[0]!;
    const { patternSources, toModelGrid } = await import('../io/patterns.ts');
    const { DEFAULT_GRID } = await import('../sim/render.ts');
    const sources = patternSources([file], DEFAULT_GRID);
    if (sources.length !== 1) throw new UsageError(`${file} holds ${sources.length} patterns; xrd explain takes one (save that row on its own)`);
    const pattern = sources[0]!.read();
    const { createEngine } = await import('../engine/engine.ts');
    const { explain } = await import('../npcnn/explain.ts');
    const { patternSvg } = await import('../plot/pattern-svg.ts');
    const engine = await createEngine();
    try {
      const models = await loadModels(engine, f.model as string | undefined);
      const model = models.at(-1)!;
      for (const m of models.slice(0, -1)) m.dispose();
      try {
        const grid = model.config.input;
        const { values } = toModelGrid(pattern, grid, f.wavelength as number | undefined);
        let classIndex: number | undefined;
        if (f.class !== undefined) {
          classIndex = model.classes.indexOf(String(f.class).toLowerCase());
          if (classIndex < 0) throw new UsageError(`--class '${f.class}' is not a class of this model (${model.classes.length <= 7 ? model.classes.join(', ') : 'space groups 1-230'})`);
        }
        const e = await explain(model, values, { classIndex });
        let top = 0;
        for (const a of e.attribution) top = Math.max(top, a);
        const x = Float64Array.from({ length: grid.points }, (_, i) => grid.twoThetaMin + i * grid.step);
        const name = model.config.task === 'space-group' ? `space group ${e.label}` : e.label;
        writeFileSync(
          f.out as string,
          patternSvg({
            x,
            y: values,
            title: `${file}: ${name} (${pct(e.probability)})`,
            shading: Float32Array.from(e.attribution, (a) => (top > 0 ? Math.max(0, a) / top : 0)),
            shadingLabel: `support for ${name} (integrated gradients)`,
          }),
        );
        const lines = [`${file}: ${name} with probability ${pct(e.probability)}; the peaks that carried it:`];
        for (const p of e.peaks.slice(0, 8)) lines.push(`  ${p.twoTheta.toFixed(2).padStart(6)} deg  intensity ${p.intensity.toFixed(2)}  ${pct(p.share)} of the support`);
        lines.push(`wrote ${f.out}`);
        io.stdout.write(lines.join('\n') + '\n');
      } finally {
        model.dispose();
      }
    } finally {
      engine.destroy();
    }
  },
};
