// The only engine module that touches Node: it loads Dawn (dawn.node from the `webgpu` package)
// and reads WGSL files from kernels/. A browser build supplies navigator.gpu and the sources itself.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from './errors.ts';

export type Backend = 'vulkan' | 'metal' | 'd3d12' | 'opengl';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: DawnModule | null = null;
let globalsInstalled = false;

function loadDawn(): DawnModule {
  if (dawn) return dawn;
  // Mesa prints errors when XDG_RUNTIME_DIR is unset; the OpenGL backend needs a surfaceless EGL
  // platform. Both must be set before dawn.node loads the drivers.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'xrd-xdg-'));
  if (!process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
  const require = createRequire(import.meta.url);
  // A portable bundle (scripts/portable-bundle.sh) ships dawn.node alone and names it here.
  const direct = process.env.XRD_DAWN_NODE;
  dawn = (direct ? require(resolve(direct)) : require('webgpu')) as DawnModule;
  return dawn;
}

/** A GPU entry point for one backend through Dawn. */
export function nodeGpu(backend: Backend): GPU {
  const mod = loadDawn();
  if (!globalsInstalled) {
    // Dawn's GPUBufferUsage etc. constants; harmless when a runtime already defines them.
    for (const [k, v] of Object.entries(mod.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    globalsInstalled = true;
  }
  return mod.create([`backend=${backend}`]);
}

export function defaultBackends(): Backend[] {
  switch (process.platform) {
    case 'darwin':
      return ['metal'];
    case 'win32':
      return ['d3d12', 'vulkan'];
    default:
      return ['vulkan', 'opengl'];
  }
}

/** Directory holding the WGSL sources (kernels/ at the repository or package root). */
export function kernelDirectory(): string {
  const override = process.env.XRD_KERNEL_DIR;
  if (override) return resolve(override);
  // src/engine/node-gpu.ts -> ../../kernels; a bundled build sets XRD_KERNEL_DIR or ships kernels/
  // beside the bundle.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', '..', 'kernels'), join(here, 'kernels')]) {
    if (existsSync(candidate)) return candidate;
  }
  return join(here, '..', '..', 'kernels');
}

/** Reads `kernels/<name>.wgsl`. */
export function nodeKernelSource(dir = kernelDirectory()): (name: string) => string {
  return (name: string) => {
    const file = join(dir, `${name}.wgsl`);
    if (!existsSync(file)) {
      throw new KernelError(`kernel file not found: ${file} (kernel "${name}"); is the kernels/ directory complete?`);
    }
    return readFileSync(file, 'utf8');
  };
}
