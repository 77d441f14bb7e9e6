// Times conv1d forward, dx and dW at the NPCNN layer shapes (batch 64) on our engine and, in the
// same run (after our engine is destroyed, so the two never share the cores), PyTorch CPU with
// /usr/bin/python3 bench/conv1d-torch.py. Prints GFLOP/s (2*N*Cout*Lout*Cin*K per pass).
// Usage: npx tsx bench/conv1d-probe.ts [iters] [variants comma-separated] [shapes comma-separated]
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine } from '../src/engine/engine.ts';
import { conv1d, conv1dBackwardInput, conv1dBackwardWeight, conv1dOutputLength } from '../src/engine/ops/conv1d.ts';
import type { Tensor } from '../src/engine/tensor.ts';

const iters = Number(process.argv[2] ?? 3);
const variants = (process.argv[3] ?? 'regblock').split(',');
const only = process.argv[4]?.split(',');
const shapes = [
  { name: 'conv1', n: 64, cin: 1, l: 8500, cout: 80, k: 100, stride: 5 },
  { name: 'conv2', n: 64, cin: 80, l: 1681, cout: 80, k: 50, stride: 5 },
  { name: 'conv3', n: 64, cin: 80, l: 327, cout: 80, k: 25, stride: 2 },
].filter((s) => !only || only.includes(s.name));

const rows: { shape: string; pass: string; variant: string; gflops: number }[] = [];
const engine = await createEngine();
console.log(`device: ${engine.info.description || engine.info.device}`);
for (const s of shapes) {
  const lout = conv1dOutputLength(s.l, s.k, { stride: s.stride });
  const flop = 2 * s.n * s.cout * lout * s.cin * s.k;
  const rnd = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() - 0.5);
  const x = engine.tensor(rnd(s.n * s.cin * s.l), [s.n, s.cin, s.l]);
  const w = engine.tensor(rnd(s.cout * s.cin * s.k), [s.cout, s.cin, s.k]);
  const b = engine.tensor(rnd(s.cout), [s.cout]);
  const dy = engine.tensor(rnd(s.n * s.cout * lout), [s.n, s.cout, lout]);
  const p = { stride: s.stride };
  const passes: Record<string, () => Tensor> = {
    forward: () => conv1d(engine, x, w, b, p),
    dx: () => conv1dBackwardInput(engine, dy, w, p, s.l),
    dW: () => conv1dBackwardWeight(engine, x, dy, p, s.k),
  };
  for (const variant of variants) {
    engine.setVariant('conv1d', variant);
    for (const [pass, fn] of Object.entries(passes)) {
      fn().dispose();
      await engine.sync();
      let best = Infinity;
      for (let i = 0; i < iters; i++) {
        const t0 = performance.now();
        fn().dispose();
        await engine.sync();
        best = Math.min(best, performance.now() - t0);
      }
      const gflops = flop / best / 1e6;
      rows.push({ shape: s.name, pass, variant, gflops });
      console.log(`ours  ${variant.padEnd(8)} ${s.name} ${pass.padEnd(7)} ${best.toFixed(1).padStart(8)} ms ${gflops.toFixed(2).padStart(7)} GFLOP/s`);
    }
  }
  for (const t of [x, w, b, dy]) t.dispose();
}
engine.destroy();

const script = join(dirname(fileURLToPath(import.meta.url)), 'conv1d-torch.py');
const torchOut = execFileSync('/usr/bin/python3', [script, String(iters)], { encoding: 'utf8' });
const torch = new Map<string, number>();
for (const line of torchOut.trim().split('\n')) {
  const r = JSON.parse(line) as { shape: string; pass: string; gflops: number };
  torch.set(`${r.shape}/${r.pass}`, r.gflops);
}
console.log('\nshape  pass     variant   ours GFLOP/s  torch GFLOP/s  ratio');
for (const r of rows) {
  const t = torch.get(`${r.shape}/${r.pass}`) ?? NaN;
  console.log(
    `${r.shape}  ${r.pass.padEnd(7)}  ${r.variant.padEnd(8)}  ${r.gflops.toFixed(2).padStart(12)}  ${t.toFixed(2).padStart(13)}  ${(r.gflops / t).toFixed(2).padStart(5)}`,
  );
}
