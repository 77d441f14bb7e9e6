// What every op shares: argument checks, the launch grid of a 1-D dispatch, the streaming launch
// of elementwise kernel families, and the output length of a sliding window (convolution, pooling).
import type { BindingValue, Engine } from '../engine.ts';
import { ShapeError, ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';

const WG = 256;

/**
 * A 1-D launch over `n` invocations (workgroup size 256) split over x and y so that no dimension
 * exceeds the device limit. Kernels compute their index as gid.y * row + gid.x.
 */
export function grid1d(engine: Engine, n: number, wg = WG): { workgroups: [number, number]; row: number } {
  const groups = Math.ceil(n / wg);
  const max = engine.info.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.max(1, Math.min(groups, max));
  const gy = Math.ceil(groups / gx);
  if (gy > max) throw new ShapeError(`${n} elements need more than ${max}x${max} workgroups of ${wg}; split the tensor`);
  return { workgroups: [groups === 0 ? 0 : gx, gy], row: gx * wg };
}

/** A shape as error messages write it: [2, 3, 4]. */
export function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

export function requireF32(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new ShapeError(`${op}: ${name} must be an f32 tensor, got ${t.dtype}`);
}

export function requireSameShape(op: string, nameA: string, a: Tensor, nameB: string, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: ${nameB} has shape ${shapeText(b.shape)} but ${nameA} has ${shapeText(a.shape)}; they must match`);
  }
}

export function requireFinite(op: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${op}: ${name} must be a finite number, got ${v}`);
}

/**
 * Elements per invocation for the streaming kernels of an op family (override PER): variant
 * 'blocked' (8, the default on software GPUs, whose per-invocation overhead dominates) or 'flat'
 * (1, coalesced loads: the default on real GPUs).
 */
export function elementsPerInvocation(engine: Engine, family: string): number {
  const v = engine.variant(family, { software: 'blocked', gpu: 'flat' });
  if (v === 'blocked') return 8;
  if (v === 'flat') return 1;
  throw new ValueError(`unknown ${family} kernel variant "${v}"; use "blocked" or "flat"`);
}

/** Dispatch of a streaming kernel over n elements with the family's PER (see elementsPerInvocation). */
export function launchStreaming(
  engine: Engine,
  family: string,
  entry: string,
  n: number,
  bindings: (row: number) => Record<string, BindingValue>,
): void {
  if (n === 0) return; // an empty tensor: nothing to compute
  const per = elementsPerInvocation(engine, family);
  const { workgroups, row } = grid1d(engine, Math.ceil(n / per));
  engine.dispatch(family, entry, { bindings: bindings(row), workgroups, overrides: { PER: per } });
}

/**
 * Output length of a sliding window over `length` points (PyTorch Conv1d / AvgPool1d, floor mode):
 * floor((length + 2 padding - dilation (kernel - 1) - 1) / stride) + 1. May be <= 0 when the input
 * is shorter than the window.
 */
export function windowOutputLength(length: number, kernel: number, stride: number, padding = 0, dilation = 1): number {
  return Math.floor((length + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}
