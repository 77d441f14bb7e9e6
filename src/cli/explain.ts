// `xrd explain`: the 2-theta regions that drove a prediction, as a shaded SVG and a list of peaks.
// Thin over npcnn/explain.ts.
import { writeFileSync } from 'node:fs';
import { UsageError } from './args.ts';
import type { CliIO, Command } from './command.ts';
import { loadModels, patternFiles, pct, WAVELENGTH_FLAG } from './models.ts';

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
    const { DEFAULT_GRID, gridTwoTheta } = await import('../sim/render.ts');
    const sources = patternSources([file], DEFAULT_GRID);
    if (sources.length !== 1) throw new UsageError(`${file} holds ${sources.length} patterns; xrd explain takes one (save that row on its own)`);
    const pattern = sources[0]!.read();
    const { createEngine } = await import('../engine/engine.ts');
    const { explain, supportShading } = await import('../npcnn/explain.ts');
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
        const x = gridTwoTheta(grid);
        const name = model.config.task === 'space-group' ? `space group ${e.label}` : e.label;
        writeFileSync(
          f.out as string,
          patternSvg({
            x,
            y: values,
            title: `${file}: ${name} (${pct(e.probability)})`,
            shading: supportShading(e.attribution),
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
