// End-to-end tests of `xrd predict` and `xrd eval` with a tiny model trained by `xrd train` in the
// test: table, JSON and CSV output, files that cannot be read, and eval's metrics checked against
// a confusion matrix computed here from predict's answers on the same files.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRYSTAL_SYSTEMS } from '../../src/sim/crystal.ts';
import { encodeNpy } from '../../src/sim/npy.ts';
import { xrdIn } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'xrd-predict-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const xrd = xrdIn(tmp);

/** Peaks at the given angles on 5-90 deg, step 0.02, with a label header. */
function pattern(name: string, peaks: number[], label: string): string {
  const rows = [label];
  for (let t = 5; t <= 90; t += 0.02) rows.push(`${t.toFixed(2)} ${(5 + peaks.reduce((a, p) => a + 1000 * Math.exp(-(((t - p) / 0.08) ** 2)), 0)).toFixed(2)}`);
  writeFileSync(join(tmp, 'labelled', name), rows.join('\n') + '\n');
  return join('labelled', name);
}

const files: string[] = [];
beforeAll(() => {
  mkdirSync(join(tmp, 'labelled'));
  const systems = ['cubic', 'tetragonal', 'monoclinic', 'hexagonal', 'cubic', 'orthorhombic'];
  systems.forEach((s, i) => files.push(pattern(`p${i}.xy`, [20 + 3 * i, 35 + i, 50 + 2 * i, 61], `# crystal_system: ${s}`)));
  const r = xrd(['train', '--out', 'model', '--steps', '2', '--batch', '4', '--val-size', '4', '--pool', '4', '--refresh', '0', '--preset', 'clean']);
  expect(r.code).toBe(0);
}, 180_000);

interface Row {
  file: string;
  crystal_system?: { label: string; probability: number; top: { label: string; probability: number }[] };
  coverage?: { from: number; to: number; fraction: number };
  quality?: { verdict: string; peaks: number; snr: number };
  warnings?: string[];
  error?: string;
}

