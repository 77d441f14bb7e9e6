// CPU stages of the simulator per synthetic structure: generateCrystal, structureFactors,
// mergeEquivalents (at the sMax preparePhase uses for the given preset).
//   npx tsx bench/sim-cpu.ts [--n 230] [--preset paper] [--reps 3]
import { scriptArgs } from '../src/cli/args.ts';
import { effectsPreset, sMaxFactor, type PresetName } from '../src/sim/effects.ts';
import { DEFAULT_GRID, gridMax } from '../src/sim/render.ts';
import { mergeEquivalents, structureFactors } from '../src/sim/reflections.ts';
import { Rng } from '../src/sim/random.ts';
import { generateCrystal } from '../src/sim/synth.ts';
import type { Crystal } from '../src/sim/crystal.ts';

const { flags } = scriptArgs(
  [
    { name: 'n', type: 'int', value: 'N', description: 'structures per repetition', default: 230 },
    { name: 'preset', type: 'string', value: 'NAME', description: 'effects preset', default: 'paper' },
    { name: 'reps', type: 'int', value: 'N', description: 'repetitions', default: 3 },
  ],
  'bench/sim-cpu.ts',
);
const n = flags.n as number;
const reps = flags.reps as number;
const config = effectsPreset(flags.preset as PresetName);
const top = Math.min(179, gridMax(DEFAULT_GRID) + 5);
const sMax = (Math.sin((top / 2) * (Math.PI / 180)) / DEFAULT_GRID.wavelength) * sMaxFactor(config);

const groups = Array.from({ length: n }, (_, i) => 1 + (i % 230));
for (let rep = 0; rep < reps; rep++) {
  const root = new Rng(1000 + rep);
  let t = performance.now();
  const crystals: Crystal[] = groups.map((g, i) => generateCrystal(g, root.fork(i)));
  const gen = performance.now() - t;
  t = performance.now();
  const sfs = crystals.map((c) => structureFactors(c, { sMax }));
  const sf = performance.now() - t;
  t = performance.now();
  const merged = sfs.map((s, i) => mergeEquivalents(s, crystals[i].lattice));
  const mg = performance.now() - t;
  const atoms = crystals.reduce((s, c) => s + c.sites.length, 0) / n;
  const entries = sfs.reduce((s, x) => s + x.count, 0) / n;
  const mEntries = merged.reduce((s, x) => s + x.count, 0) / n;
  console.log(
    `rep ${rep}: generateCrystal ${(gen / n).toFixed(3)} ms, structureFactors ${(sf / n).toFixed(3)} ms, ` +
      `mergeEquivalents ${(mg / n).toFixed(3)} ms per structure (${atoms.toFixed(1)} sites, ${entries.toFixed(0)} entries, ${mEntries.toFixed(0)} merged; sMax ${sMax.toFixed(3)})`,
  );
}
