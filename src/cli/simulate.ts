// `xrd simulate a.cif [b.cif ...] -o out/ [--peaks PATH] [--plot]`: patterns (XY, SVG) and peak
// lists of CIF files. Peak lists are CPU-only; patterns are rendered on the GPU.

import { existsSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { makeDirectory } from '../io/files.ts';
import { readCifStructures, structureOutputName } from '../sim/cif.ts';
import { crystalSystemOf, type Crystal } from '../sim/crystal.ts';
import { writePeaksJson } from '../sim/peaks-io.ts';
import { peakListToRender, type Peak } from '../sim/reflections.ts';
import { gridTwoTheta } from '../sim/render.ts';
import { resolveSpaceGroup, spaceGroupInfo, type SpaceGroupSource } from '../sim/spacegroup.ts';
import { patternSvg } from '../plot/pattern-svg.ts';
import { InputError, UsageError } from './args.ts';
import { GRID_FLAGS, gridFromFlags, type CliGrid } from './grid.ts';
import type { CliIO, Command } from './command.ts';
import { PRESET_FLAG, presetOf, renderCrystals, type RenderedPattern } from './render-crystals.ts';

export interface SimulateInput {
  path: string;
  name: string;
  crystal: Crystal;
  spaceGroup: number | null;
  /** 'file' when the CIF states it, 'detected' when moyo found it for a P1 file. */
  spaceGroupSource: SpaceGroupSource;
}

function checkFile(path: string): void {
  if (!existsSync(path)) throw new InputError(`${path}: no such file; check the path`);
  if (!statSync(path).isFile()) throw new InputError(`${path} is not a file; give CIF files`);
}

/**
 * Read the CIFs, name them after their files, and detect the space group of P1 files. A file with
 * several structure blocks gives one input per block, named <file>-<block>.
 */
export function readInputs(paths: string[], warn: (s: string) => void): SimulateInput[] {
  const names = new Map<string, string>();
  return paths.flatMap((path) => {
    checkFile(path);
    const crystals = readCifStructures(path);
    return crystals.map((crystal) => {
      const name = structureOutputName(basename(path, extname(path)), crystal.name, crystals.length);
      const source = crystals.length > 1 ? `${path} (block ${crystal.name})` : path;
      const clash = names.get(name);
      if (clash) throw new InputError(`${clash} and ${source} would both write '${name}' outputs; rename one of them`);
      names.set(name, source);
      const { spaceGroup, source: spaceGroupSource, problem } = resolveSpaceGroup(crystal);
      if (problem !== undefined) warn(`${source}: space group not stated and not detectable (${problem}); labelled unknown`);
      return { path: source, name, crystal: { ...crystal, spaceGroup }, spaceGroup, spaceGroupSource };
    });
  });
}

export function spaceGroupText(input: SimulateInput): string {
  if (input.spaceGroup === null) return 'unknown';
  const info = spaceGroupInfo(input.spaceGroup);
  return `${input.spaceGroup} (${info.hmShort}), ${crystalSystemOf(input.spaceGroup)}${input.spaceGroupSource === 'detected' ? ', detected' : ''}`;
}

/** Decimals that show every grid angle exactly. */
function decimalsOf(step: number): number {
  for (let d = 0; d < 10; d++) if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-9) return d;
  return 10;
}

export function xyText(input: SimulateInput, grid: CliGrid, pattern: RenderedPattern, preset: string, seed: number, scale = 1): string {
  const x = gridTwoTheta(grid);
  const dec = decimalsOf(grid.step);
  const lines = [
    `# xrd simulate: ${input.path}`,
    `# name: ${input.name}`,
    `# space group: ${spaceGroupText(input)}`,
    `# preset: ${preset}, seed: ${seed}`,
    ...(scale !== 1 ? [`# lattice scale: ${scale} (cell edges multiplied)`] : []),
    `# wavelength: ${grid.wavelength} A, 2theta ${x[0].toFixed(dec)}-${x[x.length - 1].toFixed(dec)} step ${grid.step}`,
    `# effects: ${JSON.stringify(pattern.params)}`,
    '# columns: two_theta intensity (maximum 1)',
  ];
  for (let i = 0; i < x.length; i++) lines.push(`${x[i].toFixed(dec)} ${+pattern.intensity[i].toPrecision(6)}`);
  return lines.join('\n') + '\n';
}