describe('xrd predict', () => {
  it('classifies files into a table, JSON and CSV; an unreadable file is reported and the exit code is 1', () => {
    writeFileSync(join(tmp, 'broken.xy'), '10 1\n11 nan\n');
    const args = ['predict', '--model', 'model', ...files.slice(0, 2), 'broken.xy'];
    const t = xrd(args);
    expect(t.code).toBe(1);
    expect(t.stdout.split('\n')[0]).toMatch(/^file\s+quality\s+crystal system\s+space group\s+top classes/);
    // four peaks: a class, but flagged
    expect(t.stdout).toMatch(/labelled\/p0.xy\s+doubtful\s+\w+ \d+\.\d%/);
    expect(t.stdout).toMatch(/labelled\/p0.xy: doubtful: only 4 peaks above the noise/);
    expect(t.stdout).toMatch(/broken.xy\s+error: broken.xy:2: intensity 'nan' is not a finite number/);
    expect(t.stderr).toMatch(/1 of 3 files could not be classified/);

    const j = xrd([...args, '--json']);
    expect(j.code).toBe(1);
    const rows = JSON.parse(j.stdout) as Row[];
    expect(rows.map((r) => r.file)).toEqual([...files.slice(0, 2), 'broken.xy']);
    for (const r of rows.slice(0, 2)) {
      expect(CRYSTAL_SYSTEMS).toContain(r.crystal_system!.label);
      expect(r.crystal_system!.top).toHaveLength(5);
      expect(r.crystal_system!.top[0]!.probability).toBe(r.crystal_system!.probability);
      const sum = r.crystal_system!.top.reduce((a, x) => a + x.probability, 0);
      expect(sum).toBeLessThanOrEqual(1 + 1e-6);
      expect(r.coverage!.fraction).toBeCloseTo(1, 2);
      expect(r.quality).toEqual({ verdict: 'doubtful', peaks: 4, snr: expect.any(Number) });
      expect(r.warnings).toHaveLength(1);
    }
    expect(rows[2]!.error).toMatch(/not a finite number/);

    const c = xrd([...args, '--csv', '--top', '2']);
    const lines = c.stdout.trim().split('\n');
    expect(lines[0]).toBe('file,crystal_system,crystal_system_probability,space_group,space_group_symbol,space_group_probability,top1,top1_probability,top2,top2_probability,coverage_from,coverage_to,quality,peaks,warnings,error');
    expect(lines).toHaveLength(4);
  }, 180_000);

  it('classifies every row of an .npy array, named file[row]', () => {
    const rows = new Float32Array(2 * 8500);
    for (let i = 0; i < 8500; i++) {
      rows[i] = 1 + 100 * Math.exp(-(((i - 2000) / 5) ** 2));
      rows[8500 + i] = 1 + 100 * Math.exp(-(((i - 4000) / 5) ** 2));
    }
    writeFileSync(join(tmp, 'two.npy'), encodeNpy(rows, [2, 8500]));
    const r = xrd(['predict', '--model', 'model', 'two.npy', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Row[]).map((x) => x.file)).toEqual(['two.npy[0]', 'two.npy[1]']);
  }, 60_000);

  it('refuses a missing model and missing files with one line', () => {
    const m = xrd(['predict', '--model', 'nothing', files[0]!]);
    expect(m.stderr.trim()).toMatch(/^xrd: nothing is not a model directory \(no config.json\)/);
    expect(m.code).toBe(1);
    // a missing path is one failed file; the others are classified
    const f = xrd(['predict', '--model', 'model', 'no-such.xy', files[0]!, '--json']);
    expect(f.code).toBe(1);
    const rows = JSON.parse(f.stdout) as Row[];
    expect(rows.map((r) => r.file)).toEqual([files[0], 'no-such.xy']);
    expect(rows[0]!.crystal_system).toBeDefined();
    expect(rows[1]!.error).toBe('no-such.xy does not exist');
  }, 60_000);

  it('--library adds the best library match and answers with its labels where it is strong', () => {
    const examples = join(import.meta.dirname, '../../examples');
    const r = xrd(['predict', '--model', 'model', join(examples, 'TiO2-rutile-realistic.xy'), files[0]!, '--library', examples, '--json'], { XRD_CACHE_DIR: join(tmp, 'cache') });
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as (Row & { library_match?: { mineral: string; space_group: number; correlation: number }; answer?: { crystal_system: string; space_group: number | null; source: string } })[];
    const [rutile, peaks] = rows;
    expect(rutile!.library_match).toMatchObject({ space_group: 136 });
    expect(rutile!.library_match!.correlation).toBeGreaterThan(0.65);
    expect(rutile!.answer).toEqual({ crystal_system: 'tetragonal', space_group: 136, source: 'library match' });
    // four Gaussians match none of halite, silicon or rutile: the network's answer stands
    expect(peaks!.library_match!.correlation).toBeLessThan(0.65);
    expect(peaks!.answer).toEqual({ crystal_system: peaks!.crystal_system!.label, space_group: null, source: 'network' });
  }, 120_000);

  it('refuses to answer with a model whose weights give non-finite probabilities', () => {
    mkdirSync(join(tmp, 'broken-model'), { recursive: true });
    writeFileSync(join(tmp, 'broken-model', 'config.json'), readFileSync(join(tmp, 'model', 'config.json')));
    const w = readFileSync(join(tmp, 'model', 'weights.safetensors'));
    const header = 8 + Number(w.readBigUInt64LE(0));
    w.fill(0xff, header); // every weight NaN
    writeFileSync(join(tmp, 'broken-model', 'weights.safetensors'), w);
    const r = xrd(['predict', '--model', 'broken-model', files[0]!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/non-finite probabilities \(NaN or infinity\): its weights are damaged/);
    expect(r.stdout).not.toMatch(/NaN/);
  }, 60_000);
});

describe('xrd eval', () => {
  it("reports n, top-k, per-class F1 and a confusion matrix that match predict's answers", () => {
    const p = xrd(['predict', '--model', 'model', 'labelled', '--json']);
    expect(p.code).toBe(0);
    const rows = JSON.parse(p.stdout) as Row[];
    const truth = ['cubic', 'tetragonal', 'monoclinic', 'hexagonal', 'cubic', 'orthorhombic'];
    const confusion = CRYSTAL_SYSTEMS.map(() => CRYSTAL_SYSTEMS.map(() => 0));
    rows.forEach((r, i) => confusion[CRYSTAL_SYSTEMS.indexOf(truth[i] as never)]![CRYSTAL_SYSTEMS.indexOf(r.crystal_system!.label as never)]!++);
    const correct = rows.filter((r, i) => r.crystal_system!.label === truth[i]).length;
    const top3 = rows.filter((r, i) => r.crystal_system!.top.slice(0, 3).some((t) => t.label === truth[i])).length;

    const e = xrd(['eval', '--model', 'model', 'labelled', '--json']);
    expect(e.code).toBe(0);
    const m = JSON.parse(e.stdout) as { n: number; top1: number; top3: number; top5: number; macro_f1: number; confusion: number[][]; per_class: { label: string; support: number; f1: number }[]; majority: { label: string; top1: number }; ece: number };
    expect(m.n).toBe(6);
    expect(m.confusion).toEqual(confusion);
    expect(m.top1).toBeCloseTo(correct / 6, 10);
    expect(m.top3).toBeCloseTo(top3 / 6, 10);
    expect(m.majority).toEqual({ label: 'cubic', top1: 2 / 6 });
    expect(m.per_class.find((c) => c.label === 'cubic')!.support).toBe(2);
    expect(m.ece).toBeGreaterThanOrEqual(0);
    expect(m.macro_f1).toBeGreaterThanOrEqual(0);

    // calibration stores a temperature; top-1 answers stay, a second fit finds the same one
    const c1 = xrd(['calibrate', '--model', 'model', 'labelled']);
    expect(c1.code).toBe(0);
    const t1 = /^temperature (\d+\.\d+) fitted on 6 patterns\nNLL \d+\.\d+ -> \d+\.\d+, expected calibration error/.exec(c1.stdout);
    expect(t1).not.toBeNull();
    const cfg = JSON.parse(readFileSync(join(tmp, 'model', 'config.json'), 'utf8')) as { temperature: number };
    expect(cfg.temperature).toBeCloseTo(Number(t1![1]), 2);
    const after = JSON.parse(xrd(['eval', '--model', 'model', 'labelled', '--json']).stdout) as { top1: number; confusion: number[][] };
    expect(after.confusion).toEqual(confusion);
    expect(xrd(['calibrate', '--model', 'model', 'labelled']).stdout.split('\n')[0]).toBe(c1.stdout.split('\n')[0]);

    // the HTML report: one file, plots inline, nothing fetched
    expect(xrd(['eval', '--model', 'model', 'labelled', '--report', 'report.html']).code).toBe(0);
    const html = readFileSync(join(tmp, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    for (const part of ['Confusion matrix', 'F1 per class', 'Reliability', 'Most confident mistakes']) expect(html).toContain(part);
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(3);
    expect(html).not.toMatch(/\b(src|href)=|<script|@import|url\(/);
    expect(html).toContain(`<td>${m.n}</td>`);

    const text = xrd(['eval', '--model', 'model', 'labelled']);
    expect(text.stdout).toMatch(/^n 6 {3}top-1 \d\.\d{3} {3}top-3/);
    expect(text.stdout).toMatch(/majority class \(cubic\) would score top-1 0.333/);
  }, 180_000);
});

describe('xrd eval --baseline nearest', () => {
  it('labels each pattern like its most correlated reference pattern, and leaves the pattern itself out', () => {
    mkdirSync(join(tmp, 'ref'));
    // copies of p1 (tetragonal) and p4 (cubic), the second deliberately labelled hexagonal
    const body = (f: string) => readFileSync(join(tmp, f), 'utf8').split('\n').slice(1).join('\n');
    writeFileSync(join(tmp, 'ref', 'a.xy'), `# crystal_system: tetragonal\n${body(files[1]!)}`);
    writeFileSync(join(tmp, 'ref', 'b.xy'), `# crystal_system: hexagonal\n${body(files[4]!)}`);
    const r = xrd(['eval', '--baseline', 'nearest', '--reference', 'ref', files[1]!, files[4]!, '--json']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as { n: number; top1: number; confusion: number[][]; top3?: number };
    expect(m.n).toBe(2);
    expect(m.top1).toBe(0.5);
    expect(m.confusion[CRYSTAL_SYSTEMS.indexOf('cubic')]![CRYSTAL_SYSTEMS.indexOf('hexagonal')]).toBe(1);
    expect(m.confusion[CRYSTAL_SYSTEMS.indexOf('tetragonal')]![CRYSTAL_SYSTEMS.indexOf('tetragonal')]).toBe(1);
    expect(m.top3).toBeUndefined();
    // leave-one-out on one directory: a pattern never finds itself
    const loo = JSON.parse(xrd(['eval', '--baseline', 'nearest', '--reference', 'ref', 'ref', '--json']).stdout) as { top1: number };
    expect(loo.top1).toBe(0); // each finds the other, whose label differs
    expect(xrd(['eval', '--baseline', 'nearest', 'ref']).stderr).toMatch(/needs --reference DIR/);
  }, 60_000);
});

describe('xrd explain', () => {
  it('writes an SVG with the supporting regions shaded and lists the peaks that carried the prediction', () => {
    const r = xrd(['explain', '--model', 'model', files[0]!, '-o', 'why.svg']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^labelled\/p0.xy: \w+ with probability \d+\.\d%; the peaks that carried it:\n\s+\d+\.\d\d deg {2}intensity \d\.\d\d {2}\d+\.\d% of the support/);
    // the four peaks of the file are the ones listed
    expect([...r.stdout.matchAll(/(\d+\.\d\d) deg/g)].map((m) => Number(m[1])).sort((a, b) => a - b)).toEqual([20, 35, 50, 61]);
    const svg = readFileSync(join(tmp, 'why.svg'), 'utf8');
    expect(svg).toContain('support for');
    expect(svg).toMatch(/<rect x="\d+" y="\d+" width="1" height="[\d.]+" fill-opacity="[\d.]+"\/>/);
    const bad = xrd(['explain', '--model', 'model', files[0]!, '-o', 'x.svg', '--class', 'rhombic']);
    expect(bad.stderr).toMatch(/--class 'rhombic' is not a class of this model/);
    expect(bad.code).toBe(2);
  }, 60_000);
});
