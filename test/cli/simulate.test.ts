// End-to-end tests of `xrd simulate`: spawn bin/xrd.js as a user would.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCif } from '../../src/sim/cif.ts';
import { peakList } from '../../src/sim/reflections.ts';
import { xrdIn } from '../helpers/cli.ts';

const root = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'xrd-cli-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const rutile = join(root, 'examples/TiO2-rutile.cif');
const halite = join(root, 'examples/NaCl-halite.cif');
const PY = '/usr/bin/python3';
const hasPython = existsSync(PY);

// Dawn itself prints these two lines on stderr when a device is created on lavapipe.
const xrd = xrdIn(tmp, 120_000);

/** Exactly one line on stderr, no stack trace. */
function expectOneLine(stderr: string): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

interface PeakJson {
  two_theta: number;
  d: number;
  hkl: number[][];
  multiplicity: number;
  intensity: number;
}

/** The written peak list equals peakList() of the file (numbers to 1e-9: summation order may differ). */
function expectPeaksOf(written: PeakJson[], cif: string): void {
  const expected = peakList(readCif(cif));
  expect(written).toHaveLength(expected.length);
  written.forEach((p, i) => {
    const e = expected[i];
    expect(Object.keys(p).sort()).toEqual(['d', 'hkl', 'intensity', 'multiplicity', 'two_theta']);
    expect(p.hkl).toEqual(e.hkl);
    expect(p.multiplicity).toBe(e.multiplicity);
    expect(p.two_theta).toBeCloseTo(e.two_theta, 9);
    expect(p.d).toBeCloseTo(e.d, 9);
    expect(p.intensity).toBeCloseTo(e.intensity, 9);
  });
}

// NaCl written out in P1 (all 8 atoms, no symmetry stated), as pymatgen writes CIFs.
const NACL_P1 = `data_NaCl_P1
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a 5.6402
_cell_length_b 5.6402
_cell_length_c 5.6402
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_Int_Tables_number 1
loop_
 _symmetry_equiv_pos_as_xyz
  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Na+ Na0+ 0 0 0 1
  Na+ Na1 0 0.5 0.5 1
  Na+ Na2 0.5 0 0.5 1
  Na+ Na3 0.5 0.5 0 1
  Cl- Cl4 0.5 0.5 0.5 1
  Cl- Cl5 0.5 0 0 1
  Cl- Cl6 0 0.5 0 1
  Cl- Cl7 0 0 0.5 1
`;

