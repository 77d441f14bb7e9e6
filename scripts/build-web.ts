// `npm run build:web`: the browser page in dist-web/, served by `xrd serve`.
//
//   dist-web/index.html, style.css   the page (web/)
//   dist-web/main.js                 the page's script (web/main.ts), importing ./xrd-core.js
//   dist-web/xrd-core.js             the library's browser core (src/web/core.ts) as one ES module,
//                                    with the WGSL kernels (kernels/*.wgsl) built in
//   dist-web/moyo_wasm_bg.wasm       space-group tables and symmetry detection (@spglib/moyo-wasm)
//   dist-web/models/<name>/          config.json + weights.safetensors of each shipped model
//   dist-web/build.json              what went in: sizes, kernels, models
//
// No Node API may reach the core: in the browser build, Node's built-in modules (fs, path,
// node:*, ...) and Dawn's `webgpu` package resolve to stubs that tree-shaking must remove, and a
// module X.ts with a sibling X.browser.ts (Node-only code the page can reach, e.g. reading moyo's
// wasm from node_modules) is replaced by that sibling. The build fails, naming the importer, if
// any stub is left in the bundle or the bundle imports anything from outside.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The browser build cannot be made, or would carry Node code (the message says which and where from). */
export class WebBuildError extends Error {
  override name = 'WebBuildError';
}

const NODE_ONLY_NAMESPACE = 'node-only';
/** Bare imports that are Node's or Dawn's: every built-in module (with or without node:) and `webgpu`. */
const NODE_ONLY_IMPORT = new RegExp(`^(node:.*|webgpu(/.*)?|(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})(/.*)?)$`);

/** Node's built-ins and Dawn as stubs that must be tree-shaken away (checked after the build). */
const nodeOnlyStubs: esbuild.Plugin = {
  name: 'node-only-stubs',
  setup(build) {
    build.onResolve({ filter: NODE_ONLY_IMPORT }, (args) => ({ path: args.path, namespace: NODE_ONLY_NAMESPACE, sideEffects: false }));
    build.onLoad({ filter: /.*/, namespace: NODE_ONLY_NAMESPACE }, (args) => ({
      // CommonJS (it mentions `module`), so that any named import of it is kept as a property
      // access that the check below sees, rather than folded to undefined.
      contents: `throw new Error(${JSON.stringify(`${args.path} is Node-only and cannot run in a browser`)});\nmodule.exports = {};`,
      loader: 'js',
    }));
  },
};

/** X.ts -> X.browser.ts where that sibling exists (relative imports only). */
const browserSiblings: esbuild.Plugin = {
  name: 'browser-siblings',
  setup(build) {
    build.onResolve({ filter: /^\..*\.ts$/ }, (args) => {
      const path = resolve(args.resolveDir, args.path);
      if (path.endsWith('.browser.ts')) return undefined;
      const sibling = path.replace(/\.ts$/, '.browser.ts');
      return existsSync(sibling) ? { path: sibling } : undefined;
    });
  },
};

/** `import { kernelSources } from 'xrd:kernels'`: every kernels/*.wgsl by name. */
function kernelModule(dir: string): esbuild.Plugin {
  return {
    name: 'xrd-kernels',
    setup(build) {
      build.onResolve({ filter: /^xrd:kernels$/ }, () => ({ path: dir, namespace: 'xrd-kernels' }));
      build.onLoad({ filter: /.*/, namespace: 'xrd-kernels' }, () => {
        const sources: Record<string, string> = {};
        for (const f of readdirSync(dir).filter((n) => n.endsWith('.wgsl')).sort()) sources[f.replace(/\.wgsl$/, '')] = readFileSync(join(dir, f), 'utf8');
        if (Object.keys(sources).length === 0) throw new WebBuildError(`no .wgsl kernels in ${dir}`);
        return { contents: `export const kernelSources = ${JSON.stringify(sources)};`, loader: 'js', watchFiles: readdirSync(dir).map((f) => join(dir, f)) };
      });
    },
  };
}

/** The page's import of the core becomes an import of ./xrd-core.js (a separate file). */
const coreAsSibling: esbuild.Plugin = {
  name: 'core-as-sibling',
  setup(build) {
    build.onResolve({ filter: /\/src\/web\/core\.ts$/ }, () => ({ path: './xrd-core.js', external: true }));
  },
};

export interface NodeApiUse {
  /** The stubbed import left in the bundle, e.g. node:fs. */
  module: string;
  /** Bytes it kept in the output (0 would mean it was tree-shaken). */
  bytes: number;
  /** Source files that import it. */
  importers: string[];
}

/**
 * Node APIs left in one output of a metafile: stubs with bytes in the output, and any import of a
 * module outside the bundle other than `allowedExternal`.
 */
export function nodeApiUses(metafile: esbuild.Metafile, output: string, allowedExternal: string[] = []): NodeApiUse[] {
  const out = metafile.outputs[output];
  if (!out) throw new WebBuildError(`the metafile has no output ${output}`);
  const uses: NodeApiUse[] = [];
  for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
    if (!input.startsWith(`${NODE_ONLY_NAMESPACE}:`) || bytesInOutput === 0) continue;
    const module = input.slice(NODE_ONLY_NAMESPACE.length + 1);
    const importers = Object.entries(metafile.inputs)
      .filter(([, v]) => v.imports.some((i) => i.path === input))
      .map(([k]) => k);
    uses.push({ module, bytes: bytesInOutput, importers });
  }
  for (const imp of out.imports) {
    if (!allowedExternal.includes(imp.path)) uses.push({ module: imp.path, bytes: 0, importers: [`(${imp.kind} left outside the bundle)`] });
  }
  return uses;
}

