// GPU rendering of given crystals for the CLI, through the streaming API. The GPU modules are
// imported on first use, so commands that only need peak lists never load Dawn.

import type { Crystal } from '../sim/crystal.ts';
import type { FlagSpec } from './args.ts';
import { UsageError } from './args.ts';
import { cliGridToGrid, type CliGrid } from './grid.ts';
import type { CliIO } from './command.ts';
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
  const { renderCrystalPatterns } = await import('../sim/stream.ts');
  const engine = await createEngine();
  const progress = new Progress(o.label, crystals.length, io.stderr);
  try {
    const patterns = await renderCrystalPatterns(engine, crystals, { grid: cliGridToGrid(o.grid), effects: preset, seed: o.seed }, (rows) => progress.tick(rows));
    return patterns.map((p) => ({ intensity: p.intensity, params: { ...p.effects } }));
  } finally {
    progress.finish();
    engine.destroy();
  }
}
