// `xrd folds DIR --k 5`: folds of a labelled pattern directory that keep near-duplicates together,
// with the nearest-neighbour and majority baselines on those folds. Thin over npcnn/folds.ts.
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { readLabelledDirectory, toModelGrid } from '../io/patterns.ts';
import { assignFolds, correlations, foldBaselines } from '../npcnn/folds.ts';
import { DEFAULT_GRID } from '../sim/render.ts';
import { InputError, UsageError } from './args.ts';
import type { CliIO, Command } from './command.ts';

export const foldsCommand: Command = {
  name: 'folds',
  summary: 'k folds of a labelled pattern directory that keep near-duplicates together, with baselines',
  usage: 'xrd folds DIR [--k 5] [--threshold 0.7] [-o folds.json] [--overwrite]',
  description: [
    'Puts every pattern on the 5-89.99 deg grid, joins patterns whose mean-centred Pearson',
    'correlation reaches --threshold into groups (transitively: the same material measured twice),',
    'deals whole groups into k folds of nearly equal size, and scores two baselines on those folds',
    '(each fold predicted from the others): the most correlated pattern\'s label (nearest neighbour)',
    'and the most common label. Report them beside any model trained or fine-tuned on these folds.',
  ].join('\n'),
  flags: [
    { name: 'k', type: 'int', value: 'K', description: 'number of folds', default: 5 },
    { name: 'threshold', type: 'number', value: 'R', description: 'correlation that makes two patterns near-duplicates', default: 0.7 },
    { name: 'out', alias: 'o', type: 'string', value: 'FILE', description: 'where to write the folds (JSON)', default: 'folds.json' },
    { name: 'overwrite', type: 'boolean', description: 'replace an existing folds file' },
  ],
  examples: ['xrd folds ../shared/data/rruff-dev --k 5 -o rruff-folds.json'],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length !== 1) throw new UsageError("xrd folds takes one labelled pattern directory; see 'xrd folds --help'");
    const k = f.k as number;
    const threshold = f.threshold as number;
    if (!(threshold > -1 && threshold <= 1)) throw new UsageError(`--threshold must be a correlation in (-1, 1], got ${threshold}`);
    const out = f.out as string;
    if (existsSync(out) && !f.overwrite) throw new InputError(`${out} exists; pass --overwrite to replace it or choose another -o`);
    const dir = positionals[0]!;
    const patterns = readLabelledDirectory(dir);
    if (!(Number.isInteger(k) && k >= 2 && k <= patterns.length)) throw new UsageError(`--k must be an integer from 2 to ${patterns.length} (the number of patterns), got ${k}`);
    const corr = correlations(patterns.map((p) => toModelGrid(p, DEFAULT_GRID).values));
    const a = assignFolds(corr, patterns.length, k, threshold);
    const b = foldBaselines(
      corr,
      patterns.map((p) => p.spaceGroup),
      patterns.map((p) => p.crystalSystem),
      a.fold,
      k,
    );
    const result = {
      directory: dir,
      k,
      threshold,
      groups: a.groups,
      with_near_duplicate: a.withDuplicate,
      baselines: b,
      files: patterns.map((p, i) => ({ file: basename(p.file), fold: a.fold[i], group: a.group[i], space_group: p.spaceGroup, crystal_system: p.crystalSystem })),
    };
    const tmp = `${out}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(result, null, 1)}\n`);
    renameSync(tmp, out);
    const sizes = Array.from({ length: k }, (_, q) => a.fold.filter((x) => x === q).length);
    const pctOf = (s: { top1: number; n: number }) => (s.n ? `${(100 * s.top1).toFixed(1)}%` : '-');
    io.stdout.write(
      [
        `${patterns.length} patterns in ${a.groups} groups (${a.withDuplicate} have a near-duplicate at r >= ${threshold}); folds of ${sizes.join(', ')} written to ${out}`,
        'baselines on these folds (each fold predicted from the others):',
        `  nearest neighbour   crystal system ${pctOf(b.nearest.crystalSystem)}   space group ${pctOf(b.nearest.spaceGroup)}`,
        `  majority class      crystal system ${pctOf(b.majority.crystalSystem)}   space group ${pctOf(b.majority.spaceGroup)}`,
      ].join('\n') + '\n',
    );
  },
};