describe('xrd simulate', () => {
  it('writes an 8500-row XY, the peak list and a well-formed SVG plot', () => {
    const out = join(tmp, 'out');
    const peaks = join(tmp, 'rutile.peaks.json');
    const r = xrd(['simulate', rutile, '-o', out, '--peaks', peaks, '--plot', '--preset', 'clean', '--seed', '5']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('136 (P 4_2/m n m), tetragonal');

    const text = readFileSync(join(out, 'TiO2-rutile.xy'), 'utf8');
    const header = text.split('\n').filter((l) => l.startsWith('#'));
    expect(header.join('\n')).toMatch(/TiO2-rutile\.cif/);
    expect(header.join('\n')).toMatch(/space group: 136/);
    expect(header.join('\n')).toMatch(/preset: clean, seed: 5/);
    const rows = text.trimEnd().split('\n').filter((l) => !l.startsWith('#')).map((l) => l.split(' ').map(Number));
    expect(rows).toHaveLength(8500);
    expect(rows[0][0]).toBe(5);
    expect(rows[8499][0]).toBeCloseTo(89.99, 10);
    const ys = rows.map((r) => r[1]);
    expect(Math.max(...ys)).toBeCloseTo(1, 5);
    // The strongest rutile line is 110 at 27.4 deg; the pattern's maximum must sit on it.
    const at = rows[ys.indexOf(Math.max(...ys))][0];
    const p110 = peakList(readCif(rutile)).reduce((a, b) => (b.intensity > a.intensity ? b : a));
    expect(p110.hkl[0]).toEqual([1, 1, 0]);
    expect(Math.abs(at - p110.two_theta)).toBeLessThan(0.05);

    expectPeaksOf(JSON.parse(readFileSync(peaks, 'utf8')), rutile);

    const svg = readFileSync(join(out, 'TiO2-rutile.svg'), 'utf8');
    expect(svg).toMatch(/<path d="M[\d. ]+L/);
    expect(svg).toContain('(110)');
    expect(svg).toContain('P 4_2/m n m');
    if (hasPython) {
      const parsed = execFileSync(PY, ['-c', 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(d.documentElement.tagName, len(d.getElementsByTagName("path")))', join(out, 'TiO2-rutile.svg')], { encoding: 'utf8' });
      expect(parsed.trim()).toBe('svg 1');
    }
  });

  it('writes peak lists without a GPU, one file per CIF in a folder, and detects P1 space groups', () => {
    const p1 = join(tmp, 'NaCl-P1.cif');
    writeFileSync(p1, NACL_P1);
    // An invalid backend makes any GPU use fail: peak lists must not touch the GPU.
    const r = xrd(['simulate', p1, halite, '--peaks', join(tmp, 'peaks')], { XRD_BACKEND: 'no-such-backend' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NaCl-P1: space group 225 \(F m -3 m\), cubic, detected/);
    expect(readdirSync(join(tmp, 'peaks')).sort()).toEqual(['NaCl-P1.peaks.json', 'NaCl-halite.peaks.json']);
    const fromP1 = JSON.parse(readFileSync(join(tmp, 'peaks/NaCl-P1.peaks.json'), 'utf8'));
    expectPeaksOf(fromP1, p1);
    expectPeaksOf(JSON.parse(readFileSync(join(tmp, 'peaks/NaCl-halite.peaks.json'), 'utf8')), halite);
    expect(fromP1[0]).toMatchObject({ hkl: [[1, 1, 1]], multiplicity: 8 });
    expect(fromP1.map((p: { two_theta: number }) => p.two_theta)).toEqual(
      JSON.parse(readFileSync(join(tmp, 'peaks/NaCl-halite.peaks.json'), 'utf8')).map((p: { two_theta: number }) => p.two_theta),
    );
  });

  it('--scale multiplies the cell: every d-spacing grows by the factor, the space group stays', () => {
    const plain = xrd(['simulate', halite, '--peaks', join(tmp, 'plain.peaks.json')]);
    const scaled = xrd(['simulate', halite, '--peaks', join(tmp, 'scaled.peaks.json'), '--scale', '1.25']);
    expect(plain.code).toBe(0);
    expect(scaled.code).toBe(0);
    expect(scaled.stdout).toMatch(/NaCl-halite: space group 225 \(F m -3 m\), cubic/);
    const d = (f: string) => (JSON.parse(readFileSync(join(tmp, f), 'utf8')) as { d: number; hkl: number[][] }[]).map((p) => [p.hkl[0]!.join(), p.d] as const);
    const before = new Map(d('plain.peaks.json'));
    const after = d('scaled.peaks.json');
    expect(after.length).toBeGreaterThan(before.size); // a larger cell has more reflections in range
    for (const [hkl, dd] of after) if (before.has(hkl)) expect(dd).toBeCloseTo(before.get(hkl)! * 1.25, 9);
    expect(xrd(['simulate', halite, '--peaks', join(tmp, 'x.json'), '--scale', '0']).stderr).toMatch(/--scale must be between 0.1 and 10, got 0/);
  });

  it('gives a one-line message and a non-zero exit code for bad input', () => {
    const missing = xrd(['simulate', 'nope.cif', '--peaks', 'x.json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^xrd: nope\.cif: no such file; check the path\n$/);

    const bad = join(tmp, 'bad.cif');
    writeFileSync(bad, 'data_x\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\nloop_\n_atom_site_label\n_atom_site_fract_x\nNa1 0 0\n');
    const malformed = xrd(['simulate', bad, '--peaks', 'x.json']);
    expect(malformed.code).toBe(1);
    expectOneLine(malformed.stderr);
    expect(malformed.stderr).toMatch(/^xrd: .*bad\.cif(:\d+)?: /);

    const flag = xrd(['simulate', rutile, '--peaks', 'x.json', '--frobnicate']);
    expect(flag.code).toBe(2);
    expectOneLine(flag.stderr);
    expect(flag.stderr).toContain("unknown flag --frobnicate for 'xrd simulate'");

    const typo = xrd(['simulate', rutile, '--peak', 'x.json']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean --peaks?');

    const cmd = xrd(['simulat']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain("unknown command 'simulat' (did you mean simulate?)");

    const range = xrd(['simulate', rutile, '--peaks', 'x.json', '--range', '90,5']);
    expect(range.code).toBe(2);
    expectOneLine(range.stderr);

    const nothing = xrd(['simulate', rutile]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to write');
  });

  it('simulates every structure block of a multi-block CIF, named by block, and reads a CIF saved with a byte-order mark', () => {
    const multi = join(tmp, 'pair.cif');
    writeFileSync(multi, `${readFileSync(halite, 'utf8')}\n${readFileSync(rutile, 'utf8')}`);
    const r = xrd(['simulate', multi, '-o', 'multi', '--preset', 'clean']);
    expect(r.code).toBe(0);
    const files = readdirSync(join(tmp, 'multi')).sort();
    expect(files).toHaveLength(2);
    expect(files.every((f) => f.startsWith('pair-'))).toBe(true);
    // Each block keeps its own space group (halite 225, rutile 136) in its header and on stdout.
    const groups = files.map((f) => /# space group: (\d+)/.exec(readFileSync(join(tmp, 'multi', f), 'utf8'))![1]).sort();
    expect(groups).toEqual(['136', '225']);
    expect(r.stdout).toMatch(/pair-.*225.*\n.*pair-.*136|pair-.*136.*\n.*pair-.*225/);

    const bom = join(tmp, 'bom.cif');
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(halite)]));
    const withBom = xrd(['simulate', bom, '--peaks', join(tmp, 'bom.json')]);
    expect(withBom.code).toBe(0);
    expectPeaksOf(JSON.parse(readFileSync(join(tmp, 'bom.json'), 'utf8')) as PeakJson[], halite);
  }, 120_000);

  it('refuses, with one line and nothing written, input that would hang, crash or give a meaningless pattern', () => {
    const cell = (a: number, atoms = 'Si1 0 0 0', group = 'P 1') =>
      `data_t\n_cell_length_a ${a}\n_cell_length_b ${a}\n_cell_length_c ${a}\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n` +
      `_symmetry_space_group_name_H-M '${group}'\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n${atoms}\n`;
    const cases: [string, string | Buffer, RegExp][] = [
      // no reflection in range: refused instead of a pattern of pure noise scaled to 1
      ['tiny.cif', cell(0.01), /no reflection falls in 2-theta 5-90 deg .*cell 0\.01 x 0\.01 x 0\.01 A/],
      // 16 million reflections: refused before any allocation (V8 used to crash after 43 s)
      ['huge.cif', cell(100000).replace('_cell_length_b 100000', '_cell_length_b 10').replace('_cell_length_c 100000', '_cell_length_c 10'), /about 1\.6e\+7 reflections in range, more than the 4e\+6/],
      // 1100 sites x 192 operations of F m -3 m: over the cell-atom limit
      ['crowded.cif', cell(20, Array.from({ length: 1100 }, (_, i) => `Si${i} ${(i * 0.618) % 1} ${(i * 0.414) % 1} ${(i * 0.732) % 1}`).join('\n'), 'F m -3 m'), /1100 atom sites x 192 symmetry operations .* up to 200000/],
      ['overflow.cif', cell(5, 'Si1 1e400 0 0'), /overflow\.cif:14: fractional x of atom 'Si1': '1e400' is not a finite number/],
      // a binary file: the reason, and none of its bytes echoed
      ['binary.cif', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0x9c, 0xff]), /binary\.cif: is not a text file \(control byte 0x02 at character 5\)/],
    ];
    for (const [name, text, message] of cases) {
      writeFileSync(join(tmp, name), text);
      const r = xrd(['simulate', join(tmp, name), '-o', `refused-${name}`, '--peaks', join(tmp, `refused-${name}.json`)]);
      expect(r.code, name).toBe(1);
      expectOneLine(r.stderr);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr).not.toMatch(/[\x00-\x08]/);
      expect(existsSync(join(tmp, `refused-${name}`)), name).toBe(false);
      expect(existsSync(join(tmp, `refused-${name}.json`)), name).toBe(false);
    }

    // Node's own recursive mkdir spins forever under /proc; ours returns the refusal.
    for (const args of [['-o', '/proc/xrd-test'], ['--peaks', '/proc/xrd-test/p.json']]) {
      const r = xrd(['simulate', halite, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot create the (output|peaks) folder \/proc\/xrd-test: ENOENT/);
    }

    const usage: [string[], RegExp][] = [
      [['--step', '1e-7'], /--step 1e-7 over 5-90 degrees gives 850000000 points per pattern; at most 1000000/],
      [['--range', '-10,200'], /--range must satisfy 0 <= MIN < MAX < 180 degrees, got -10,200/],
      [['--preset', 'nonsense'], /unknown --preset 'nonsense'/],
    ];
    for (const [flags, message] of usage) {
      const r = xrd(['simulate', halite, '-o', 'never-made', ...flags]);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toMatch(message);
      expect(existsSync(join(tmp, 'never-made'))).toBe(false);
    }
  }, 120_000);

  it('realistic patterns never go below zero and peak at exactly 1', () => {
    const r = xrd(['simulate', rutile, '-o', 'realistic', '--preset', 'realistic', '--seed', '3']);
    expect(r.code).toBe(0);
    const y = readFileSync(join(tmp, 'realistic', 'TiO2-rutile.xy'), 'utf8').trimEnd().split('\n').filter((l) => !l.startsWith('#')).map((l) => Number(l.split(' ')[1]));
    expect(y).toHaveLength(8500);
    expect(Math.min(...y)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...y)).toBe(1);
  }, 120_000);

  it('prints help for the program and for each command', () => {
    const top = xrd(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/simulate\s+patterns/);
    expect(top.stdout).toMatch(/synth\s+/);
    const sim = xrd(['simulate', '--help']);
    expect(sim.code).toBe(0);
    expect(sim.stdout).toContain('Usage: xrd simulate FILE.cif');
    expect(sim.stdout).toContain('--preset');
  });
});
