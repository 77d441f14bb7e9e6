// The shipped models (models/crystal-system, models/space-group) load and classify simulated
// patterns of clear-cut structures: halite (cubic, Fm-3m), silicon (cubic, Fd-3m) and rutile
// (tetragonal, P4_2/mnm), under the paper's experimental effects with several seeds.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/engine/engine.ts';
import { loadModel } from '../src/npcnn/model-dir.ts';
import { predictRows } from '../src/npcnn/predict.ts';
import { readCif } from '../src/sim/cif.ts';
import { simulate } from '../src/sim/stream.ts';

const root = resolve(import.meta.dirname, '..');
const STRUCTURES = [
  { file: 'examples/NaCl-halite.cif', system: 'cubic', group: '225' },
  { file: 'examples/Si-diamond.cif', system: 'cubic', group: '227' },
  { file: 'examples/TiO2-rutile.cif', system: 'tetragonal', group: '136' },
];

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

describe('shipped models', () => {
  it('classify halite, silicon and rutile correctly (top-1), three seeds of the paper preset each', async () => {
    const crystals = STRUCTURES.map((s) => readCif(join(root, s.file)));
    const rows: Float32Array[] = [];
    for (const seed of [1, 2, 3]) {
      for await (const b of simulate({ engine, source: crystals, batchSize: 3, effects: 'paper', seed })) {
        const data = (await b.patterns.read()) as Float32Array;
        for (let i = 0; i < 3; i++) rows.push(data.slice(i * 8500, (i + 1) * 8500));
        for (const t of [b.patterns, b.spaceGroup, b.crystalSystem]) t.dispose();
      }
    }
    const all = new Float32Array(rows.length * 8500);
    rows.forEach((r, i) => all.set(r, i * 8500));
    for (const [dir, key] of [
      ['models/crystal-system', 'system'],
      ['models/space-group', 'group'],
    ] as const) {
      const model = await loadModel(engine, join(root, dir));
      const probs = await predictRows(engine, model, all, rows.length);
      const c = model.classes.length;
      rows.forEach((_, i) => {
        const p = probs.subarray(i * c, (i + 1) * c);
        let best = 0;
        for (let k = 1; k < c; k++) if (p[k]! > p[best]!) best = k;
        const want = STRUCTURES[i % 3]![key];
        expect(model.classes[best], `${dir} on ${STRUCTURES[i % 3]!.file} (seed ${Math.floor(i / 3) + 1})`).toBe(want);
      });
      model.dispose();
    }
  }, 120_000);
});
