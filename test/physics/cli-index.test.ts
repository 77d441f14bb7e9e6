// `xrd index` as a user runs it: the example pattern (GPU and CPU scoring), JSON, the plot, and
// bad input reported in one line without a stack trace.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, xrdIn } from '../helpers/cli.ts';

const xrd = xrdIn(repoRoot);
const EXAMPLE = 'examples/TiO2-rutile-realistic.xy';

interface IndexJson {
  verdict: { crystal_system: string | null; reason: string; cell: { lattice: string; a: number; c: number; m20: number; centring: string } | null };
  lattices: { lattice: string; cells: unknown[] }[];
  indexed: { two_theta: number; hkl: number[][] }[];
  peaks: { two_theta: number; sigma: number }[];
}

// The example was rendered (its header) with the cell scaled by 1.014428 and a strained by
// -0.2596 %: a = 4.5937 x 1.014428 x 0.997404 = 4.6479, c = 2.9587 x 1.014428 x 1.000023 = 3.0015.
const A = 4.6479;
const C = 3.0015;

describe('xrd index', () => {
  it('indexes the rutile example as tetragonal P with a and c within 0.2 % of the rendered cell (GPU scoring), with a plot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xrd-index-'));
    const svg = join(dir, 'cell.svg');
    const r = xrd(['index', EXAMPLE, '--json', '--plot', svg]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as IndexJson;
    expect(j.verdict.crystal_system).toBe('tetragonal');
    const c = j.verdict.cell!;
    expect(c.centring).toBe('P');
    expect(Math.abs(c.a - A) / A).toBeLessThan(2e-3);
    expect(Math.abs(c.c - C) / C).toBeLessThan(2e-3);
    expect(j.lattices.map((l) => l.lattice)).toEqual(['cubic', 'hexagonal', 'tetragonal', 'orthorhombic']);
    // rutile's strongest line, 110: 27.12 deg for the rendered cell, less its zero and displacement shifts
    const l110 = j.indexed.find((l) => Math.abs(l.two_theta - 27.1) < 0.15)!;
    expect(l110.hkl).toContainEqual([1, 1, 0]);
    for (const p of j.peaks) expect(p.sigma).toBeGreaterThan(0);
    const plot = readFileSync(svg, 'utf8');
    expect(plot).toMatch(/^<\?xml|^<svg/);
    expect(plot).toContain('tetragonal');
  }, 180_000);

  it('prints the table and the indexed peaks; --cpu gives the same cell', () => {
    const r = xrd(['index', EXAMPLE, '--cpu']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/verdict: tetragonal/);
    expect(r.stdout).toMatch(/^lattice\s+a\s+b\s+c\s+alpha\s+beta\s+gamma\s+volume\s+M20\s+F_N\s+indexed\s+zero\s+centring$/m);
    expect(r.stdout).toMatch(/^tetragonal \*\s+4\.64\d*\s+4\.64\d*\s+3\.00\d*/m);
    expect(r.stdout).toMatch(/indexed peaks, tetragonal P cell:/);
    expect(r.stdout).toMatch(/\s110(\s|$)/m);
  }, 180_000);

  it('bad input: one line on stderr, exit 1 (missing file, a CIF, a pattern without peaks); usage errors exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xrd-index-bad-'));
    const missing = xrd(['index', join(dir, 'nope.xy'), '--cpu']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^xrd: cannot read .*nope\.xy/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const cif = xrd(['index', 'examples/NaCl-halite.cif', '--cpu']);
    expect(cif.code).toBe(1);
    expect(cif.stderr).toMatch(/xrd simulate/);
    expect(cif.stderr).not.toMatch(/\n\s+at /);
    const flat = join(dir, 'flat.xy');
    // counts of a flat background: 100 plus seeded uniform noise of +-10
    let s = 12345;
    const noise = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 20;
    writeFileSync(flat, Array.from({ length: 2000 }, (_, i) => `${(10 + i * 0.02).toFixed(2)} ${(100 + noise()).toFixed(1)}`).join('\n'));
    const none = xrd(['index', flat, '--cpu']);
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(/verdict: none \(no cell found: no peaks found\)/);
    expect(xrd(['index']).code).toBe(2);
    expect(xrd(['index', EXAMPLE, '--tol', '5']).stderr).toMatch(/--tol must be between/);
    expect(xrd(['index', EXAMPLE, '--kalpha2', 'maybe']).code).toBe(2);
  }, 180_000);
});
