// Kernel benchmark: GFLOP/s of conv1d and dense, forward and backward, at the NPCNN layer shapes
// (batch 64), next to PyTorch CPU measured in the same run (bench/torch_kernels.py). Each kernel
// is first checked at its layer's shape (batch 2) against its float64 CPU reference in
// test/reference/ (max_error in the rows); one that differs stops the run before any timing.
//
//   npm run bench:kernels            table
//   npm run bench:kernels -- --json  rows as JSON: op, shape, gflops, torch_gflops, ratio
//   options: --batch 64  --min-time 1.0 (seconds per op)  --no-torch
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { scriptArgs } from '../src/cli/args.ts';
import { createEngine, type Engine } from '../src/engine/engine.ts';
import { nodeKernelSource } from '../src/engine/node-gpu.ts';
import { windowOutputLength } from '../src/engine/ops/common.ts';
import { conv1d, conv1dBackwardInput, conv1dBackwardWeight, conv1dVariant } from '../src/engine/ops/conv1d.ts';
import { dense, denseBackwardInput, denseBackwardWeight, denseVariant } from '../src/engine/ops/dense.ts';
import { affine } from '../src/engine/ops/elementwise.ts';
import { seededRandom } from '../src/engine/parameters.ts';
import type { Tensor } from '../src/engine/tensor.ts';
import { conv1dBackwardInputRef, conv1dBackwardWeightRef, conv1dRef, type Conv1dRefShape } from '../test/reference/conv1d.ts';
import { denseBackwardInputRef, denseBackwardWeightRef, denseRef, type DenseDims } from '../test/reference/dense.ts';
import { scaledError } from '../test/reference/gradcheck.ts';

interface Args {
  json: boolean;
  batch: number;
  minTime: number;
  torch: boolean;
}

function parseArgs(): Args {
  const { flags } = scriptArgs(
    [
      { name: 'json', type: 'boolean', description: 'print one JSON object instead of the table' },
      { name: 'batch', type: 'int', value: 'N', description: 'batch of the NPCNN shapes', default: 64 },
      { name: 'min-time', type: 'number', value: 'S', description: 'seconds to time each case for at least', default: 1.0 },
      { name: 'no-torch', type: 'boolean', description: 'leave out the PyTorch CPU peer' },
    ],
    'bench/kernels.ts',
  );
  const a: Args = { json: flags.json === true, batch: flags.batch as number, minTime: flags['min-time'] as number, torch: flags['no-torch'] !== true };
  if (!(a.batch >= 1) || !(a.minTime > 0)) {
    console.error('--batch must be >= 1 and --min-time > 0');
    process.exit(2);
  }
  return a;
}

interface Case {
  op: string;
  shape: string;
  params: Record<string, number>;
  flops: number;
  /** Builds inputs once; returns the op to time (it must return the tensors it made) and its inputs. */
  setup(engine: Engine): { run: () => Tensor; dispose: () => void; inputs: Inputs };
  /** The float64 CPU reference (test/reference/) of what run() computes from these inputs. */
  reference(inputs: Inputs): Float64Array;
}

type Inputs = Record<'x' | 'w' | 'b' | 'dy', Float32Array>;

const free = (t: Record<string, Tensor>) => (): void => Object.values(t).forEach((v) => v.dispose());

/** Largest error of a case's kernel against its CPU reference, relative to the reference's scale. */
async function validate(engine: Engine, c: Case): Promise<number> {
  const { run, dispose, inputs } = c.setup(engine);
  const y = run();
  const got = await y.read();
  y.dispose();
  dispose();
  return scaledError(got, c.reference(inputs));
}

function rand(n: number, scale: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (2 * r() - 1) * scale);
}

