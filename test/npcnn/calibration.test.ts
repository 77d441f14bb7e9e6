// Temperature scaling: the fit recovers the temperature that generated the labels, and applying
// a temperature keeps the ranking and round-trips.
import { describe, expect, it } from 'vitest';
import { applyTemperature, fitTemperature, negativeLogLikelihood } from '../../src/npcnn/calibration.ts';
import { seededRandom } from '../../src/engine/parameters.ts';

describe('temperature scaling', () => {
  it('recovers the temperature of labels drawn from softmax(z / 2.5) given softmax(z)', () => {
    const r = seededRandom(4);
    const n = 4000;
    const c = 7;
    const probs = new Float32Array(n * c);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const z = Array.from({ length: c }, () => 4 * (r() - 0.5) * 2);
      const soft = (t: number) => {
        const e = z.map((v) => Math.exp(v / t));
        const s = e.reduce((a, b) => a + b, 0);
        return e.map((v) => v / s);
      };
      soft(1).forEach((p, k) => (probs[i * c + k] = p));
      // draw the label from the tempered distribution
      const q = soft(2.5);
      let u = r();
      let k = 0;
      while (k < c - 1 && u >= q[k]!) u -= q[k++]!;
      labels[i] = k;
    }
    const t = fitTemperature(probs, labels, c);
    expect(t).toBeGreaterThan(2.2);
    expect(t).toBeLessThan(2.8);
    expect(negativeLogLikelihood(probs, labels, c, t)).toBeLessThan(negativeLogLikelihood(probs, labels, c, 1));
  });

  it('keeps the ranking of every row and round-trips through 1/T', () => {
    const probs = Float32Array.from([0.7, 0.2, 0.1, 0.05, 0.05, 0.9]);
    const hot = applyTemperature(probs, 3, 2);
    expect(hot[0]).toBeLessThan(0.7);
    expect(hot[0]! > hot[1]! && hot[1]! > hot[2]!).toBe(true);
    expect(hot[0]! + hot[1]! + hot[2]!).toBeCloseTo(1, 6);
    const back = applyTemperature(hot, 3, 0.5);
    for (let i = 0; i < probs.length; i++) expect(back[i]).toBeCloseTo(probs[i]!, 5);
  });
});
