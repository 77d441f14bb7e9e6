// Probe: GFLOP/s of our dense passes vs PyTorch CPU at the NPCNN shapes (batch 64), same run.
// Usage: npx tsx bench/dense-probe.ts [variant] [reps]
import { execFileSync } from 'node:child_process';
import { createEngine } from '../src/engine/engine.ts';
import { dense, denseBackwardInput, denseBackwardWeight } from '../src/engine/ops/dense.ts';

const SHAPES: [number, number][] = [
  [12160, 2300],
  [2300, 1150],
  [1150, 230],
];
const N = 64;
const variant = process.argv[2] ?? 'regblock';
const reps = Number(process.argv[3] ?? 3);

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
        t = time.perf_counter()
        for _ in range(it): f()
        out.append(fl / ((time.perf_counter() - t) / it) / 1e9)
    print(' '.join(f'{g:.2f}' for g in out))
`;

function torch(threads: number): number[][] {
  const txt = execFileSync('/usr/bin/python3', ['-c', TORCH, String(threads)], { encoding: 'utf8' });
  return txt.trim().split('\n').map((l) => l.split(' ').map(Number));
}

const engine = await createEngine({ variants: { dense: variant } });
const ours: number[][] = SHAPES.map(() => [0, 0, 0]);
for (let r = 0; r < reps; r++) {
  for (const [s, [inF, outF]] of SHAPES.entries()) {
    const x = engine.tensor(rand(N * inF), [N, inF]);
    const w = engine.tensor(rand(outF * inF), [outF, inF]);
    const b = engine.tensor(rand(outF), [outF]);
    const dy = engine.tensor(rand(N * outF), [N, outF]);
    const fl = 2 * N * inF * outF;
    const passes = [() => dense(engine, x, w, b), () => denseBackwardInput(engine, dy, w), () => denseBackwardWeight(engine, dy, x)];
    for (const [p, f] of passes.entries()) {
      f().dispose();
      await engine.sync();
      const it = Math.max(2, Math.round(0.3e9 / fl));
      const t0 = performance.now();
      for (let i = 0; i < it; i++) f().dispose();
      await engine.sync();
      const g = fl / (((performance.now() - t0) / 1000 / it) * 1e9);
      ours[s][p] = Math.max(ours[s][p], g);
    }
    for (const t of [x, w, b, dy]) t.dispose();
  }
}
engine.destroy();
const t1 = torch(1);
const t2 = torch(2);
console.log(`variant ${variant}, best of ${reps}; GFLOP/s ours | torch 1 thread | torch 2 threads | ours/torch2`);
for (const [s, [inF, outF]] of SHAPES.entries()) {
  ['forward', 'dx', 'dW'].forEach((name, p) => {
    console.log(
      `${inF}->${outF} ${name.padEnd(7)} ${ours[s][p].toFixed(2).padStart(7)} ${t1[s][p].toFixed(2).padStart(7)} ${t2[s][p].toFixed(2).padStart(7)}  ${(ours[s][p] / t2[s][p]).toFixed(2)}`,
    );
  });
}
