// Browser stand-in for node-gpu.ts (the browser build swaps it in): there is no Dawn and no
// kernels/ folder, so createEngine needs options.gpu (navigator.gpu) and options.kernelSource.
import { EngineError } from './errors.ts';

export type Backend = 'vulkan' | 'metal' | 'd3d12' | 'opengl';

function nodeOnly(): never {
  throw new EngineError('in a browser, createEngine needs options.gpu (navigator.gpu) and options.kernelSource (the WGSL sources); Dawn and kernels/ are Node-only');
}

export function nodeGpu(_backend: Backend): GPU {
  return nodeOnly();
}

export function defaultBackends(): Backend[] {
  return nodeOnly();
}

export function kernelDirectory(): string {
  return nodeOnly();
}

export function nodeKernelSource(_dir?: string): (name: string) => string {
  return nodeOnly();
}
