// GPU rendering of given crystals for the CLI, through the streaming API. The GPU modules are
// imported on first use, so commands that only need peak lists never load Dawn.

import type { Crystal } from '../sim/crystal.ts';
import type { FlagSpec } from './args.ts';
import { UsageError } from './args.ts';
import { cliGridToGrid, type CliGrid } from './grid.ts';
import type { CliIO } from './main.ts';
import { Progress } from './progress.ts';

export const PRESETS = ['paper', 'clean', 'realistic'] as const;
export type PresetName = (typeof PRESETS)[number];

export const PRESET_FLAG: FlagSpec = {
  name: 'preset',
  type: 'string',
  value: 'NAME',
  description: `experimental effects: ${PRESETS.join(', ')}`,
  default: 'paper',
};

export function presetOf(name: string): PresetName {
  if (!(PRESETS as readonly string[]).includes(name)) throw new UsageError(`unknown --preset '${name}'; use one of ${PRESETS.join(', ')}`);
  return name as PresetName;
}

export interface RenderedPattern {
  intensity: Float32Array;
  /** The effect parameters drawn for this pattern. */
  params: Record<string, unknown>;
}

export async function renderCrystals(
  crystals: Crystal[],
  o: { grid: CliGrid; preset: string; seed: number; label: string },
  io: CliIO,
): Promise<RenderedPattern[]> {
  const preset = presetOf(o.preset);
  const { createEngine } = await import('../engine/engine.ts');
  const { simulate } = await import('../sim/stream.ts');
  const engine = await createEngine();
  const progress = new Progress(o.label, crystals.length, io.stderr);
  const out: RenderedPattern[] = [];
  try {
    for await (const batch of simulate({
      source: crystals,
      batchSize: Math.min(crystals.length, 256),
      effects: preset,
      seed: o.seed,
      engine,
      grid: cliGridToGrid(o.grid),
    })) {
      const data = await batch.patterns.read();
      const rows = batch.patterns.shape[0];
      for (let r = 0; r < rows; r++) {
        out.push({ intensity: data.slice(r * o.grid.points, (r + 1) * o.grid.points), params: { ...batch.meta[r].effects } });
      }
      batch.patterns.dispose();
      batch.spaceGroup.dispose();
      batch.crystalSystem.dispose();
      progress.tick(rows);
    }
  } finally {
    progress.finish();
    engine.destroy();
  }
  return out;
}
