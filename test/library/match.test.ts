import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { readLibrary, type Library } from '../../src/library/library.ts';
import {
  DEFAULT_MATCH,
  GpuLibrary,
  identify,
  logGridFor,
  logProfiles,
  pearson,
  prepareProfile,
  renderSticks,
  screenCpu,
  shiftRange,
} from '../../src/library/match.ts';
import { entrySticks, librarySticks, type EntrySticks } from '../../src/library/peaks.ts';
import { libraryFromCifs, openLibraries } from '../../src/library/search.ts';
import { DEFAULT_GRID } from '../../src/sim/render.ts';
import { repoRoot, xrdIn } from '../helpers/cli.ts';

const grid = DEFAULT_GRID;
const DEG = Math.PI / 180;

/**
 * A measurement-like pattern from sticks: Gaussian peaks of FWHM 0.12 deg with intensities I
 * (not square roots), lattice scaled by `scale`, on a sloping background, with seeded noise.
 */
function measured(parts: { s: EntrySticks; scale: number; weight: number }[], seed = 1): Float32Array {
  const v = new Float32Array(grid.points);
  const sigma = 0.12 / 2.3548 / grid.step;
  for (const { s, scale, weight } of parts) {
    for (let k = 0; k < s.twoTheta.length; k++) {
      const sin = Math.sin((s.twoTheta[k]! / 2) * DEG) / scale;
      if (sin >= 1) continue;
      const x = ((2 * Math.asin(sin)) / DEG - grid.twoThetaMin) / grid.step;
      for (let i = Math.max(0, Math.floor(x - 5 * sigma)); i < Math.min(grid.points, x + 5 * sigma); i++) v[i]! += (weight * s.intensity[k]!) / 100 * Math.exp(-((i - x) ** 2) / (2 * sigma * sigma));
    }
  }
  let r = seed;
  for (let i = 0; i < grid.points; i++) {
    r = (r * 1103515245 + 12345) % 2147483648;
    v[i]! += 0.05 + 0.03 * (1 - i / grid.points) + 0.004 * (r / 2147483648);
  }
  return v;
}

/** A small library: the example CIFs (NaCl, Si, rutile) and a dozen AMCSD entries. */
function smallLibrary(): Library {
  const amcsd = readLibrary();
  const ids = new Set(['0000003', '0009161', '0000026', '0000100', '0001000', '0002000', '0003000', '0004000', '0005000', '0006000', '0007000', '0008000']);
  const part: Library = { source: 'part of AMCSD', settings: amcsd.settings, entries: amcsd.entries.filter((e) => ids.has(e.id)) };
  const cifs = libraryFromCifs(join(repoRoot, 'examples')).library;
  return { source: 'test', settings: [...part.settings, ...cifs.settings], entries: [...part.entries, ...cifs.entries.map((e) => ({ ...e, setting: e.setting + part.settings.length }))] };
}

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.destroy());