/**
 * Bundles `entry` for browsers as one ES module at `outfile` (Node built-ins as stubs, .browser.ts
 * siblings, the kernels as 'xrd:kernels') and checks that no Node API is left in it; throws
 * WebBuildError naming each one and its importers.
 */
export async function browserBundle(o: { root: string; entry: string; outfile: string; minify?: boolean }): Promise<esbuild.Metafile> {
  const result = await esbuild.build({
    absWorkingDir: o.root,
    entryPoints: [o.entry],
    outfile: o.outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: o.minify ?? true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'silent',
    plugins: [nodeOnlyStubs, browserSiblings, kernelModule(join(o.root, 'kernels'))],
  });
  const output = Object.keys(result.metafile.outputs).find((k) => k.endsWith('.js'))!;
  const uses = nodeApiUses(result.metafile, output);
  if (uses.length > 0) {
    throw new WebBuildError(
      `Node APIs reached the browser bundle of ${o.entry}: ${uses.map((u) => `${u.module} (${u.bytes} bytes, imported by ${u.importers.join(', ')})`).join('; ')}. ` +
        'Keep file and Dawn access in functions the page does not call, or give the module a .browser.ts sibling',
    );
  }
  return result.metafile;
}

export interface WebBuild {
  outDir: string;
  ms: number;
  /** Bytes of dist-web/xrd-core.js and main.js. */
  coreBytes: number;
  mainBytes: number;
  kernels: string[];
  models: string[];
  /** Source files bundled into the core. */
  coreInputs: string[];
  metafile: esbuild.Metafile;
}

function copyModels(from: string, to: string): string[] {
  if (!existsSync(from)) return [];
  const names: string[] = [];
  for (const name of readdirSync(from).sort()) {
    const dir = join(from, name);
    if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'weights.safetensors'))) continue;
    mkdirSync(join(to, name), { recursive: true });
    for (const f of ['config.json', 'weights.safetensors']) copyFileSync(join(dir, f), join(to, name, f));
    names.push(name);
  }
  return names;
}

/**
 * Builds the page into `outDir` (default dist-web/ in the repository): into a staging folder
 * first, renamed into place when complete and checked, so a failed build leaves the old one.
 */
export async function buildWeb(o: { outDir?: string; root?: string; minify?: boolean } = {}): Promise<WebBuild> {
  const t0 = performance.now();
  const root = o.root ?? ROOT;
  const outDir = resolve(o.outDir ?? join(root, 'dist-web'));
  const staging = `${outDir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const kernelDir = join(root, 'kernels');
    const coreMeta = await browserBundle({ root, entry: join(root, 'src/web/core.ts'), outfile: join(staging, 'xrd-core.js'), minify: o.minify });
    const coreOut = Object.keys(coreMeta.outputs).find((k) => k.endsWith('xrd-core.js'))!;
    const page = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [join(root, 'web/main.ts')],
      outfile: join(staging, 'main.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: o.minify ?? true,
      metafile: true,
      logLevel: 'silent',
      plugins: [coreAsSibling, nodeOnlyStubs],
    });
    const pageOut = Object.keys(page.metafile.outputs).find((k) => k.endsWith('main.js'))!;
    const pageUses = nodeApiUses(page.metafile, pageOut, ['./xrd-core.js']);
    if (pageUses.length > 0) throw new WebBuildError(`the page script (web/main.ts) imports ${pageUses.map((u) => u.module).join(', ')}; it may only import the core`);
    for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(staging, f));
    const wasm = createRequire(join(root, 'package.json')).resolve('@spglib/moyo-wasm/moyo_wasm_bg.wasm');
    copyFileSync(wasm, join(staging, 'moyo_wasm_bg.wasm'));
    const models = copyModels(join(root, 'models'), join(staging, 'models'));
    const kernels = readdirSync(kernelDir).filter((n) => n.endsWith('.wgsl')).map((n) => n.replace(/\.wgsl$/, '')).sort();
    const coreInputs = Object.entries(coreMeta.outputs[coreOut]!.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([k]) => k);
    const result: WebBuild = {
      outDir,
      ms: 0,
      coreBytes: statSync(join(staging, 'xrd-core.js')).size,
      mainBytes: statSync(join(staging, 'main.js')).size,
      kernels,
      models,
      coreInputs,
      metafile: coreMeta,
    };
    writeFileSync(
      join(staging, 'build.json'),
      `${JSON.stringify({ coreBytes: result.coreBytes, mainBytes: result.mainBytes, kernels, models, coreInputs, nodeApis: [] }, null, 2)}\n`,
    );
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
    result.ms = performance.now() - t0;
    return result;
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    const b = await buildWeb();
    const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
    console.log(
      `built ${b.outDir} in ${(b.ms / 1000).toFixed(1)} s: xrd-core.js ${kb(b.coreBytes)} (${b.coreInputs.length} modules, ${b.kernels.length} kernels, no Node API), ` +
        `main.js ${kb(b.mainBytes)}, models ${b.models.join(', ') || 'none'}; serve it with: npx xrd serve`,
    );
  } catch (e) {
    const err = e as Error & { errors?: esbuild.Message[] };
    const detail = err.errors?.map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`).join('\n') ?? '';
    console.error(`build:web: ${err.message}${detail && !err.message.includes(detail) ? `\n${detail}` : ''}`);
    process.exitCode = 1;
  }
}
