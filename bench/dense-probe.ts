// Dense layer GFLOP/s, ours vs PyTorch CPU (F.linear and the two matmuls of its backward), at the
// NPCNN shapes with batch 64, in the same run.
//
// Usage: npx tsx bench/dense-probe.ts [variant=regblock] [rounds=2]
//
// The machine is shared, so besides wall-clock GFLOP/s this reports a CPU-time figure: FLOPs per
// CPU-second of the threads doing the work (for us: every thread except the JS main thread, whose
// time is Dawn's event polling; for torch: its process CPU time), times the machine's 2 cores. It
// estimates the speed on an idle machine, where both use both cores (lavapipe runs 2 workers; this
// torch build keeps 2 threads busy even with set_num_threads(1): its CPU time is twice its wall
// time), and stays comparable while other jobs compete for the cores.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createEngine } from '../src/engine/engine.ts';
import { dense, denseBackwardInput, denseBackwardWeight } from '../src/engine/ops/dense.ts';

const SHAPES: [number, number][] = [
  [12160, 2300],
  [2300, 1150],
  [1150, 230],
];
const PASSES = ['forward', 'dx', 'dW'];
const N = 64;
const variant = process.argv[2] ?? 'regblock';
const rounds = Number(process.argv[3] ?? 2);

/** CPU seconds of every thread of this process except the main one (lavapipe's workers). */
function workerCpu(): number {
  let s = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      s += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      // the thread exited between listing and reading
    }
  }
  return s;
}

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

const TORCH = `
import sys, time, torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
N = 64
for (i, o) in [(12160, 2300), (2300, 1150), (1150, 230)]:
    x = torch.randn(N, i); w = torch.randn(o, i); b = torch.randn(o); dy = torch.randn(N, o)
    fl = 2 * N * i * o
    out = []
    for f in (lambda: F.linear(x, w, b), lambda: dy @ w, lambda: dy.t() @ x):
        for _ in range(3): f()
        it = max(3, int(3e9 / fl))
        t, c = time.perf_counter(), time.process_time()
        for _ in range(it): f()
        wall, cpu = (time.perf_counter() - t) / it, (time.process_time() - c) / it
        out.append(f'{fl / wall / 1e9:.2f},{2 * fl / cpu / 1e9:.2f}')
    print(' '.join(out))
`;

/** [shape][pass] -> [wall GFLOP/s, CPU-time GFLOP/s] */
function torch(threads: number): number[][][] {
  const txt = execFileSync('/usr/bin/python3', ['-c', TORCH, String(threads)], { encoding: 'utf8' });
  return txt
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map((p) => p.split(',').map(Number)));
}

const engine = await createEngine({ variants: { dense: variant } });
const ours: number[][][] = SHAPES.map(() => PASSES.map(() => [0, 0]));
const t1: number[][][] = SHAPES.map(() => PASSES.map(() => [0, 0]));
const t2: number[][][] = SHAPES.map(() => PASSES.map(() => [0, 0]));
const best = (acc: number[][][], got: number[][][]) =>
  got.forEach((row, s) => row.forEach((v, p) => (acc[s][p] = [Math.max(acc[s][p][0], v[0]), Math.max(acc[s][p][1], v[1])])));
for (let r = 0; r < rounds; r++) {
  const got: number[][][] = [];
  for (const [inF, outF] of SHAPES) {
    const x = engine.tensor(rand(N * inF), [N, inF]);
    const w = engine.tensor(rand(outF * inF), [outF, inF]);
    const b = engine.tensor(rand(outF), [outF]);
    const dy = engine.tensor(rand(N * outF), [N, outF]);
    const fl = 2 * N * inF * outF;
    const passes = [() => dense(engine, x, w, b), () => denseBackwardInput(engine, dy, w), () => denseBackwardWeight(engine, dy, x)];
    const row: number[][] = [];
    for (const f of passes) {
      f().dispose(); // warm-up: pipeline creation, buffer pool
      await engine.sync();
      const it = Math.max(3, Math.round(0.5e9 / fl));
      const t0 = performance.now();
      const c0 = workerCpu();
      for (let i = 0; i < it; i++) f().dispose();
      await engine.sync();
      const wall = (performance.now() - t0) / 1000 / it;
      const cpu = (workerCpu() - c0) / it;
      row.push([fl / wall / 1e9, (2 * fl) / cpu / 1e9]);
    }
    got.push(row);
    for (const t of [x, w, b, dy]) t.dispose();
  }
  best(ours, got);
  best(t1, torch(1));
  best(t2, torch(2));
}
engine.destroy();

const f = (v: number) => v.toFixed(1).padStart(6);
console.log(`dense variant ${variant}, batch ${N}, best of ${rounds} rounds; GFLOP/s as wall | CPU-time (see header)`);
console.log(`${'shape'.padEnd(12)} ${'pass'.padEnd(8)} ${'ours'.padStart(13)} ${'torch 1 thr'.padStart(13)} ${'torch 2 thr'.padStart(13)}  ours/best torch (wall, cpu)`);
for (const [s, [inF, outF]] of SHAPES.entries()) {
  PASSES.forEach((name, p) => {
    const [ow, oc] = ours[s][p];
    const tw = Math.max(t1[s][p][0], t2[s][p][0]);
    const tc = Math.max(t1[s][p][1], t2[s][p][1]);
    console.log(
      `${`${inF}->${outF}`.padEnd(12)} ${name.padEnd(8)} ${f(ow)} |${f(oc)} ${f(t1[s][p][0])} |${f(t1[s][p][1])} ${f(t2[s][p][0])} |${f(t2[s][p][1])}  ${(ow / tw).toFixed(2)}, ${(oc / tc).toFixed(2)}`,
    );
  });
}
