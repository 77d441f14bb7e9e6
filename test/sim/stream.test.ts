// The streaming API: batch shapes, labels, determinism across batch sizes, sources and errors.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { CRYSTAL_SYSTEMS, crystalSystemOf, type Crystal } from '../../src/sim/crystal.ts';
import { Rng } from '../../src/sim/random.ts';
import { SimulateOptionsError, SimulateSourceError, simulate, type SimulateOptions, type SimulatedBatch } from '../../src/sim/stream.ts';
import { generateCrystal } from '../../src/sim/synth.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const cifReal = path.resolve(repoRoot, '../shared/data/cif-real');

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

interface Collected {
  patterns: Float32Array[];
  sg: number[];
  cs: number[];
  meta: SimulatedBatch['meta'];
  sizes: number[];
}

async function collect(opts: Omit<SimulateOptions, 'engine'>): Promise<Collected> {
  const c: Collected = { patterns: [], sg: [], cs: [], meta: [], sizes: [] };
  for await (const b of simulate({ engine, ...opts })) {
    const [B, P] = b.patterns.shape;
    expect(b.spaceGroup.shape).toEqual([B]);
    expect(b.crystalSystem.shape).toEqual([B]);
    expect(b.spaceGroup.dtype).toBe('i32');
    expect(b.meta.length).toBe(B);
    const y = await b.patterns.read();
    for (let i = 0; i < B; i++) c.patterns.push(y.slice(i * P, (i + 1) * P));
    c.sg.push(...(await b.spaceGroup.read()));
    c.cs.push(...(await b.crystalSystem.read()));
    c.meta.push(...b.meta);
    c.sizes.push(B);
    b.patterns.dispose();
    b.spaceGroup.dispose();
    b.crystalSystem.dispose();
  }
  return c;
}

const same = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

describe('synthetic source', () => {
  it('yields [B, 8500] patterns with max 1 and labels that match the metadata', async () => {
    const c = await collect({ source: 'synthetic', batchSize: 6, batches: 2, effects: 'realistic', seed: 11, patternsPerStructure: 3 });
    expect(c.sizes).toEqual([6, 6]);
    c.patterns.forEach((p) => {
      expect(p.length).toBe(8500);
      expect(Math.max(...p)).toBe(1);
    });
    c.meta.forEach((m, i) => {
      expect(c.sg[i]).toBe(m.spaceGroup - 1);
      expect(c.sg[i]).toBeGreaterThanOrEqual(0);
      expect(c.sg[i]).toBeLessThan(230);
      expect(CRYSTAL_SYSTEMS[c.cs[i]]).toBe(crystalSystemOf(m.spaceGroup));
      expect(m.pattern).toBe(i % 3);
      expect(m.structure).toBe(Math.floor(i / 3));
    });
    // Patterns of one structure share the crystal but not the effects.
    expect(c.meta[0].name).toBe(c.meta[1].name);
    expect(same(c.patterns[0], c.patterns[1])).toBe(false);
  });

  it('same seed -> the same patterns bitwise, whatever the batch size; another seed differs', async () => {
    const base = { source: 'synthetic' as const, effects: 'paper' as const, seed: 5, patternsPerStructure: 2 };
    const a = await collect({ ...base, batchSize: 8, batches: 1 });
    const b = await collect({ ...base, batchSize: 3, batches: 3 });
    const d = await collect({ ...base, seed: 6, batchSize: 8, batches: 1 });
    for (let i = 0; i < 8; i++) {
      expect(same(a.patterns[i], b.patterns[i])).toBe(true);
      expect(a.meta[i].effects).toEqual(b.meta[i].effects);
    }
    expect(a.patterns.some((p, i) => !same(p, d.patterns[i]))).toBe(true);
  });

  it('draws only the space groups asked for', async () => {
    const c = await collect({ source: 'synthetic', batchSize: 8, batches: 1, effects: 'clean', spaceGroups: [225, 14], seed: 2 });
    expect(new Set(c.sg.map((g) => g + 1)).size).toBeGreaterThan(1);
    c.sg.forEach((g) => expect([224, 13]).toContain(g));
    const w = await collect({ source: 'synthetic', batchSize: 4, batches: 1, effects: 'clean', spaceGroups: { groups: [1, 2], weights: [0, 1] } });
    expect(w.sg).toEqual([1, 1, 1, 1]);
  });
});

describe('finite sources', () => {
  it('a Crystal[] source makes one pass by default, the last batch smaller', async () => {
    const crystals: Crystal[] = [221, 166, 62].map((sg, i) => generateCrystal(sg, new Rng(i)));
    const c = await collect({ source: crystals, batchSize: 4, effects: 'clean', patternsPerStructure: 2 });
    expect(c.sizes).toEqual([4, 2]);
    expect(c.sg).toEqual([220, 220, 165, 165, 61, 61]);
    const two = await collect({ source: crystals, batchSize: 4, effects: 'clean', epochs: 2, shuffle: true });
    expect(two.sizes).toEqual([4, 2]);
    expect([...two.sg.slice(0, 3)].sort((a, b) => a - b)).toEqual([61, 165, 220]);
    expect([...two.sg.slice(3)].sort((a, b) => a - b)).toEqual([61, 165, 220]);
  });

  it('a CIF directory: empty -> typed error; a bad file is named', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xrd-stream-'));
    try {
      await expect(collect({ source: dir, batchSize: 2 })).rejects.toThrow(SimulateSourceError);
      await expect(collect({ source: dir, batchSize: 2 })).rejects.toThrow(/no \.cif files/);
      writeFileSync(path.join(dir, 'broken.cif'), 'data_x\n_cell_length_a 3.0\nloop_\n_atom_site_label\n');
      await expect(collect({ source: dir, batchSize: 2 })).rejects.toThrow(/broken\.cif/);
      await expect(collect({ source: path.join(dir, 'missing'), batchSize: 2 })).rejects.toThrow(SimulateSourceError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe.skipIf(!existsSync(cifReal))('cif-real (../shared/data/cif-real; skipped when absent)', () => {
    it('labels every P1 file with the space group in its name', async () => {
      const files = readdirSync(cifReal).filter((f) => f.endsWith('.cif'));
      const c = await collect({ source: cifReal, batchSize: 64, effects: 'paper', seed: 1 });
      expect(c.meta.length).toBe(files.length);
      c.meta.forEach((m, i) => {
        const want = Number(/_(\d+)\.cif$/.exec(m.file!)![1]);
        expect(c.sg[i] + 1).toBe(want);
        expect(Math.max(...c.patterns[i])).toBe(1);
      });
    });
  });
});

describe('options', () => {
  it('bad options raise SimulateOptionsError', async () => {
    await expect(collect({ source: 'synthetic', batchSize: 0 })).rejects.toThrow(SimulateOptionsError);
    await expect(collect({ source: 'synthetic', batchSize: 4096 })).rejects.toThrow(/batchSize must be an integer 1\.\./);
    await expect(collect({ source: 'synthetic', batchSize: 2, spaceGroups: [231] })).rejects.toThrow(SimulateOptionsError);
    await expect(collect({ source: 'synthetic', batchSize: 2, patternsPerStructure: 0 })).rejects.toThrow(/patternsPerStructure/);
    await expect(collect({ source: [], batchSize: 2 })).rejects.toThrow(SimulateSourceError);
  });
});
