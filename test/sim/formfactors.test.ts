import { describe, expect, it } from 'vitest';
import { formFactor, ionName, UnknownElementError } from '../../src/sim/formfactors.ts';
import { FORM_FACTOR_SOURCE, WAASMAIER_KIRFEL } from '../../src/sim/data/formfactors.ts';

// Expected values computed independently with a few lines of Python straight from
// periodictable/xsf/f0_WaasKirf.dat (python3-periodictable 1.6.0-1).
const FROM_DAT: [string, number | null, number, number][] = [
  ['O', null, 0.0, 7.9997060000000015],
  ['O', 0, 0.5, 2.337907345110727],
  ['O', -2, 0.25, 4.89528115256896],
  ['Fe', 3, 0.4, 13.877779722651432],
  ['Li', 1, 0.1, 1.9361473860716818],
  ['Li', 0, 0.3, 1.5121155423423538],
  ['U', null, 1.0, 35.50338071848611],
  ['Cl', -1, 0.2, 11.98641079268365],
];

describe('Waasmaier-Kirfel form factors', () => {
  it.each(FROM_DAT)('%s charge %s at s=%s', (el, q, s, want) => {
    expect(formFactor(el, q, s)).toBeCloseTo(want, 10);
  });

  it('table holds 209 atoms/ions and names its source', () => {
    expect(Object.keys(WAASMAIER_KIRFEL).length).toBe(209);
    expect(FORM_FACTOR_SOURCE.reference).toContain('Acta Cryst. A51 (1995) 416');
  });

  it('f0(0) is close to the electron count Z - q', () => {
    expect(formFactor('Fe', null, 0)).toBeCloseTo(26, 1);
    expect(formFactor('Fe', 3, 0)).toBeCloseTo(23, 1);
    expect(formFactor('Cl', -1, 0)).toBeCloseTo(18, 1);
  });

  it('an ion missing from the table falls back to the neutral atom', () => {
    expect(WAASMAIER_KIRFEL['S2-']).toBeUndefined();
    expect(formFactor('S', -2, 0.3)).toBe(formFactor('S', null, 0.3));
  });

  it('spells ions as the table does', () => {
    expect(ionName('O', -2)).toBe('O2-');
    expect(ionName('Li', 1)).toBe('Li1+');
    expect(ionName('Li', 0)).toBe('Li');
  });

  it('unknown element raises a typed error naming it', () => {
    expect(() => formFactor('Xx', null, 0.1)).toThrow(UnknownElementError);
    expect(() => formFactor('Es', 0, 0.1)).toThrow(/'Es'/);
  });
});
