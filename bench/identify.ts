// Search-match screen benchmark: queries per second of the GPU screen (engine conv1d over the ln d
// grid, all AMCSD entries, shifts for cell scalings 0.97-1.03) against the CPU reference and a
// NumPy peer (bench/identify_numpy.py: one matrix product per shift, all cores) on the same
// profiles in the same run; then the whole identify (screen + refinement) per pattern.
//
//   npx tsx bench/identify.ts [--queries 32] [--entries 0 (all)] [--no-peer] [--json]
// Queries are the first patterns of ../shared/data/rruff-dev (or the example pattern, repeated).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scriptArgs } from '../src/cli/args.ts';
import { createEngine } from '../src/engine/engine.ts';
import { patternFilesIn, readPatternFile } from '../src/io/patterns.ts';
import { encodeNpy } from '../src/sim/npy.ts';
import { readLibrary, type Library } from '../src/library/library.ts';
import { DEFAULT_MATCH, GpuLibrary, identify, logGridFor, logProfiles, prepareQuery, screenCpu, shiftRange } from '../src/library/match.ts';
import { librarySticks } from '../src/library/peaks.ts';
import { DEFAULT_GRID } from '../src/sim/render.ts';

const root = resolve(import.meta.dirname, '..');
const { flags } = scriptArgs(
  [
    { name: 'queries', type: 'int', value: 'N', description: 'patterns screened', default: 32 },
    { name: 'entries', type: 'int', value: 'N', description: 'library entries (0: all)', default: 0 },
    { name: 'no-peer', type: 'boolean', description: 'leave out the NumPy peer' },
    { name: 'json', type: 'boolean', description: 'one JSON object instead of the table' },
  ],
  'bench/identify.ts',
);
const full = readLibrary();
const lib: Library = flags.entries ? { ...full, entries: full.entries.slice(0, flags.entries as number) } : full;
const { sticks } = librarySticks(lib);
const grid = DEFAULT_GRID;
const bins = logGridFor(grid, DEFAULT_MATCH.du).bins;
const S = shiftRange(DEFAULT_MATCH);
const profiles = logProfiles(sticks, grid);
const rruff = resolve(root, '../shared/data/rruff-dev');
const files = existsSync(rruff) ? patternFilesIn(rruff) : [join(root, 'examples/TiO2-rutile-realistic.xy')];
const nq = flags.queries as number;
const queries = Array.from({ length: nq }, (_, i) => prepareQuery(readPatternFile(files[i % files.length]!)));
const rows: Record<string, number | string>[] = [];

const engine = await createEngine();
const gpu = new GpuLibrary(engine, profiles, bins, S);
await gpu.screen(queries.slice(0, 1)); // pipelines compiled, buffers allocated
let t = performance.now();
const g = await gpu.screen(queries);
const gpuSec = (performance.now() - t) / 1000 / nq;
rows.push({ case: `GPU screen (${engine.info.description.slice(0, 40)})`, ms_per_query: 1000 * gpuSec });

const cpuQueries = queries.slice(0, Math.min(4, nq));
t = performance.now();
const c = screenCpu(cpuQueries, profiles, bins, S);
const cpuSec = (performance.now() - t) / 1000 / cpuQueries.length;
rows.push({ case: 'CPU reference screen (TypeScript, 1 thread)', ms_per_query: 1000 * cpuSec });
let maxDiff = 0;
for (let i = 0; i < c.best.length; i++) maxDiff = Math.max(maxDiff, Math.abs(c.best[i]! - g.best[i]!));

let peerSec: number | null = null;
if (!flags['no-peer']) {
  const dir = mkdtempSync(join(tmpdir(), 'xrd-bench-identify-'));
  try {
    const q = new Float32Array(nq * bins);
    queries.forEach((x, i) => q.set(x.log, i * bins));
    writeFileSync(join(dir, 'queries.npy'), encodeNpy(q, [nq, bins]));
    writeFileSync(join(dir, 'library.npy'), encodeNpy(profiles, [lib.entries.length, bins]));
    const out = JSON.parse(execFileSync('/usr/bin/python3', [join(root, 'bench/identify_numpy.py'), dir, String(S), '2'], { encoding: 'utf8' })) as { seconds_per_query: number };
    peerSec = out.seconds_per_query;
    rows.push({ case: 'NumPy peer screen (matrix product per shift)', ms_per_query: 1000 * peerSec });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t = performance.now();
await identify(lib, sticks, profiles, gpu, queries, { maxPhases: 1 });
rows.push({ case: 'identify: GPU screen + CPU refinement of 40', ms_per_query: (performance.now() - t) / nq });
gpu.dispose();
engine.destroy();

const summary = { entries: lib.entries.length, bins, shifts: 2 * S + 1, queries: nq, gflop_per_query: (2 * lib.entries.length * bins * (2 * S + 1)) / 1e9, max_abs_diff_gpu_cpu: maxDiff, gpu_vs_peer: peerSec ? peerSec / gpuSec : null, rows };
if (flags.json) console.log(JSON.stringify(summary, null, 1));
else {
  console.log(`${summary.entries} entries x ${bins} bins x ${summary.shifts} shifts = ${summary.gflop_per_query.toFixed(2)} GFLOP per query; GPU and CPU screens differ by at most ${maxDiff.toExponential(1)}`);
  for (const r of rows) console.log(`  ${String(r.case).padEnd(52)} ${Number(r.ms_per_query).toFixed(1).padStart(9)} ms/query`);
  if (peerSec) console.log(`  GPU screen / NumPy peer speed: ${(peerSec / gpuSec).toFixed(2)}x`);
}