describe('search-match', () => {
  it('GPU screen equals the CPU reference and finds a scaled phase at its shift', async () => {
    const lib = smallLibrary();
    const sticks = lib.entries.map((_, i) => entrySticks(lib, i));
    const profiles = logProfiles(sticks, grid);
    const bins = logGridFor(grid, DEFAULT_MATCH.du).bins;
    const S = shiftRange(DEFAULT_MATCH);
    expect(S).toBe(15);
    const rutile = lib.entries.findIndex((e) => e.id.startsWith('TiO2-rutile'));
    const halite = lib.entries.findIndex((e) => e.id.startsWith('NaCl'));
    const queries = [
      prepareProfile('rutile x1.01', measured([{ s: sticks[rutile]!, scale: 1.01, weight: 1 }]), 0, grid.points),
      // measured over 20-70 deg only: coverage limits the comparison
      prepareProfile('halite x0.985 part', measured([{ s: sticks[halite]!, scale: 0.985, weight: 1 }], 2), 1500, 6500),
    ];
    const cpu = screenCpu(queries, profiles, bins, S);
    const gpu = new GpuLibrary(engine, profiles, bins, S);
    const got = await gpu.screen(queries);
    gpu.dispose();
    const n = lib.entries.length;
    for (let i = 0; i < cpu.best.length; i++) expect(got.best[i]!).toBeCloseTo(cpu.best[i]!, 3);
    // ties between shifts may break differently; the best shifts of the true phases must agree
    expect(got.shift[rutile]).toBe(cpu.shift[rutile]);
    expect(cpu.shift[rutile]).toBe(Math.round(Math.log(1.01) / DEFAULT_MATCH.du));
    expect(cpu.shift[n + halite]).toBe(Math.round(Math.log(0.985) / DEFAULT_MATCH.du));
  });

  it('identifies single phases and a two-phase mixture, with filters', async () => {
    const lib = smallLibrary();
    const sticks = lib.entries.map((_, i) => entrySticks(lib, i));
    const profiles = logProfiles(sticks, grid);
    const gpu = new GpuLibrary(engine, profiles, logGridFor(grid, DEFAULT_MATCH.du).bins, shiftRange(DEFAULT_MATCH));
    const si = lib.entries.findIndex((e) => e.id.startsWith('Si-diamond'));
    const rutile = lib.entries.findIndex((e) => e.id.startsWith('TiO2-rutile'));
    const q = [
      prepareProfile('si', measured([{ s: sticks[si]!, scale: 0.995, weight: 1 }]), 0, grid.points),
      prepareProfile('mix', measured([{ s: sticks[si]!, scale: 1, weight: 1 }, { s: sticks[rutile]!, scale: 1.005, weight: 0.6 }], 3), 0, grid.points),
    ];
    const [single, mix] = await identify(lib, sticks, profiles, gpu, q, { top: 3, maxPhases: 3 });
    expect(single!.matches[0]!.entry).toBe(si);
    expect(single!.matches[0]!.correlation).toBeGreaterThan(0.9);
    expect(single!.matches[0]!.scale).toBeCloseTo(0.995, 3);
    expect(single!.phases).toHaveLength(1); // nothing is left to explain
    // silicon, then a rutile (the example's, or AMCSD 0009161: the library holds both)
    expect(mix!.phases).toHaveLength(2);
    expect(mix!.phases[0]!.entry).toBe(si);
    expect(mix!.phases[1]!.spaceGroup).toBe(136);
    expect(new Set(lib.entries[mix!.phases[1]!.entry]!.sites.map((s) => s.element))).toEqual(new Set(['Ti', 'O']));
    expect(mix!.jointCorrelation).toBeGreaterThan(mix!.matches[0]!.correlation + 0.03);
    // A required element leaves only the entries that hold it.
    const [ti] = await identify(lib, sticks, profiles, gpu, [q[0]!], { top: 3, maxPhases: 1, filter: { require: ['Ti'] } });
    for (const m of ti!.matches) expect(lib.entries[m.entry]!.sites.some((s) => s.element === 'Ti')).toBe(true);
    const [noSi] = await identify(lib, sticks, profiles, gpu, [q[0]!], { top: 3, maxPhases: 1, filter: { exclude: ['Si'] } });
    expect(noSi!.matches.every((m) => m.entry !== si)).toBe(true);
    gpu.dispose();
    // The refined score is the Pearson correlation of the rendered entry with the measurement.
    const best = single!.matches[0]!;
    expect(best.correlation).toBeCloseTo(pearson(q[0]!.profile, renderSticks(sticks[si]!, best.scale, 0, grid.points, grid, DEFAULT_MATCH.libraryFwhm), 0, grid.points), 5);
  });

  it('caches the sticks of a library and reads them back unchanged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xrd-cache-'));
    const before = process.env.XRD_CACHE_DIR;
    process.env.XRD_CACHE_DIR = dir;
    try {
      const lib = libraryFromCifs(join(repoRoot, 'examples')).library;
      const first = librarySticks(lib);
      const second = librarySticks(lib);
      expect(first.cached).toBe(false);
      expect(second.cached).toBe(true);
      expect(second.sticks).toEqual(first.sticks);
      // a corrupt cache file is recomputed, not trusted
      writeFileSync(first.path, 'garbage');
      expect(librarySticks(lib).cached).toBe(false);
    } finally {
      if (before === undefined) delete process.env.XRD_CACHE_DIR;
      else process.env.XRD_CACHE_DIR = before;
    }
  });

  it('refuses a library that is not one', () => {
    expect(() => openLibraries(['no/such/thing'])).toThrow(/neither 'amcsd', a library file nor a folder of CIFs/);
    const dir = mkdtempSync(join(tmpdir(), 'xrd-lib-'));
    writeFileSync(join(dir, 'x.json.gz'), 'not gzip');
    expect(() => openLibraries([join(dir, 'x.json.gz')])).toThrow(/is not a structure library/);
  });
});

describe('xrd identify', () => {
  const cache = mkdtempSync(join(tmpdir(), 'xrd-identify-cache-'));
  const xrd = xrdIn(repoRoot, 300_000);
  it('names rutile in the example pattern against the AMCSD, lists a missing file and goes on', () => {
    const r = xrd(['identify', 'examples/TiO2-rutile-realistic.xy', 'no-such.xy', '--json', '--phases', '1'], { XRD_CACHE_DIR: cache });
    expect(r.code).toBe(1);
    const rows = JSON.parse(r.stdout) as { file: string; error?: string; matches?: { mineral: string; crystal_system: string; space_group: number; correlation: number; strong: boolean }[] }[];
    expect(rows.map((x) => x.file)).toEqual(['examples/TiO2-rutile-realistic.xy', 'no-such.xy']);
    const best = rows[0]!.matches![0]!;
    expect(best.mineral).toBe('Rutile');
    expect(best.space_group).toBe(136);
    expect(best.strong).toBe(true);
    expect(rows[1]!.error).toMatch(/does not exist/);
  });
  it('refuses bad element lists with a usage error', () => {
    const r = xrd(['identify', 'examples/TiO2-rutile-realistic.xy', '--elements', 'fe,O'], { XRD_CACHE_DIR: cache });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/'fe' is not an element symbol/);
    const both = xrd(['identify', 'examples/TiO2-rutile-realistic.xy', '--elements', 'Ti', '--exclude', 'Ti'], { XRD_CACHE_DIR: cache });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/both required/);
  });
});
