import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

describe('engine runtime', () => {
  it('runs a dispatch and reads back', async () => {
    const n = 1000;
    const x = engine.tensor(Float32Array.from({ length: n }, (_, i) => i - 500), [n]);
    const y = engine.empty([n]);
    engine.dispatch('elementwise', 'affine', {
      bindings: { p: { n, row: 256 * 4, alpha: 2, beta: 1 }, x, y },
      workgroups: [4],
    });
    const out = await y.read();
    for (let i = 0; i < n; i++) expect(out[i]).toBe(2 * (i - 500) + 1);
    console.log(engine.info);
  });
});
