import { describe, expect, it } from 'vitest';
import { lowerEnvelope, rollingMean, rollingMinimum } from '../../src/sim/envelope.ts';

/** Direct O(n w) references. */
function minRef(v: number[], from: number, to: number, h: number): number[] {
  return v.map((_, i) => (i < from || i >= to ? 0 : Math.min(...v.slice(Math.max(from, i - h), Math.min(to, i + h + 1)))));
}
function meanRef(v: number[], from: number, to: number, h: number): number[] {
  return v.map((_, i) => {
    if (i < from || i >= to) return 0;
    const w = v.slice(Math.max(from, i - h), Math.min(to, i + h + 1));
    return w.reduce((a, b) => a + b, 0) / w.length;
  });
}

describe('lower envelope', () => {
  it('rolling minimum and mean equal the direct computation on ragged windows and ranges', () => {
    let s = 3;
    const v = Array.from({ length: 97 }, () => ((s = (s * 69069 + 1) % 4294967296) / 4294967296) * 10);
    for (const [from, to, h] of [[0, 97, 0], [0, 97, 1], [5, 90, 4], [10, 20, 30], [0, 97, 48], [3, 4, 2]] as const) {
      expect(Array.from(rollingMinimum(v, from, to, h))).toEqual(minRef(v, from, to, h));
      const m = rollingMean(v, from, to, h);
      meanRef(v, from, to, h).forEach((x, i) => expect(m[i]).toBeCloseTo(x, 9));
    }
  });
  it('follows a sloping background under narrow peaks', () => {
    const v = Array.from({ length: 2000 }, (_, i) => 1 + i / 1000 + (i % 100 === 50 ? 5 : 0));
    const e = lowerEnvelope(v, 0, 2000, 60);
    for (let i = 200; i < 1800; i += 37) expect(Math.abs(e[i]! - (1 + i / 1000))).toBeLessThan(0.07);
  });
});
