// `xrd synth --count N -o DIR`: a synthetic dataset on disk (patterns.npy, labels, dataset.json)
// from the streaming simulator, written batch by batch.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetWriter, type DatasetLabel, type PatternFormat } from '../sim/dataset-writer.ts';
import { UsageError } from './args.ts';
import { GRID_FLAGS, cliGridToGrid, gridFromFlags } from './grid.ts';
import type { CliIO, Command } from './command.ts';
import { Progress } from './progress.ts';
import { PRIOR_FLAGS, priorFromFlags, spaceGroupWeights } from './priors.ts';
import { PRESETS, presetOf } from './render-crystals.ts';

/** "1-230", "225", "1-10,225,229" -> sorted distinct group numbers. */
export function parseSpaceGroups(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2] ?? m[1]) : NaN;
    if (!(lo >= 1 && hi <= 230 && lo <= hi)) {
      throw new UsageError(`--space-groups needs numbers or ranges within 1-230 such as 1-230 or 14,62,225; got '${part}' in '${text}'`);
    }
    for (let g = lo; g <= hi; g++) out.add(g);
  }
  return [...out].sort((a, b) => a - b);
}

function packageVersion(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

export const synthCommand: Command = {
  name: 'synth',
  summary: 'write a synthetic dataset (patterns.npy, labels.csv/json, dataset.json)',
  usage: 'xrd synth --count N -o DIR [--preset NAME] [--seed N] [--space-groups LIST] [options]',
  description: [
    'Generates N random crystals (space groups drawn from --space-groups, uniformly or weighted by',
    '--prior / --prior-from), renders one pattern each (or --per-structure K) with the preset\'s',
    'experimental effects on the GPU, and',
    'streams them to DIR: patterns.npy (float32 [N, points], NumPy .npy; or patterns.csv),',
    'labels.json and labels.csv (index, name, space_group, crystal_system and the drawn effect',
    'parameters of every pattern) and dataset.json (grid, wavelength, preset, seed, count, version).',
    'The same seed gives the same dataset.',
  ].join('\n'),
  flags: [
    { name: 'count', alias: 'n', type: 'int', value: 'N', description: 'number of patterns' },
    { name: 'out', alias: 'o', type: 'string', value: 'DIR', description: 'dataset folder' },
    { name: 'preset', type: 'string', value: 'NAME', description: `experimental effects: ${PRESETS.join(', ')}`, default: 'realistic' },
    { name: 'seed', type: 'int', value: 'N', description: 'random seed', default: 0 },
    { name: 'space-groups', type: 'string', value: 'LIST', description: 'space groups to draw from, e.g. 1-230 or 14,62,225', default: '1-230' },
    ...PRIOR_FLAGS,
    { name: 'per-structure', type: 'int', value: 'K', description: 'patterns per crystal (different effects)', default: 1 },
    { name: 'batch', type: 'int', value: 'B', description: 'patterns rendered per GPU batch', default: 256 },
    { name: 'format', type: 'string', value: 'npy|csv', description: 'file format of the patterns', default: 'npy' },
    { name: 'overwrite', type: 'boolean', description: 'replace a dataset already in DIR' },
    ...GRID_FLAGS,
  ],
  examples: [
    'xrd synth --count 10000 -o dataset/',
    'xrd synth -n 2000 -o cubic/ --space-groups 195-230 --preset paper --seed 7',
    "python3 -c \"import numpy; print(numpy.load('dataset/patterns.npy').shape)\"",
  ],
  async run(args, io: CliIO) {
    const { flags, positionals } = args;
    if (positionals.length) throw new UsageError(`xrd synth takes no file arguments (got '${positionals[0]}'); see 'xrd synth --help'`);
    const count = flags.count as number | undefined;
    const out = flags.out as string | undefined;
    if (count === undefined || out === undefined) throw new UsageError("xrd synth needs --count N and -o DIR; see 'xrd synth --help'");
    if (count < 1) throw new UsageError(`--count must be at least 1, got ${count}`);
    const batch = flags.batch as number;
    if (batch < 1) throw new UsageError(`--batch must be at least 1, got ${batch}`);
    const perStructure = flags['per-structure'] as number;
    if (perStructure < 1) throw new UsageError(`--per-structure must be at least 1, got ${perStructure}`);
    const format = flags.format as string;
    if (format !== 'npy' && format !== 'csv') throw new UsageError(`--format must be npy or csv, got '${format}'`);
    const preset = presetOf(flags.preset as string);
    const seed = flags.seed as number;
    const spaceGroups = parseSpaceGroups(flags['space-groups'] as string);
    const prior = priorFromFlags(flags);
    const weights = spaceGroupWeights(prior);
    const grid = gridFromFlags(flags);

    const writer = DatasetWriter.open(out, {
      count,
      grid,
      format: format as PatternFormat,
      overwrite: Boolean(flags.overwrite),
      metadata: {
        generator: 'xrd synth',
        version: packageVersion(),
        source: 'synthetic',
        preset,
        seed,
        space_groups: spaceGroups.length === 230 ? '1-230' : spaceGroups,
        prior: prior === undefined ? 'uniform' : typeof prior === 'string' ? prior : `counts + ${prior.smoothing} from ${prior.source}`,
        patterns_per_structure: perStructure,
      },
    });
    const { createEngine } = await import('../engine/engine.ts');
    const { simulate } = await import('../sim/stream.ts');
    const engine = await createEngine().catch((e: unknown) => {
      writer.abort();
      throw e;
    });
    const batchSize = Math.min(batch, count);
    const progress = new Progress('synth', count, io.stderr);
    // Ctrl-C or SIGTERM: stop after the current batch and leave nothing behind.
    let interrupted: string | null = null;
    const onSignal = (signal: string) => () => {
      interrupted = signal;
    };
    const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
    for (const [sig, h] of Object.entries(handlers)) process.on(sig, h);
    try {
      const stream = simulate({
        engine,
        source: 'synthetic',
        batchSize,
        batches: Math.ceil(count / batchSize),
        effects: preset,
        seed,
        // the uniform prior keeps the plain list, so existing seeds give the same datasets
        spaceGroups: prior === undefined || prior === 'uniform' ? spaceGroups : { groups: spaceGroups, weights: spaceGroups.map((g) => weights[g - 1]!) },
        patternsPerStructure: perStructure,
        grid: cliGridToGrid(grid),
      });
      // Start reading batch k back, then let the generator build batch k+1 on the CPU while the
      // GPU renders batch k.
      let next = await stream.next();
      while (!next.done && !interrupted) {
        const b = next.value;
        const reading = b.patterns.read();
        b.spaceGroup.dispose();
        b.crystalSystem.dispose();
        next = await stream.next();
        const data = await reading;
        b.patterns.dispose();
        const rows = Math.min(b.meta.length, count - writer.rowsWritten);
        const labels: DatasetLabel[] = b.meta.slice(0, rows).map((m) => ({
          name: m.name,
          spaceGroup: m.spaceGroup,
          params: { structure: m.structure, pattern: m.pattern, impurity_phases: m.impurities, effects: m.effects },
        }));
        writer.append(data.subarray(0, rows * grid.points), labels);
        progress.tick(rows);
      }
      if (interrupted) {
        if (!next.done) {
          for (const t of [next.value.patterns, next.value.spaceGroup, next.value.crystalSystem]) t.dispose();
        }
        writer.abort();
      }
    } catch (e) {
      writer.abort();
      throw e;
    } finally {
      for (const [sig, h] of Object.entries(handlers)) process.off(sig, h);
      progress.finish();
      engine.destroy();
    }
    if (interrupted) {
      io.stderr.write(`xrd synth: interrupted (${interrupted}) after ${writer.rowsWritten} of ${count} patterns; nothing was written to ${out}\n`);
      return 130;
    }
    const summary = await writer.close();
    const secs = progress.elapsedSeconds;
    io.stdout.write(
      `wrote ${summary.count} patterns of ${grid.points} points to ${out} (${summary.files.join(', ')}) ` +
        `in ${secs.toFixed(1)} s, ${(summary.count / secs).toFixed(1)} patterns/s\n`,
    );
  },
};
