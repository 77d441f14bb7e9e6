// The browser page end to end in headless Chromium (puppeteer-core, the system's chromium): built
// by the build script, served by `xrd serve`, fed the rutile pattern and the halite CIF through
// its file input, read back through the DevTools protocol (window.__xrd), and compared with
// `xrd predict --json` and `xrd simulate --preset clean` on the same files. Bad input gives a
// message in the page; no page ever logs an error or throws.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserBundle, buildWeb, nodeApiUses, WebBuildError, type WebBuild } from '../../scripts/build-web.ts';
import { launchChromium } from '../../scripts/chromium.ts';
import { startWebServer } from '../../src/web/server.ts';
import { DAWN_NOISE, repoRoot, XRD_BIN } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'xrd-web-'));
const RUTILE = join(repoRoot, 'examples/TiO2-rutile-realistic.xy');
const HALITE = join(repoRoot, 'examples/NaCl-halite.cif');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `xrd ARGS` as a child process (not awaited at once, so the CLI references run beside the browser). */
function xrd(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [XRD_BIN, ...args], { cwd: repoRoot, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr: stderr.replace(DAWN_NOISE, '') })));
  return { child, done };
}

interface Ranked {
  label: string;
  probability: number;
}
type HookResult =
  | { kind: 'pattern'; file: string; crystalSystem: Ranked[]; spaceGroup: Ranked[]; ms: number }
  | { kind: 'structure'; name: string; spaceGroup: number | null; preset: string; intensity: number[]; ms: number }
  | { kind: 'error'; file: string; message: string };
interface Hook {
  state: string;
  message: string;
  pending: number;
  loadMs: number;
  results: HookResult[];
}
declare const window: { __xrd: Hook };
// Page-side code in page.evaluate (the test's own types have no DOM).
declare const document: { querySelector(s: string): { textContent: string | null } | null; querySelectorAll(s: string): { length: number } };
declare const Navigator: { prototype: object };

let build: WebBuild;
let serve: ReturnType<typeof xrd>;
let url: string;
let browser: Browser;
let predictRef: Promise<Run>;
let simulateRef: Promise<Run>;
/** Console errors and uncaught exceptions of every page, with the page's name. */
const problems: string[] = [];

