// The trial-cell scoring kernel (kernels/index_score.wgsl) against its CPU reference, on random,
// ragged and tiny shapes, and the reference itself on hand-made cases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { formOf, formOfCell, qOf, type Form, type LatticeType } from '../../src/physics/lattice.ts';
import { packTrials, RESULT_STRIDE, scoreSpecFor, scoreTrialsCpu, type ScoreSpec } from '../../src/physics/score.ts';
import { scoreTrialsGpu } from '../../src/physics/score-gpu.ts';
import { rng } from './helpers.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());


/** Lines of a known cell (first n distinct Q of low hkl), with a relative tolerance. */
function linesOf(f: Form, n: number, tolRel = 2e-3): { q: number[]; tol: number[] } {
  const qs = new Set<number>();
  for (let h = 0; h <= 4; h++) for (let k = 0; k <= 4; k++) for (let l = 0; l <= 4; l++) if (h || k || l) qs.add(+qOf(f, h, k, l).toPrecision(9));
  const q = [...qs].sort((a, b) => a - b).slice(0, n);
  return { q, tol: q.map((v) => v * tolRel) };
}

/** Random trial forms of a lattice type around a cell, plus some that are not positive definite. */
function randomTrials(type: LatticeType, n: number, seed: number): Form[] {
  const r = rng(seed);
  const out: Form[] = [];
  for (let i = 0; i < n; i++) {
    const a = 3 + 9 * r();
    const b = 3 + 9 * r();
    const c = 3 + 9 * r();
    if (type === 'monoclinic') out.push(formOfCell({ a, b, c, alpha: 90, beta: 92 + 25 * r(), gamma: 90 }));
    else out.push(formOf(type, type === 'cubic' ? [1 / (a * a)] : type === 'orthorhombic' ? [1 / (a * a), 1 / (b * b), 1 / (c * c)] : [1 / (a * a), 1 / (c * c)]));
  }
  out.push([0, 0, 0, 0, 0, 0], [-0.01, 0.02, 0.03, 0, 0, 0], [0.02, 0.02, 0.02, 0.1, 0, 0]);
  return out;
}

/**
 * GPU and CPU agree: the hkl count exactly, the indexed-line count exactly unless a line sits
 * within float32 rounding of its tolerance, and the sums to float32 precision.
 */
async function expectAgreement(spec: ScoreSpec, forms: Form[]): Promise<void> {
  const trials = packTrials(forms);
  const cpu = scoreTrialsCpu(spec, trials);
  const gpu = await scoreTrialsGpu(engine, spec, trials);
  expect(gpu.length).toBe(cpu.length);
  let countMismatch = 0;
  for (let t = 0; t < forms.length; t++) {
    const o = t * RESULT_STRIDE;
    if (gpu[o] !== cpu[o]) countMismatch++;
    else {
      expect(Math.abs(gpu[o + 1]! - cpu[o + 1]!)).toBeLessThan(1e-3 * spec.q.length);
      expect(Math.abs(gpu[o + 2]! - cpu[o + 2]!)).toBeLessThan(1e-6 * spec.q.length + 1e-4 * cpu[o + 2]!);
    }
    expect(Math.abs(gpu[o + 3]! - cpu[o + 3]!)).toBeLessThanOrEqual(cpu[o + 3]! * 0.01);
  }
  expect(countMismatch).toBeLessThanOrEqual(Math.ceil(forms.length * 0.002));
}

describe('trial scoring kernel vs CPU reference', () => {
  for (const type of ['cubic', 'tetragonal', 'hexagonal', 'orthorhombic', 'monoclinic'] as const) {
    it(`agrees on random ${type} trials against an orthorhombic line list`, async () => {
      const { q, tol } = linesOf(formOf('orthorhombic', [1 / 25, 1 / 49, 1 / 81]), 20);
      await expectAgreement(scoreSpecFor(type, q, tol), randomTrials(type, 997, 7 + type.length));
    });
  }

  it('agrees on tiny and ragged shapes: one line, one trial, 65 trials, 33 lines', async () => {
    const one = scoreSpecFor('cubic', [0.1], [1e-4]);
    await expectAgreement(one, [formOf('cubic', [0.05])]);
    await expectAgreement(one, randomTrials('cubic', 62, 3));
    const many = linesOf(formOf('tetragonal', [1 / 16, 1 / 36]), 33);
    expect(many.q.length).toBe(33);
    await expectAgreement(scoreSpecFor('tetragonal', many.q, many.tol), randomTrials('tetragonal', 1, 5));
    await expectAgreement(scoreSpecFor('hexagonal', many.q, many.tol), randomTrials('hexagonal', 64, 6));
  });

  it('gives the true cell every line, and the GPU says so too', async () => {
    const f = formOf('tetragonal', [1 / 4.59 ** 2, 1 / 2.96 ** 2]);
    const { q, tol } = linesOf(f, 15);
    const spec = scoreSpecFor('tetragonal', q, tol);
    const trials = packTrials([f, formOf('tetragonal', [1 / 4.7 ** 2, 1 / 2.96 ** 2])]);
    const gpu = await scoreTrialsGpu(engine, spec, trials);
    const cpu = scoreTrialsCpu(spec, trials);
    for (const s of [gpu, cpu]) {
      expect(s[0]).toBe(15);
      expect(s[1]).toBeLessThan(0.05);
      expect(s[4]).toBeLessThan(15); // a 2 % larger a misses lines
    }
  });

  it('empty inputs give empty or zero scores without a dispatch', async () => {
    const spec = scoreSpecFor('cubic', [0.1], [1e-4]);
    expect((await scoreTrialsGpu(engine, spec, new Float32Array(0))).length).toBe(0);
    expect(scoreTrialsCpu(spec, new Float32Array(0)).length).toBe(0);
    await expect(scoreTrialsGpu(engine, spec, new Float32Array(5))).rejects.toThrow(/8 floats per trial/);
  });
});

describe('CPU reference on hand-made cases', () => {
  it('counts hkl of a cubic P cell in the h >= k >= l unit and matches lines by hand', () => {
    // a = 1: Q = h^2 + k^2 + l^2; lines at 1, 2, 3 and 7 (7 is no sum of three squares)
    const spec = scoreSpecFor('cubic', [1, 2, 3, 7], [0.01, 0.01, 0.01, 0.01]);
    const s = scoreTrialsCpu(spec, packTrials([formOf('cubic', [1])]));
    expect(s[0]).toBe(3);
    expect(s[1]).toBeCloseTo(1, 6); // three exact lines, one missed counts 1
    expect(s[2]).toBeCloseTo(0.01, 6);
    // hkl with h >= k >= l and h^2 + k^2 + l^2 <= 7.01: 100 110 111 200 210 211
    expect(s[3]).toBe(6);
  });

  it('a line off by half its tolerance adds 0.5 to the ratio sum', () => {
    const spec = scoreSpecFor('orthorhombic', [0.25 + 0.0005], [0.001]);
    const s = scoreTrialsCpu(spec, packTrials([formOf('orthorhombic', [0.25, 0.5, 0.75])]));
    expect(s[0]).toBe(1);
    expect(s[1]).toBeCloseTo(0.5, 4);
  });
});