function mkdirFor(path: string, what: string): void {
  try {
    makeDirectory(path);
  } catch (e) {
    throw new InputError(`cannot create the ${what} folder ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Where the peak list of each input goes: the path itself for one CIF, a folder for several. */
export function peaksPaths(target: string, inputs: SimulateInput[]): string[] {
  const isDir = target.endsWith('/') || (existsSync(target) && statSync(target).isDirectory());
  if (inputs.length === 1 && !isDir) {
    mkdirFor(dirname(target) || '.', 'peaks');
    return [target];
  }
  if (existsSync(target) && !statSync(target).isDirectory()) {
    throw new UsageError(`--peaks ${target} is a file, but ${inputs.length} CIFs need a folder for their peak lists; give a folder`);
  }
  mkdirFor(target, 'peaks');
  return inputs.map((i) => join(target, `${i.name}.peaks.json`));
}

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'patterns (XY, SVG plot) and peak lists of CIF files',
  usage: 'xrd simulate FILE.cif [FILE.cif ...] [-o DIR] [--peaks PATH] [--plot] [options]',
  description: [
    'Writes DIR/<name>.xy (2-theta and intensity, maximum 1, with a header naming the source, space',
    'group, preset and seed) for each CIF, DIR/<name>.svg with --plot, and the peak list as JSON with',
    '--peaks (a file for one CIF, a folder for several). Peak lists need no GPU; patterns are',
    'rendered on the GPU with the preset\'s experimental effects. CIFs in P1 get their space group',
    'detected. A CIF with several structure blocks gives one pattern per block, named',
    '<file>-<block>. A crystal with no reflection in the range is an error, not an empty pattern.',
  ].join('\n'),
  flags: [
    { name: 'out', alias: 'o', type: 'string', value: 'DIR', description: 'folder for the .xy (and .svg) files' },
    { name: 'peaks', type: 'string', value: 'PATH', description: 'write the peak list(s) as JSON here' },
    { name: 'plot', type: 'boolean', description: 'also write an SVG plot per pattern (needs -o)' },
    PRESET_FLAG,
    { name: 'seed', type: 'int', value: 'N', description: 'seed of the random effects', default: 0 },
    { name: 'scale', type: 'number', value: 'F', description: 'multiply the cell edges by F (0.1-10; symmetry and atom positions unchanged)', default: 1 },
    ...GRID_FLAGS,
  ],
  examples: [
    'xrd simulate examples/TiO2-rutile.cif -o out/ --plot',
    'xrd simulate examples/*.cif --peaks peaks/ --preset clean',
    'xrd simulate quartz.cif -o out/ --range 10,80 --step 0.02 --wavelength 0.7093',
    'xrd simulate examples/NaCl-halite.cif -o scaled/ --scale 1.3',
  ],
  async run(args, io: CliIO) {
    const { flags, positionals } = args;
    if (positionals.length === 0) throw new UsageError("give at least one CIF file; see 'xrd simulate --help'");
    const out = flags.out as string | undefined;
    const peaksTarget = flags.peaks as string | undefined;
    if (!out && !peaksTarget) throw new UsageError("nothing to write: give -o DIR for patterns and/or --peaks PATH for peak lists");
    if (flags.plot && !out) throw new UsageError('--plot writes next to the patterns; give -o DIR too');
    const grid = gridFromFlags(flags);
    const preset = presetOf(flags.preset as string);
    const seed = flags.seed as number;
    const scale = flags.scale as number;
    if (!(scale >= 0.1 && scale <= 10)) throw new UsageError(`--scale must be between 0.1 and 10, got ${scale}`);
    const inputs = readInputs(positionals, (s) => io.stderr.write(`xrd: warning: ${s}\n`)).map((i) =>
      scale === 1 ? i : { ...i, crystal: { ...i.crystal, lattice: { ...i.crystal.lattice, a: i.crystal.lattice.a * scale, b: i.crystal.lattice.b * scale, c: i.crystal.lattice.c * scale } } },
    );

    const peakOpts = { wavelength: grid.wavelength, twoThetaMin: grid.twoThetaMin, twoThetaMax: grid.twoThetaMax };
    // Every crystal is checked before anything is written.
    const peaks: Peak[][] = inputs.map((i) => peakListToRender(i.crystal, peakOpts, i.path));
    const written: string[] = [];
    if (peaksTarget) {
      const paths = peaksPaths(peaksTarget, inputs);
      paths.forEach((p, i) => writePeaksJson(peaks[i], p));
      written.push(...paths);
    }
    if (out) {
      mkdirFor(out, 'output');
      const patterns = await renderCrystals(
        inputs.map((i) => i.crystal),
        { grid, preset, seed, label: 'simulate' },
        io,
      );
      inputs.forEach((input, i) => {
        const xy = join(out, `${input.name}.xy`);
        writeFileSync(xy, xyText(input, grid, patterns[i], preset, seed, scale));
        written.push(xy);
        if (flags.plot) {
          const svg = join(out, `${input.name}.svg`);
          const sg = input.spaceGroup === null ? 'space group unknown' : `${spaceGroupInfo(input.spaceGroup).hmShort} (${input.spaceGroup})`;
          writeFileSync(
            svg,
            patternSvg({ x: gridTwoTheta(grid), y: patterns[i].intensity, peaks: peaks[i], title: `${input.name}: ${sg}, ${preset}` }),
          );
          written.push(svg);
        }
      });
    }
    for (const input of inputs) io.stdout.write(`${input.name}: space group ${spaceGroupText(input)}\n`);
    io.stdout.write(`wrote ${written.length} file${written.length === 1 ? '' : 's'}: ${written.join(', ')}\n`);
  },
};