function convCases(batch: number): Case[] {
  const layers = [
    { cin: 1, l: 8500, cout: 80, k: 100, stride: 5 },
    { cin: 80, l: 1681, cout: 80, k: 50, stride: 5 },
    { cin: 80, l: 327, cout: 80, k: 25, stride: 2 },
  ];
  const out: Case[] = [];
  for (const c of layers) {
    const lout = windowOutputLength(c.l, c.k, c.stride);
    const flops = 2 * batch * c.cout * lout * c.cin * c.k;
    const shape = `${batch}x${c.cin}x${c.l} k${c.k} s${c.stride} ->${c.cout}`;
    const params = { n: batch, ...c };
    const conv = { stride: c.stride, padding: 0, dilation: 1 };
    const ref: Conv1dRefShape = { n: batch, ...c, padding: 0, dilation: 1 };
    const inputs = (): Inputs => ({ x: rand(batch * c.cin * c.l, 1, 1), w: rand(c.cout * c.cin * c.k, 0.05, 2), b: rand(c.cout, 0.1, 3), dy: rand(batch * c.cout * lout, 1, 4) });
    const tensors = (engine: Engine, a: Inputs) => ({
      x: engine.tensor(a.x, [batch, c.cin, c.l]),
      w: engine.tensor(a.w, [c.cout, c.cin, c.k]),
      b: engine.tensor(a.b, [c.cout]),
      dy: engine.tensor(a.dy, [batch, c.cout, lout]),
    });
    out.push(
      {
        op: 'conv1d.forward',
        shape,
        params,
        flops,
        setup: (e) => {
          const a = inputs();
          const t = tensors(e, a);
          return { run: () => conv1d(e, t.x, t.w, t.b, conv), dispose: free(t), inputs: a };
        },
        reference: (a) => conv1dRef(a.x, a.w, a.b, ref),
      },
      {
        op: 'conv1d.backward_input',
        shape,
        params,
        flops,
        setup: (e) => {
          const a = inputs();
          const t = tensors(e, a);
          return { run: () => conv1dBackwardInput(e, t.dy, t.w, conv, c.l), dispose: free(t), inputs: a };
        },
        reference: (a) => conv1dBackwardInputRef(a.dy, a.w, ref),
      },
      {
        op: 'conv1d.backward_weight',
        shape,
        params,
        flops,
        setup: (e) => {
          const a = inputs();
          const t = tensors(e, a);
          return { run: () => conv1dBackwardWeight(e, t.x, t.dy, conv, c.k), dispose: free(t), inputs: a };
        },
        reference: (a) => conv1dBackwardWeightRef(a.x, a.dy, ref),
      },
    );
  }
  return out;
}

function denseCases(batch: number): Case[] {
  const layers = [
    { in: 12160, out: 2300 },
    { in: 2300, out: 1150 },
    { in: 1150, out: 230 },
  ];
  const out: Case[] = [];
  for (const d of layers) {
    const flops = 2 * batch * d.in * d.out;
    const shape = `${batch}x${d.in} ->${d.out}`;
    const params = { n: batch, in: d.in, out: d.out };
    const dims: DenseDims = { n: batch, inF: d.in, outF: d.out };
    const inputs = (): Inputs => ({ x: rand(batch * d.in, 1, 5), w: rand(d.out * d.in, 0.01, 6), b: rand(d.out, 0.1, 7), dy: rand(batch * d.out, 1, 8) });
    const tensors = (engine: Engine, a: Inputs) => ({
      x: engine.tensor(a.x, [batch, d.in]),
      w: engine.tensor(a.w, [d.out, d.in]),
      b: engine.tensor(a.b, [d.out]),
      dy: engine.tensor(a.dy, [batch, d.out]),
    });
    out.push(
      {
        op: 'dense.forward',
        shape,
        params,
        flops,
        setup: (e) => {
          const a = inputs();
          const t = tensors(e, a);
          return { run: () => dense(e, t.x, t.w, t.b), dispose: free(t), inputs: a };
        },
        reference: (a) => denseRef(a.x, a.w, a.b, dims),
      },
      {
        op: 'dense.backward_input',
        shape,
        params,
        flops,
        setup: (e) => {
          const a = inputs();
          const t = tensors(e, a);
          return { run: () => denseBackwardInput(e, t.dy, t.w), dispose: free(t), inputs: a };
        },
        reference: (a) => denseBackwardInputRef(a.dy, a.w, dims),
      },
      {
        op: 'dense.backward_weight',
        shape,
        params,
        flops,
        setup: (e) => {
          const a = inputs();
          const t = tensors(e, a);
          return { run: () => denseBackwardWeight(e, t.dy, t.x), dispose: free(t), inputs: a };
        },
        reference: (a) => denseBackwardWeightRef(a.dy, a.x, dims),
      },
    );
  }
  return out;
}

