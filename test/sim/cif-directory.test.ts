// The one walk over a folder of CIFs: flat for simulate()'s directory source, recursive for
// training's --cif libraries (npcnn cifFilesUnder).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cifFilesUnder, TrainingDataError } from '../../src/npcnn/data.ts';
import { cifFilesIn } from '../../src/sim/cif-directory.ts';

const dir = mkdtempSync(join(tmpdir(), 'xrd-cif-dir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const f of ['a.cif', 'b/c.cif', 'b/d.txt', 'B.CIF', 'z/y/x.cif', 'c.xy']) {
  mkdirSync(join(dir, f, '..'), { recursive: true });
  writeFileSync(join(dir, f), '');
}

describe('cifFilesIn', () => {
  it('lists the CIFs of a folder by name, and with recursive those of its subfolders in place', () => {
    expect(cifFilesIn(dir).map((f) => f.slice(dir.length + 1))).toEqual(['B.CIF', 'a.cif']);
    expect(cifFilesIn(dir, true).map((f) => f.slice(dir.length + 1))).toEqual(['B.CIF', 'a.cif', 'b/c.cif', 'z/y/x.cif']);
    expect(cifFilesUnder(dir)).toEqual(cifFilesIn(dir, true));
  });

  it('says why a folder cannot be read', () => {
    expect(() => cifFilesIn(join(dir, 'a.cif'))).toThrow(/not a directory/);
    expect(() => cifFilesUnder(join(dir, 'missing'))).toThrow(TrainingDataError);
    expect(() => cifFilesUnder(join(dir, 'missing'))).toThrow(/cannot read the CIF directory .*missing/);
  });
});
