import { describe, expect, it } from 'vitest';
import { UsageError, parseArgs, suggest, type FlagSpec } from '../../src/cli/args.ts';
import { gridFromFlags } from '../../src/cli/grid.ts';
import { hklLabel, niceTicks, patternSvg } from '../../src/plot/pattern-svg.ts';

const specs: FlagSpec[] = [
  { name: 'out', alias: 'o', type: 'string', description: '' },
  { name: 'count', type: 'int', description: '' },
  { name: 'step', type: 'number', description: '', default: 0.01 },
  { name: 'plot', type: 'boolean', description: '' },
];

describe('parseArgs', () => {
  it('reads long, short, inline and boolean flags, defaults and positionals', () => {
    const r = parseArgs(['a.cif', '-o', 'dir', '--count=5', '--plot', 'b.cif', '--', '--not-a-flag'], specs, 'xrd t');
    expect(r.positionals).toEqual(['a.cif', 'b.cif', '--not-a-flag']);
    expect(r.flags).toEqual({ out: 'dir', count: 5, step: 0.01, plot: true });
    expect(parseArgs(['--step', '-0.5'], specs, 'xrd t').flags.step).toBe(-0.5);
  });

  it('rejects unknown flags, bad numbers, missing values and repeats with UsageError', () => {
    expect(() => parseArgs(['--outt', 'x'], specs, 'xrd t')).toThrow(/unknown flag --outt for 'xrd t' \(did you mean --out\?\)/);
    expect(() => parseArgs(['-x'], specs, 'xrd t')).toThrow(UsageError);
    expect(() => parseArgs(['--count', '2.5'], specs, 'xrd t')).toThrow(/--count needs an integer, got '2.5'/);
    expect(() => parseArgs(['--step', 'abc'], specs, 'xrd t')).toThrow(/needs a number/);
    expect(() => parseArgs(['--out'], specs, 'xrd t')).toThrow(/--out needs a value/);
    expect(() => parseArgs(['-o', 'a', '--out', 'b'], specs, 'xrd t')).toThrow(/given twice/);
    expect(() => parseArgs(['--plot=maybe'], specs, 'xrd t')).toThrow(/takes no value/);
    expect(suggest('synht', ['simulate', 'synth'])).toBe(' (did you mean synth?)');
    expect(suggest('zzzzzz', ['simulate', 'synth'])).toBe('');
  });

  it('builds the 8500-point default grid and rejects ranges that do not divide', () => {
    expect(gridFromFlags({ wavelength: 1.5418, range: '5,90', step: 0.01 })).toEqual({ wavelength: 1.5418, twoThetaMin: 5, twoThetaMax: 90, step: 0.01, points: 8500 });
    expect(gridFromFlags({ wavelength: 1.5418, range: '10, 80', step: 0.02 }).points).toBe(3500);
    expect(() => gridFromFlags({ wavelength: 1.5418, range: '5,90', step: 0.03 })).toThrow(/whole steps/);
    expect(() => gridFromFlags({ wavelength: 1.5418, range: '90,5', step: 0.01 })).toThrow(/MIN < MAX/);
    expect(() => gridFromFlags({ wavelength: -1, range: '5,90', step: 0.01 })).toThrow(/wavelength/);
  });
});

describe('SVG plot', () => {
  it('picks round ticks and formats hkl labels', () => {
    expect(niceTicks(5, 89.99, 10)).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(hklLabel([1, 1, 0])).toBe('(110)');
    expect(hklLabel([1, -1, 10])).toBe('(1 -1 10)');
  });

  it('keeps narrow peaks when decimating to pixel columns and escapes the title', () => {
    const n = 8500;
    const x = Array.from({ length: n }, (_, i) => 5 + i * 0.01);
    const y = x.map((v) => (Math.abs(v - 40) < 0.005 ? 1 : 0.01));
    const svg = patternSvg({ x, y, title: 'A & <B>', width: 500, peaks: [{ two_theta: 40, intensity: 100, hkl: [[1, 0, 0]] }] });
    expect(svg).toContain('A &amp; &lt;B&gt;');
    const d = /<path d="([^"]+)"/.exec(svg)?.[1] ?? '';
    const ys = [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => Number(m[2]));
    expect(ys.length).toBeLessThan(4 * 500);
    // The one-point peak at 40 deg survives: the smallest y coordinate (top of the plot) is the peak.
    const top = Math.min(...ys);
    expect(ys.filter((v) => v === top)).toHaveLength(1);
    expect(svg).toContain('>(100)</text>');
  });
});
