// conv1d: 1-D convolution with PyTorch Conv1d semantics (cross-correlation, symmetric zero
// padding, stride, dilation) and its three gradients. Layouts: x [N, Cin, L], w [Cout, Cin, K],
// b [Cout], y [N, Cout, Lout]. Kernels in kernels/conv1d.wgsl; variant 'regblock' (software GPUs,
// default on lavapipe) or 'tiled' (shared-memory implicit GEMM, default on real GPUs), chosen by
// engine.variant('conv1d', ...). Outputs are new tensors; nothing reads back.
import type { Engine, UniformValues } from '../engine.ts';
import { ShapeError, ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { grid1d, requireF32, shapeText, windowOutputLength } from './common.ts';

export interface Conv1dParams {
  /** Step between output positions (default 1). */
  stride?: number;
  /** Zeros added on both sides of the input (default 0). */
  padding?: number;
  /** Spacing between kernel taps (default 1). */
  dilation?: number;
}

export const CONV1D_VARIANTS = ['regblock', 'tiled'] as const;
export type Conv1dVariant = (typeof CONV1D_VARIANTS)[number];

const KERNEL = 'conv1d';
const WG = 64; // helper kernels (packing, reductions)
const RB_WG = 8; // regblock forward/dx/dW invocations per workgroup (one lavapipe SIMD group)
const POS_PER_INVOCATION = 16; // regblock: output positions per invocation (BP in the WGSL)
const TAPS_PER_INVOCATION = 10; // regblock dW: taps per invocation (KB in the WGSL)
const TILE = 32; // tiled: output tile edge (TM/TN in the WGSL)
const TAPS_PER_STEP = 5; // regblock: taps summed per unrolled step (U in the WGSL)

interface Resolved {
  stride: number;
  padding: number;
  dilation: number;
}

function resolve(op: string, params: Conv1dParams | undefined): Resolved {
  const r = { stride: params?.stride ?? 1, padding: params?.padding ?? 0, dilation: params?.dilation ?? 1 };
  for (const [name, v, min] of [
    ['stride', r.stride, 1],
    ['padding', r.padding, 0],
    ['dilation', r.dilation, 1],
  ] as const) {
    if (!Number.isInteger(v) || v < min) throw new ValueError(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  }
  return r;
}

/** Lout = floor((L + 2*padding - dilation*(K-1) - 1) / stride) + 1 (may be <= 0 for too-short inputs). */
export function conv1dOutputLength(inputLength: number, kernelSize: number, params: Conv1dParams = {}): number {
  const { stride, padding, dilation } = resolve('conv1dOutputLength', params);
  return windowOutputLength(inputLength, kernelSize, stride, padding, dilation);
}

function requireRank3(op: string, name: string, t: Tensor, layout: string): void {
  requireF32(op, name, t);
  if (t.shape.length !== 3 || t.shape.some((d) => d < 1)) {
    throw new ShapeError(`${op}: ${name} must have shape ${layout} with every dimension >= 1, got ${shapeText(t.shape)}`);
  }
}

function requireOutput(op: string, l: number, k: number, r: Resolved): number {
  const lout = windowOutputLength(l, k, r.stride, r.padding, r.dilation);
  if (lout < 1) {
    throw new ShapeError(
      `${op}: input length ${l} is too short for kernel size ${k} (dilation ${r.dilation}, padding ${r.padding}); ` +
        `it needs at least ${r.dilation * (k - 1) + 1 - 2 * r.padding} positions`,
    );
  }
  return lout;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

interface Dims {
  n: number;
  cin: number;
  lin: number;
  cout: number;
  k: number;
  lout: number;
}

/** The uniform `p` shared by all conv1d entry points; callers override the per-dispatch fields. */
function uniforms(d: Dims, r: Resolved, extra: Partial<Record<string, number>> = {}): UniformValues {
  return {
    n: d.n,
    cin: d.cin,
    lin: d.lin,
    cout: d.cout,
    k: d.k,
    lout: d.lout,
    stride: r.stride,
    pad: r.padding,
    dil: r.dilation,
    has_bias: 0,
    cpad: 0,
    chunks: 1,
    chunk_len: 0,
    // taps that read positions one stride apart are q = stride/gcd(stride, dilation) apart; the
    // register window slides by one position per such step when the dilation divides the stride
    q: r.stride / gcd(r.stride, r.dilation),
    slide: r.stride % r.dilation === 0 ? 1 : 0,
    gx: 0,
    m: 0,
    mpad: 0,
    ...(extra as Record<string, number>),
  };
}

/** The conv1d kernel variant this engine uses (its default per device, or the override). */
export function conv1dVariant(engine: Engine): Conv1dVariant {
  const v = engine.variant(KERNEL, { software: 'regblock', gpu: 'tiled' });
  if (!(CONV1D_VARIANTS as readonly string[]).includes(v)) {
    throw new ValueError(`conv1d: unknown kernel variant "${v}"; use one of ${CONV1D_VARIANTS.join(', ')}`);
  }
  return v as Conv1dVariant;
}

/** A 1-D range of workgroups spread over x and z rows of gx (x is limited per dimension). */
function rows(engine: Engine, groups: number): { gx: number; gz: number } {
  const max = engine.info.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.max(1, Math.min(groups, max));
  const gz = Math.ceil(groups / gx);
  if (gz > max) throw new ShapeError(`conv1d: ${groups} workgroups exceed the ${max}x${max} grid; use a smaller batch`);
  return { gx, gz };
}

/** Tiles of TILE columns spread over x and z rows of gx. */
function columnGrid(engine: Engine, cols: number): { gx: number; gz: number } {
  return rows(engine, Math.ceil(cols / TILE));
}

/**
 * Packs w for the regblock kernels as [rows, q, mpad, cpad]: taps r + m*q of each residue r, zero
 * padded to mpad (a multiple of the unrolled step) and to cpad channels, the padded channel axis
 * last so 8 channels are two aligned vec4 loads.
 */
function packWeight(engine: Engine, entry: string, w: Tensor, d: Dims, r: Resolved, rows: number, cpad: number, q: number): { wp: Tensor; mpad: number } {
  const mpad = Math.ceil(Math.ceil(d.k / q) / TAPS_PER_STEP) * TAPS_PER_STEP;
  const total = rows * q * mpad * cpad;
  const wp = engine.empty([total]);
  const { workgroups, row } = grid1d(engine, total, WG);
  engine.dispatch(KERNEL, entry, { bindings: { p: uniforms(d, r, { cpad, gx: row, q, mpad }), w, wpack: wp }, workgroups });
  return { wp, mpad };
}

/**
 * Sums the [chunks, m] partials into a new tensor of `shape` (m elements). Splitting a long
 * reduction into chunks spreads it over workgroups instead of serial loops.
 */
function reducePartials(engine: Engine, parts: Tensor, chunks: number, shape: number[], d: Dims, r: Resolved): Tensor<'f32'> {
  const m = shape.reduce((a, b) => a * b, 1);
  const out = engine.empty(shape);
  const { workgroups, row } = grid1d(engine, m, WG);
  engine.dispatch(KERNEL, 'reduce_partials', { bindings: { p: uniforms(d, r, { chunks, m, gx: row }), parts, out }, workgroups });
  return out;
}

/**
 * How many chunks to split a reduction of `length` terms into, so that about `target` workgroups
 * run when `base` workgroups exist per chunk, with chunks of at least `minLen` terms and partials
 * of `m` floats that fit one storage binding.
 */
function chunking(engine: Engine, length: number, base: number, m: number, target = 64, minLen = 256): { chunks: number; chunkLen: number } {
  const maxByBinding = Math.floor(engine.info.limits.maxStorageBufferBindingSize / (4 * m));
  const max = Math.min(Math.ceil(length / minLen), maxByBinding, engine.info.limits.maxComputeWorkgroupsPerDimension);
  const chunks = Math.max(1, Math.min(Math.ceil(target / base), max));
  const chunkLen = Math.ceil(length / chunks);
  return { chunks: Math.ceil(length / chunkLen), chunkLen };
}

/**
 * Forward: y[n, co, t] = b[co] + sum_ci sum_k w[co, ci, k] * x[n, ci, t*stride + k*dilation - padding].
 * x [N, Cin, L], w [Cout, Cin, K], b [Cout] or null -> y [N, Cout, Lout].
 */
export function conv1d(engine: Engine, x: Tensor, w: Tensor, b: Tensor | null | undefined, params: Conv1dParams = {}): Tensor<'f32'> {
  const op = 'conv1d';
  const r = resolve(op, params);
  requireRank3(op, 'x', x, '[N, Cin, L]');
  requireRank3(op, 'w', w, '[Cout, Cin, K]');
  const [n, cin, lin] = x.shape as [number, number, number];
  const [cout, wcin, k] = w.shape as [number, number, number];
  if (wcin !== cin) throw new ShapeError(`${op}: w has ${wcin} input channels (shape ${shapeText(w.shape)}) but x has ${cin} (shape ${shapeText(x.shape)})`);
  if (b) {
    requireF32(op, 'b', b);
    if (b.shape.length !== 1 || b.shape[0] !== cout) throw new ShapeError(`${op}: b must have shape [${cout}] (Cout of w), got ${shapeText(b.shape)}`);
  }
  const lout = requireOutput(op, lin, k, r);
  const d: Dims = { n, cin, lin, cout, k, lout };
  const y = engine.empty([n, cout, lout]);
  const has_bias = b ? 1 : 0;
  // without a bias the kernel never reads b; any read-only tensor satisfies the binding
  const bias = b ?? w;
  if (conv1dVariant(engine) === 'tiled') {
    const { gx, gz } = columnGrid(engine, n * lout);
    engine.dispatch(KERNEL, 'forward_tiled', {
      bindings: { p: uniforms(d, r, { has_bias, gx }), x, w, b: bias, y, dy: x },
      workgroups: [gx, Math.ceil(cout / TILE), gz],
    });
    return y;
  }
  const cpad = Math.ceil(cout / 4) * 4;
  // taps q apart read x one stride apart when the dilation divides the stride (sliding window)
  const q = r.stride % r.dilation === 0 ? r.stride / r.dilation : 1;
  const { wp, mpad } = packWeight(engine, 'pack_weight_forward', w, d, r, cin, cpad, q);
  const { gx, gz } = rows(engine, Math.ceil((n * Math.ceil(lout / POS_PER_INVOCATION)) / RB_WG));
  engine.dispatch(KERNEL, 'forward', {
    bindings: { p: uniforms(d, r, { has_bias, cpad, q, mpad, gx }), x, wp, b: bias, y },
    workgroups: [gx, cpad / 4, gz],
  });
  wp.dispose();
  return y;
}

/**
 * Gradient with respect to the input: dx [N, Cin, inputLength] from dy [N, Cout, Lout] and
 * w [Cout, Cin, K]. inputLength is needed because several L give the same Lout when stride > 1.
 */
export function conv1dBackwardInput(engine: Engine, dy: Tensor, w: Tensor, params: Conv1dParams, inputLength: number): Tensor<'f32'> {
  const op = 'conv1dBackwardInput';
  const r = resolve(op, params);
  requireRank3(op, 'dy', dy, '[N, Cout, Lout]');
  requireRank3(op, 'w', w, '[Cout, Cin, K]');
  if (!Number.isInteger(inputLength) || inputLength < 1) throw new ValueError(`${op}: inputLength must be an integer >= 1, got ${inputLength}`);
  const [n, cout, lout] = dy.shape as [number, number, number];
  const [wcout, cin, k] = w.shape as [number, number, number];
  if (wcout !== cout) throw new ShapeError(`${op}: w has ${wcout} output channels (shape ${shapeText(w.shape)}) but dy has ${cout} (shape ${shapeText(dy.shape)})`);
  const expected = requireOutput(op, inputLength, k, r);
  if (expected !== lout) {
    throw new ShapeError(`${op}: dy has length ${lout} but inputLength ${inputLength} with kernel size ${k} gives Lout = ${expected}`);
  }
  const d: Dims = { n, cin, lin: inputLength, cout, k, lout };
  const dx = engine.empty([n, cin, inputLength]);
  if (conv1dVariant(engine) === 'tiled') {
    const { gx, gz } = columnGrid(engine, n * inputLength);
    engine.dispatch(KERNEL, 'backward_input_tiled', {
      bindings: { p: uniforms(d, r, { gx }), w, dy, dx, x: dy },
      workgroups: [gx, Math.ceil(cin / TILE), gz],
    });
    return dx;
  }
  const cpad = Math.ceil(cin / 4) * 4;
  const q = r.stride / gcd(r.stride, r.dilation);
  const { wp, mpad } = packWeight(engine, 'pack_weight_input', w, d, r, cout, cpad, q);
  // one workgroup row per (phase i mod stride, block of 4 input channels)
  const gy = r.stride * (cpad / 4);
  if (gy > engine.info.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(`${op}: stride ${r.stride} x ${cpad / 4} channel blocks exceeds the workgroup grid limit; use a smaller stride or fewer channels`);
  }
  const perPhase = Math.ceil(Math.ceil(inputLength / r.stride) / POS_PER_INVOCATION);
  const { gx, gz } = rows(engine, Math.ceil((n * perPhase) / RB_WG));
  engine.dispatch(KERNEL, 'backward_input', {
    bindings: { p: uniforms(d, r, { cpad, q, mpad, gx }), dy, wp, dx },
    workgroups: [gx, gy, gz],
  });
  wp.dispose();
  return dx;
}

/**
 * Gradient with respect to the weight: dW [Cout, Cin, kernelSize] from x [N, Cin, L] and
 * dy [N, Cout, Lout] (summed over the batch).
 */
export function conv1dBackwardWeight(engine: Engine, x: Tensor, dy: Tensor, params: Conv1dParams, kernelSize: number): Tensor<'f32'> {
  const op = 'conv1dBackwardWeight';
  const r = resolve(op, params);
  requireRank3(op, 'x', x, '[N, Cin, L]');
  requireRank3(op, 'dy', dy, '[N, Cout, Lout]');
  if (!Number.isInteger(kernelSize) || kernelSize < 1) throw new ValueError(`${op}: kernelSize must be an integer >= 1, got ${kernelSize}`);
  const [n, cin, lin] = x.shape as [number, number, number];
  const [dn, cout, lout] = dy.shape as [number, number, number];
  if (dn !== n) throw new ShapeError(`${op}: dy has batch ${dn} (shape ${shapeText(dy.shape)}) but x has ${n} (shape ${shapeText(x.shape)})`);
  const expected = requireOutput(op, lin, kernelSize, r);
  if (expected !== lout) {
    throw new ShapeError(`${op}: dy has length ${lout} but x of length ${lin} with kernel size ${kernelSize} gives Lout = ${expected}`);
  }
  const d: Dims = { n, cin, lin, cout, k: kernelSize, lout };
  const m = cout * cin * kernelSize;
  let chunks: number;
  let chunkLen: number;
  let part: Tensor;
  if (conv1dVariant(engine) === 'tiled') {
    const gx = Math.ceil((cin * kernelSize) / TILE);
    const gy = Math.ceil(cout / TILE);
    if (gx > engine.info.limits.maxComputeWorkgroupsPerDimension) {
      throw new ShapeError(`${op}: Cin*K = ${cin * kernelSize} is too large for one dispatch grid`);
    }
    ({ chunks, chunkLen } = chunking(engine, n * lout, gx * gy, m));
    part = engine.empty([chunks * m]);
    const p = uniforms(d, r, { chunks, chunk_len: chunkLen, m, gx });
    engine.dispatch(KERNEL, 'backward_weight_tiled', { bindings: { p, x, dy, part, w: x }, workgroups: [gx, gy, chunks] });
  } else {
    // lanes over (batch chunk, ci, tap residue, tap block): split the batch until about 64
    // workgroups run
    const q = r.stride % r.dilation === 0 ? r.stride / r.dilation : 1;
    const lanesPerChunk = cin * q * Math.ceil(Math.ceil(kernelSize / q) / TAPS_PER_INVOCATION);
    const gy = Math.ceil(cout / 4);
    ({ chunks, chunkLen } = chunking(engine, n, (lanesPerChunk * gy) / WG, m, 64, 1));
    part = engine.empty([chunks * m]);
    const { gx, gz } = rows(engine, Math.ceil((chunks * lanesPerChunk) / RB_WG));
    const p = uniforms(d, r, { chunks, chunk_len: chunkLen, m, gx, q });
    engine.dispatch(KERNEL, 'backward_weight', { bindings: { p, x, dy, part }, workgroups: [gx, gy, gz] });
  }
  const dw = reducePartials(engine, part, chunks, [cout, cin, kernelSize], d, r);
  part.dispose();
  return dw;
}

/** Gradient with respect to the bias: db [Cout] = sum of dy [N, Cout, Lout] over batch and positions. */
export function conv1dBackwardBias(engine: Engine, dy: Tensor): Tensor<'f32'> {
  const op = 'conv1dBackwardBias';
  requireRank3(op, 'dy', dy, '[N, Cout, Lout]');
  const [n, cout, lout] = dy.shape as [number, number, number];
  const r: Resolved = { stride: 1, padding: 0, dilation: 1 };
  const d: Dims = { n, cin: 1, lin: lout, cout, k: 1, lout };
  const gx = Math.ceil(cout / WG);
  const { chunks, chunkLen } = chunking(engine, n * lout, gx, cout, 64, 1024);
  const part = engine.empty([chunks * cout]);
  engine.dispatch(KERNEL, 'backward_bias', {
    bindings: { p: uniforms(d, r, { chunks, chunk_len: chunkLen, m: cout }), dy, part },
    workgroups: [gx, chunks],
  });
  const db = reducePartials(engine, part, chunks, [cout], d, r);
  part.dispose();
  return db;
}