/** CPU seconds of the main JS thread (where Dawn's event poll runs), from /proc. */
function mainThreadCpu(): number {
  const file = `/proc/self/task/${process.pid}/stat`;
  if (!existsSync(file)) return NaN;
  const fields = readFileSync(file, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks
}

interface Timing {
  seconds: number;
  /** Wall time of one op submitted and awaited alone. */
  single: number;
  /** Share of the wall time the main thread was busy (mostly Dawn's poll while waiting). */
  mainCpuShare: number;
}

async function time(engine: Engine, c: Case, minTime: number): Promise<Timing> {
  const { run, dispose } = c.setup(engine);
  for (let i = 0; i < 2; i++) run().dispose();
  await engine.sync();
  // Single op, submitted and awaited alone: includes the submit and wake-up latency.
  const s0 = performance.now();
  run().dispose();
  await engine.sync();
  const single = (performance.now() - s0) / 1000;
  // Batched: many ops per submit, synced every few, so the queue never runs dry.
  const per = Math.max(1, Math.min(8, Math.round(0.25 / Math.max(single, 1e-4))));
  let iters = 0;
  const cpu0 = mainThreadCpu();
  const t0 = performance.now();
  while (performance.now() - t0 < minTime * 1000 || iters < 3) {
    for (let i = 0; i < per; i++) run().dispose();
    engine.flush();
    await engine.sync();
    iters += per;
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = mainThreadCpu() - cpu0;
  dispose();
  return { seconds: wall / iters, single, mainCpuShare: cpu / wall };
}

// The device's own ceiling: 16 independent vec4 multiply-add chains per invocation, unrolled 8
// times, no memory traffic in the loop (the best of repeated runs). No kernel that loads its operands can beat this on the same adapter.
const CEILING_WGSL = `
struct Params { iters: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  ${Array.from({ length: 16 }, (_, i) => `var a${i} = vec4<f32>(f32(g.x + ${i}u));`).join(' ')}
  let m = w[0];
  let c = w[1];
  for (var k = 0u; k < p.iters; k++) {
    ${Array.from({ length: 8 }, () => Array.from({ length: 16 }, (_, i) => `a${i} = fma(a${i}, m, c);`).join(' ')).join('\n    ')}
  }
  if (g.x < p.n) { y[g.x] = ${Array.from({ length: 16 }, (_, i) => `a${i}`).join(' + ')}; }
}`;

async function fmaCeiling(engine: Engine, minTime: number): Promise<number> {
  const n = 64 * 1024;
  const iters = 32; // x 8 unrolled
  const w = engine.tensor(new Float32Array(8).fill(0.5), [8]);
  const y = engine.empty([4 * n]);
  const go = () => engine.dispatch('bench_ceiling', 'main', { bindings: { p: { iters, n }, w, y }, workgroups: [n / 64] });
  go();
  await engine.sync();
  let best = Infinity;
  const t0 = performance.now();
  while (performance.now() - t0 < minTime * 1000 || best === Infinity) {
    const t = performance.now();
    go();
    await engine.sync();
    best = Math.min(best, performance.now() - t);
  }
  w.dispose();
  y.dispose();
  return (2 * 4 * 16 * 8 * iters * n) / (best / 1000) / 1e9;
}

async function submitOverhead(engine: Engine): Promise<number> {
  const x = engine.tensor([1, 2, 3, 4], [4]);
  for (let i = 0; i < 3; i++) affine(engine, x, 1, 0).dispose();
  await engine.sync();
  const n = 30;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    affine(engine, x, 1, 0).dispose();
    await engine.sync();
  }
  x.dispose();
  return (performance.now() - t0) / 1000 / n;
}

/** Largest error against the reference, relative to its scale, that a kernel may show (fp32 sums). */
const VALID = 1e-4;

interface TorchResult {
  version?: string;
  threads?: number;
  seconds: Map<string, number>;
  error?: string;
}

function runTorch(cases: Case[]): TorchResult {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const input = JSON.stringify(cases.map((c) => ({ op: c.op, shape: c.shape, params: c.params })));
  const r = spawnSync(python, [new URL('./torch_kernels.py', import.meta.url).pathname], { input, encoding: 'utf8' });
  if (r.error || r.status !== 0) return { seconds: new Map(), error: r.error?.message ?? r.stderr.trim().split('\n').pop() };
  const parsed = JSON.parse(r.stdout) as { torch?: string; threads?: number; error?: string; rows?: { op: string; shape: string; seconds: number }[] };
  if (parsed.error) return { seconds: new Map(), error: parsed.error };
  return {
    version: parsed.torch,
    threads: parsed.threads,
    seconds: new Map(parsed.rows!.map((r) => [`${r.op} ${r.shape}`, r.seconds])),
  };
}

async function main(): Promise<void> {
  const args = parseArgs();
  const files = nodeKernelSource();
  const engine = await createEngine({ kernelSource: (name) => (name === 'bench_ceiling' ? CEILING_WGSL : files(name)) });
  const cases = [...convCases(args.batch), ...denseCases(args.batch)];
  const rows: Record<string, unknown>[] = [];
  try {
    const overhead = await submitOverhead(engine);
    const ceiling = await fmaCeiling(engine, args.minTime);
    // Each kernel (the variant this device runs) at the layer's shape, batch 2, against its float64
    // CPU reference before any timing: a wrong kernel is not timed.
    const small = [...convCases(2), ...denseCases(2)];
    const errors = new Map<string, number>();
    for (const [i, c] of cases.entries()) {
      if (!args.json) process.stderr.write(`checking ${c.op} ${small[i]!.shape}...\n`);
      const err = await validate(engine, small[i]!);
      if (!(err < VALID)) throw new Error(`${c.op} ${small[i]!.shape} differs from its CPU reference by ${err.toExponential(2)} of its scale (allowed ${VALID}); fix the kernel before timing it`);
      errors.set(`${c.op} ${c.shape}`, err);
    }
    const ours = new Map<string, Timing>();
    for (const c of cases) {
      if (!args.json) process.stderr.write(`timing ${c.op} ${c.shape}...\n`);
      ours.set(`${c.op} ${c.shape}`, await time(engine, c, args.minTime));
    }
    const torch = args.torch ? runTorch(cases) : { seconds: new Map<string, number>(), error: 'skipped (--no-torch)' };
    for (const c of cases) {
      const key = `${c.op} ${c.shape}`;
      const t = ours.get(key)!;
      const ts = torch.seconds.get(key);
      const gflops = c.flops / t.seconds / 1e9;
      const torchGflops = ts ? c.flops / ts / 1e9 : null;
      rows.push({
        op: c.op,
        shape: c.shape,
        gflops: +gflops.toFixed(2),
        torch_gflops: torchGflops === null ? null : +torchGflops.toFixed(2),
        ratio: torchGflops === null ? null : +(gflops / torchGflops).toFixed(3),
        ms: +(t.seconds * 1000).toFixed(3),
        single_ms: +(t.single * 1000).toFixed(3),
        main_thread_cpu: +t.mainCpuShare.toFixed(2),
        max_error: +errors.get(key)!.toExponential(2),
      });
    }
    rows.push({ op: 'device.fma_ceiling', shape: '16 vec4 chains, no loads', gflops: +ceiling.toFixed(2), torch_gflops: null, ratio: null });
    if (args.json) {
      console.log(JSON.stringify(rows, null, 1));
      return;
    }
    const variants = [`conv1d=${conv1dVariant(engine)}`, `dense=${denseVariant(engine)}`];
    console.log(`adapter: ${engine.info.description} (${engine.info.backend}, ${engine.info.featureLevel})`);
    console.log(`batch ${args.batch}; kernel variants: ${variants.join(', ')}`);
    console.log(
      torch.error ? `PyTorch: not measured (${torch.error})` : `PyTorch ${torch.version} CPU, ${torch.threads} threads, same machine, same run`,
    );
    console.log(`submit + wait overhead of an empty dispatch: ${(overhead * 1000).toFixed(2)} ms`);
    console.log(`device multiply-add ceiling (no memory traffic): ${ceiling.toFixed(1)} GFLOP/s\n`);
    const header = ['op', 'shape', 'GFLOP/s', 'torch GFLOP/s', 'ratio', 'ms/op', 'ms alone', 'main thr CPU'];
    const table = rows.filter((r) => r.op !== 'device.fma_ceiling').map((r) => [
      String(r.op),
      String(r.shape),
      String(r.gflops),
      r.torch_gflops === null ? '-' : String(r.torch_gflops),
      r.ratio === null ? '-' : `${r.ratio}x`,
      String(r.ms),
      String(r.single_ms),
      `${Math.round(Number(r.main_thread_cpu) * 100)}%`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of table) console.log(line(r));
    console.log(
      '\nms/op: batched (several ops per submit); ms alone: one op submitted and awaited by itself;\n' +
        "main thr CPU: busy share of the JS thread, where Dawn's event poll spins while a GPU promise is pending.",
    );
  } finally {
    engine.destroy();
  }
}

await main();
