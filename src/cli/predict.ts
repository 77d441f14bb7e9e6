// `xrd predict`: classify pattern files with one or more models (table, JSON or CSV). Thin over
// npcnn/predict.ts.
import { crystalSystemOf } from '../sim/crystal.ts';
import type { FileFailure, FilePrediction, RankedClass } from '../npcnn/predict.ts';
import type { Engine } from '../engine/engine.ts';
import { UsageError } from './args.ts';
import type { CliIO, Command } from './command.ts';
import { existingPatternFiles, loadModels, MODEL_FLAG, pct, WAVELENGTH_FLAG } from './models.ts';
import { Progress } from './progress.ts';

interface FileResult {
  file: string;
  crystal_system?: { label: string; probability: number; top: RankedClass[]; derived?: boolean };
  space_group?: { number: number; symbol: string; probability: number; top: RankedClass[] };
  coverage?: { from: number; to: number; fraction: number };
  /** Whether the pattern can carry a prediction (npcnn/quality.ts), and why not. */
  quality?: { verdict: string; peaks: number; snr: number };
  warnings?: string[];
  /** With --library: the best match, and the answer combining it with the network's. */
  library_match?: { id: string; mineral: string; formula: string; space_group: number; crystal_system: string; correlation: number };
  answer?: { crystal_system: string | null; space_group: number | null; source: 'library match' | 'network' };
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
    { name: 'library', type: 'string', value: 'LIST', description: "also search-match against libraries ('amcsd', library files, CIF folders) and answer with a strong match's labels" },
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
    // A path that does not exist is a failed file; the others go on.
    const { files, missing } = existingPatternFiles(positionals);
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
      if (f.library !== undefined) await addLibraryMatches(engine, String(f.library), files, results, wavelength, io);
    } finally {
      engine.destroy();
    }
    for (const file of missing) results.set(file, { file, error: `${file} does not exist` });
    const rows = [...results.values()];
    if (f.json) io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (f.csv) io.stdout.write(csv(rows, top));
    else io.stdout.write(table(rows));
    const failed = rows.filter((r) => r.error).length;
    if (failed && !f.json && !f.csv) io.stderr.write(`xrd: ${failed} of ${rows.length} files could not be classified (reasons above)\n`);
    return failed ? 1 : 0;
  },
};

/** --library: the best match of every text file and the combined answer (library/search.ts). */
async function addLibraryMatches(engine: Engine, names: string, files: string[], results: Map<string, FileResult>, wavelength: number | undefined, io: CliIO): Promise<void> {
  const { openLibraries, SearchMatch, combinedAnswer } = await import('../library/search.ts');
  const { library, unreadable } = openLibraries(names.split(',').map((x) => x.trim()).filter((x) => x));
  for (const u of unreadable) io.stderr.write(`xrd: left out of the library: ${u}\n`);
  const search = SearchMatch.open(engine, library);
  try {
    const progress = new Progress('library search', files.length, io.stderr, 'patterns');
    let done = 0;
    const text = files.filter((x) => !x.toLowerCase().endsWith('.npy'));
    const r = await search.identifyFiles(text, {
      top: 1,
      maxPhases: 1,
      wavelength,
      onProgress: (d) => {
        progress.tick(d - done);
        done = d;
      },
    });
    progress.finish();
    for (const id of r.results) {
      const row = results.get(id.file);
      const m = id.matches[0];
      if (!row || !m) continue;
      row.library_match = { id: m.id, mineral: m.mineral, formula: m.formula, space_group: m.spaceGroup, crystal_system: m.crystalSystem, correlation: round(m.correlation, 3) };
    }
  } finally {
    search.dispose();
  }
  for (const row of results.values()) {
    if (row.error) continue;
    const m = row.library_match;
    const a = combinedAnswer(
      { crystalSystem: row.crystal_system?.label ?? null, spaceGroup: row.space_group?.number ?? null },
      m ? { crystalSystem: m.crystal_system, spaceGroup: m.space_group, correlation: m.correlation } : null,
    );
    row.answer = { crystal_system: a.crystalSystem, space_group: a.spaceGroup, source: a.source };
  }
}

function record(results: Map<string, FileResult>, task: string, predictions: FilePrediction[], failures: FileFailure[], k: number): void {
  for (const x of failures) results.get(x.file)!.error = x.error;
  for (const p of predictions) {
    const r = results.get(p.file)!;
    r.coverage = { from: round(p.coverage.from, 2), to: round(p.coverage.to, 2), fraction: round(p.coverage.fraction, 4) };
    r.quality = { verdict: p.quality.verdict, peaks: p.quality.peaks, snr: p.quality.snr };
    r.warnings = p.quality.warnings;
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
    const withLibrary = rows.some((x) => x.answer);
    const extra = withLibrary
      ? [
          r.library_match ? `${r.library_match.mineral || r.library_match.formula} ${r.library_match.correlation.toFixed(2)}` : '-',
          r.answer ? `${r.answer.crystal_system ?? '-'} ${r.answer.space_group ?? ''}${r.answer.source === 'library match' ? ' (match)' : ''}` : '-',
        ]
      : [];
    return [r.file + cov, r.quality?.verdict ?? '', cs, sg, ...extra, top];
  });
  const head = ['file', 'quality', 'crystal system', 'space group', ...(rows.some((x) => x.answer) ? ['library match', 'answer'] : []), 'top classes'];
  const isError = (l: string[]) => l[1]!.startsWith('error');
  const w = head.map((h, i) => Math.max(h.length, ...lines.filter((l) => !isError(l)).map((l) => l[i]!.length)));
  const fmt = (l: string[]) => (isError(l) ? `${l[0]!.padEnd(w[0]!)}  ${l[1]}` : l.map((c, i) => (i < head.length - 1 ? c.padEnd(w[i]!) : c)).join('  '));
  const notes = rows.filter((r) => r.warnings?.length).map((r) => `${r.file}: ${r.quality!.verdict}: ${r.warnings!.join('; ')}`);
  return [fmt(head), ...lines.map(fmt)].join('\n') + '\n' + (notes.length ? `\n${notes.join('\n')}\n` : '');
}

function csvCell(s: string | number): string {
  const t = String(s);
  return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

function csv(rows: FileResult[], k: number): string {
  const head = ['file', 'crystal_system', 'crystal_system_probability', 'space_group', 'space_group_symbol', 'space_group_probability'];
  for (let i = 1; i <= k; i++) head.push(`top${i}`, `top${i}_probability`);
  head.push('coverage_from', 'coverage_to', 'quality', 'peaks', 'warnings');
  const withLibrary = rows.some((r) => r.answer);
  if (withLibrary) head.push('library_match_id', 'library_match_mineral', 'library_match_space_group', 'library_match_correlation', 'answer_crystal_system', 'answer_space_group', 'answer_source');
  head.push('error');
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
    cells.push(r.coverage?.from ?? '', r.coverage?.to ?? '', r.quality?.verdict ?? '', r.quality?.peaks ?? '', (r.warnings ?? []).join('; '));
    if (withLibrary) {
      const m = r.library_match;
      cells.push(m?.id ?? '', m?.mineral ?? '', m?.space_group ?? '', m?.correlation ?? '', r.answer?.crystal_system ?? '', r.answer?.space_group ?? '', r.answer?.source ?? '');
    }
    cells.push(r.error ?? '');
    out.push(cells.map(csvCell).join(','));
  }
  return out.join('\n') + '\n';
}
