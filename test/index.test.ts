// The public entry point exposes a working simulator and engine, not just names.
import { describe, expect, it } from 'vitest';
import * as xrd from '../src/index.ts';

describe('public API', () => {
  it('reads the embedded rutile example and gives its textbook strongest peak', () => {
    const crystal = xrd.readCif('examples/TiO2-rutile.cif');
    const peaks = xrd.peakList(crystal, { wavelength: 1.5418 });
    const strongest = peaks.reduce((a, b) => (b.intensity > a.intensity ? b : a));
    // Rutile (110): d = a / sqrt(2) = 3.25 A, 2-theta 27.4 deg with Cu K-alpha.
    expect(strongest.d).toBeCloseTo(4.5937 / Math.SQRT2, 2);
    expect(strongest.two_theta).toBeCloseTo(27.43, 1);
    expect(xrd.detectSpaceGroup(crystal).number).toBe(136);
  });

  it('keeps raw ops and differentiable ops apart', () => {
    expect(typeof xrd.ops.conv1d).toBe('function');
    expect(typeof xrd.ops.conv1dBackwardWeight).toBe('function');
    expect(xrd.ops.conv1d).not.toBe(xrd.conv1d);
  });
});
