// The package as a user installs it: `npm pack` (which builds dist/ with tsc), installed into a
// fresh Node project that has no TypeScript loader, imported by its name, and its `xrd` command.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'xrd-package-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('the packed package', () => {
  it('installs into a plain Node project, imports by name with types, predicts, and runs xrd', () => {
    execFileSync(npm, ['pack', '--pack-destination', tmp], { cwd: root, stdio: 'pipe' });
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
    expect(tarball).toMatch(/^xrd-npcnn-\d+\.\d+\.\d+\.tgz$/);
    // What ships: only the package's declared folders; no test code and no test reference.
    const packed = execFileSync('tar', ['-tzf', join(tmp, tarball)], { encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.length > 0)
      .map((f) => f.replace(/^package\//, ''));
    expect(packed).toContain('dist/index.js');
    expect(packed).toContain('dist/engine/ops/dropout.js');
    const shipped = new Set(['dist', 'kernels', 'bin', 'models', 'data', 'README.md', 'package.json', 'LICENSE']);
    expect(packed.filter((f) => !shipped.has(f.split('/')[0]!))).toEqual([]);
    expect(packed.filter((f) => /(^|\/)(test|reference)(\/|$)|reference-render|\.test\./.test(f))).toEqual([]);
    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
    execFileSync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(tmp, tarball)], { cwd: app, stdio: 'pipe' });
    const installed = join(app, 'node_modules', 'xrd-npcnn');
    const files = readdirSync(installed);
    expect(files).toContain('dist');
    expect(files).toContain('kernels');
    expect(files).not.toContain('src');
    expect(readdirSync(join(installed, 'dist'))).toContain('index.d.ts');
    writeFileSync(
      join(app, 'main.mjs'),
      [
        "import { createEngine, createModel, modelConfig, predictRows, readPatternFile } from 'xrd-npcnn';",
        'const engine = await createEngine();',
        "const model = createModel(engine, modelConfig({ architecture: 'compact', task: 'crystal-system', seed: 1 }));",
        'const rows = new Float32Array(8500); rows[2000] = 1;',
        'const p = await predictRows(engine, model, rows, 1);',
        'console.log(JSON.stringify({ classes: model.classes, sum: p.reduce((a, b) => a + b, 0), reader: typeof readPatternFile }));',
        'model.dispose(); engine.destroy();',
      ].join('\n'),
    );
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { classes: string[]; sum: number; reader: string };
    expect(out.classes).toEqual(['triclinic', 'monoclinic', 'orthorhombic', 'tetragonal', 'trigonal', 'hexagonal', 'cubic']);
    expect(out.sum).toBeCloseTo(1, 5);
    expect(out.reader).toBe('function');
    const xrd = join(app, 'node_modules', '.bin', 'xrd');
    expect(execFileSync(xrd, ['--version'], { cwd: app, encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(execFileSync(xrd, ['predict', '--help'], { cwd: app, encoding: 'utf8' })).toMatch(/^xrd predict: classify pattern files/);
  }, 240_000);
});