async function openPage(name: string, path = '', allow: RegExp | null = null, before?: (p: Page) => Promise<unknown>): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && !(allow && allow.test(m.text()))) problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: uncaught: ${e instanceof Error ? e.message : String(e)}`));
  if (before) await before(page);
  await page.goto(url + path);
  await page.waitForFunction(() => window.__xrd && window.__xrd.state !== 'loading', { timeout: 60_000 });
  return page;
}

/** Gives the page files through its file input and waits until it has handled all of them. */
async function give(page: Page, files: string[]): Promise<HookResult[]> {
  const before = await page.evaluate(() => window.__xrd.results.length);
  const input = await page.$('#files');
  await input!.uploadFile(...files);
  await page.waitForFunction((n: number) => window.__xrd.results.length >= n && window.__xrd.pending === 0, { timeout: 90_000 }, before + files.length);
  return page.evaluate((n: number) => window.__xrd.results.slice(n), before);
}

let page: Page;

beforeAll(async () => {
  // The CLI's answers, computed beside the browser.
  predictRef = xrd(['predict', '--json', RUTILE]).done;
  simulateRef = xrd(['simulate', HALITE, '-o', join(tmp, 'sim'), '--preset', 'clean']).done;
  build = await buildWeb();
  serve = xrd(['serve', '--port', '0']);
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    serve.child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void serve.done.then((r) => reject(new Error(`xrd serve exited (${r.code}): ${r.stderr}`)));
  });
  browser = await launchChromium();
  page = await openPage('main');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (serve && serve.child.exitCode === null) serve.child.kill('SIGINT');
  rmSync(tmp, { recursive: true, force: true });
});

describe('the browser build', () => {
  it('bundles the core without any Node API, with every kernel built in', () => {
    const out = Object.keys(build.metafile.outputs).find((k) => k.endsWith('xrd-core.js'))!;
    expect(nodeApiUses(build.metafile, out)).toEqual([]);
    const inputs = build.coreInputs.join('\n');
    for (const nodeOnly of ['src/engine/node-gpu.ts', 'src/sim/moyo-file.ts', 'src/sim/cif-directory.ts', 'src/io/patterns.ts', 'node_modules/webgpu']) expect(inputs).not.toContain(nodeOnly);
    expect(inputs).toContain('src/engine/node-gpu.browser.ts');
    const core = readFileSync(join(build.outDir, 'xrd-core.js'), 'utf8');
    expect(build.kernels).toEqual(expect.arrayContaining(['conv1d', 'dense', 'softmax_xent']));
    for (const k of build.kernels) expect(core).toContain(JSON.stringify(readFileSync(join(repoRoot, 'kernels', `${k}.wgsl`), 'utf8').slice(0, 60)).slice(1, -1));
    expect(build.models).toEqual(['crystal-system', 'space-group']);
    console.log(`build ${build.ms.toFixed(0)} ms, xrd-core.js ${(build.coreBytes / 1024).toFixed(0)} KiB`);
  });

  it('fails when a Node API would reach the bundle, naming the module and its importer', async () => {
    const entry = join(tmp, 'uses-fs.ts');
    writeFileSync(entry, `import { readPatternFile } from ${JSON.stringify(join(repoRoot, 'src/io/patterns.ts'))};\nexport const read = readPatternFile;\n`);
    const attempt = browserBundle({ root: repoRoot, entry, outfile: join(tmp, 'uses-fs.js') });
    await expect(attempt).rejects.toThrow(WebBuildError);
    await expect(attempt).rejects.toThrow(/node:fs \(\d+ bytes, imported by src\/io\/patterns\.ts/);
  });
});

describe('xrd serve', () => {
  function get(path: string): Promise<{ status: number; type: string }> {
    return new Promise((resolve, reject) => {
      request(url + path.replace(/^\//, ''), { method: 'HEAD' }, (res) => resolve({ status: res.statusCode!, type: String(res.headers['content-type']) }))
        .on('error', reject)
        .end();
    });
  }

  it('serves the page, its modules, moyo and the models with the right MIME types, nothing outside', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(await get('/')).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
    expect((await get('/main.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get('/xrd-core.js')).type).toBe('text/javascript; charset=utf-8');
    expect(await get('/moyo_wasm_bg.wasm')).toEqual({ status: 200, type: 'application/wasm' });
    expect((await get('/models/space-group/weights.safetensors')).status).toBe(200);
    expect((await get('/%2e%2e/package.json')).status).toBe(404);
  });

  it('says when the port is taken or the page is not built', async () => {
    const port = new URL(url).port;
    const again = await xrd(['serve', '--port', port]).done;
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`port ${port} on 127.0.0.1 is taken`);
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    await expect(startWebServer({ root: empty, port: 0 })).rejects.toThrow(/run npm run build:web/);
  });
});

describe('the page', () => {
  it('loads the models and reports the GPU', async () => {
    const hook = await page.evaluate(() => window.__xrd);
    expect(hook.state, hook.message).toBe('ready');
    expect(hook.message).toMatch(/crystal-system model \(7 classes\) and space-group model \(230 classes\)/);
    console.log(`page ready in ${hook.loadMs.toFixed(0)} ms: ${hook.message}`);
  });

  it('classifies the rutile pattern with the numbers of xrd predict --json', async () => {
    const [r] = await give(page, [RUTILE]);
    const ref = await predictRef;
    expect(ref.code, ref.stderr).toBe(0);
    const [cli] = JSON.parse(ref.stdout) as { crystal_system: { top: Ranked[] }; space_group: { top: Ranked[] } }[];
    expect(r!.kind).toBe('pattern');
    if (r!.kind !== 'pattern') return;
    for (const [mine, theirs] of [
      [r.crystalSystem, cli!.crystal_system.top],
      [r.spaceGroup, cli!.space_group.top],
    ] as const) {
      expect(mine.map((c) => c.label)).toEqual(theirs.map((c) => c.label));
      mine.forEach((c, i) => expect(Math.abs(c.probability - theirs[i]!.probability)).toBeLessThan(1e-3));
    }
    expect(r.crystalSystem[0]!.label).toBe('tetragonal');
    // the table row, the plot and the attribution shading are in the page
    const dom = await page.evaluate(() => ({
      row: document.querySelector('#patterns tbody tr')?.textContent ?? '',
      shaded: document.querySelectorAll('#pattern-plot svg rect[fill-opacity]').length,
    }));
    // the row shows the CLI's top crystal system with its percentage
    const top = cli!.crystal_system.top[0]!;
    expect(dom.row).toContain(`${top.label} ${(top.probability * 100).toFixed(1)}%`);
    expect(dom.shaded).toBeGreaterThan(10);
    console.log(`classified in the page in ${r.ms.toFixed(0)} ms (both models and the attribution)`);
  });

  it('simulates the halite CIF with the pattern of xrd simulate --preset clean, from a file and pasted', async () => {
    await page.select('#preset', 'clean');
    const [fromFile] = await give(page, [HALITE]);
    await page.$eval('#cif-text', (el, text) => ((el as unknown as { value: string }).value = text), readFileSync(HALITE, 'utf8'));
    const before = await page.evaluate(() => window.__xrd.results.length);
    await page.click('#simulate-cif');
    await page.waitForFunction((n: number) => window.__xrd.results.length > n && window.__xrd.pending === 0, { timeout: 60_000 }, before);
    const pasted = (await page.evaluate((n: number) => window.__xrd.results[n], before))!;
    const ref = await simulateRef;
    expect(ref.code, ref.stderr).toBe(0);
    const xy = readFileSync(join(tmp, 'sim', 'NaCl-halite.xy'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => Number(l.split(' ')[1]));
    for (const r of [fromFile!, pasted]) {
      expect(r.kind).toBe('structure');
      if (r.kind !== 'structure') return;
      expect(r.spaceGroup).toBe(225);
      expect(r.preset).toBe('clean');
      expect(r.intensity).toHaveLength(xy.length);
      let worst = 0;
      r.intensity.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - xy[i]!))));
      expect(worst).toBeLessThan(1e-4);
    }
    expect(await page.$$eval('#structure-plot svg text', (t) => t.map((x) => x.textContent).join(' '))).toContain('(200)');
  });

  it('says what is wrong with a binary file, NaN values and a CIF that does not parse', async () => {
    const binary = join(tmp, 'detector.xy');
    writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
    const nan = join(tmp, 'nan.xy');
    writeFileSync(nan, Array.from({ length: 200 }, (_, i) => `${(10 + 0.1 * i).toFixed(2)} ${i === 50 ? 'NaN' : 100 + i}`).join('\n'));
    const cif = join(tmp, 'broken.cif');
    writeFileSync(cif, 'data_x\n_cell_length_a abc\n');
    const results = await give(page, [binary, nan, cif]);
    const messages = Object.fromEntries(results.map((r) => [r.kind === 'error' ? r.file : 'ok', r.kind === 'error' ? r.message : '']));
    expect(messages['detector.xy']).toMatch(/binary file, not a text pattern/);
    expect(messages['nan.xy']).toMatch(/nan\.xy:51: intensity 'NaN' is not a finite number/);
    expect(messages['broken.cif']).toMatch(/broken\.cif:2: _cell_length_a: 'abc' is not a number/);
    const shown = await page.$$eval('#messages .error', (els) => els.map((e) => e.textContent ?? ''));
    expect(shown).toContain(`detector.xy is a binary file, not a text pattern (two columns: 2-theta, intensity)`);
    expect(shown).toContain("broken.cif:2: _cell_length_a: 'abc' is not a number");
    expect(await page.evaluate(() => window.__xrd.state)).toBe('ready');
  });

  it('says so when the browser has no WebGPU', async () => {
    const p = await openPage('no-webgpu', '', null, (pg) => pg.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined })));
    const hook = await p.evaluate(() => window.__xrd);
    expect(hook.state).toBe('error');
    expect(hook.message).toMatch(/This browser offers no WebGPU/);
    expect(await p.$eval('#status', (e) => e.textContent)).toBe(hook.message);
    await p.close();
  });

  it('says so when a model cannot be loaded', async () => {
    // The browser itself logs the 404 of the missing file; nothing else may be logged.
    const p = await openPage('missing-model', '?models=models/none', /Failed to load resource.*404/);
    const hook = await p.evaluate(() => window.__xrd);
    expect(hook.state).toBe('error');
    expect(hook.message).toMatch(/^The models could not be loaded: cannot fetch the model (configuration|weights) models\/none\/.* HTTP 404/);
    await p.close();
  });

  it('logged no error and threw no uncaught exception on any page', () => {
    expect(problems).toEqual([]);
  });
});

describe('xrd serve stops', () => {
  it('exits 130 on Ctrl-C', async () => {
    serve.child.kill('SIGINT');
    const r = await serve.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('stopped (SIGINT)');
  });
});
