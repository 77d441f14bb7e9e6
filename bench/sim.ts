// Simulator benchmark: patterns per second of the whole pipeline (crystal -> reflections ->
// effects -> GPU rendering -> patterns in CPU memory) at several batch sizes, next to pymatgen's
// XRDCalculator on the same structures in the same run (bench/pymatgen_sim.py, /usr/bin/python3).
//
//   npm run bench:sim -- [--json] [--batches 256,4096] [--preset paper] [--peer-seconds 8]
//                        [--peer-structures 40] [--no-peer] [--seed 1] [--min-seconds 4]
// Each row repeats its batch until --min-seconds have passed (at most 5 times) and reports the
// median run.
//
// Rows:
//   synthetic, fresh:  a new random crystal (uniform space group 1..230) and its reflections for
//                      every pattern: the cost of an endless synthetic stream with no reuse.
//   cif, fresh:        CIF text parsed and reflections computed for every pattern (46 structures
//                      of ../shared/data/reference-xrd, or examples/ when that is absent, cycled).
//   cif, prepared:     reflections computed once per structure before timing (as when training
//                      draws many patterns from a fixed set of structures); effects + GPU only.
//   synthetic, stream: the public simulate() stream (synthetic source, one pattern per crystal),
//                      timed end to end with readback; no stage split.
// pymatgen does everything per pattern (get_pattern from a parsed Structure); its "+render" rate
// adds a NumPy Gaussian rendering to the same 8500-point grid, so both sides yield pattern arrays.
// The ratio column divides our rate by pymatgen's get_pattern+render rate for the same source.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scriptArgs } from '../src/cli/args.ts';
import { createEngine, type Engine } from '../src/engine/engine.ts';
import { parseCif } from '../src/sim/cif.ts';
import type { Crystal } from '../src/sim/crystal.ts';
import { applyEffects, drawEffects, preparePhase, resolveEffects, type EffectsConfig, type Phase, type PresetName } from '../src/sim/effects.ts';
import { Rng } from '../src/sim/random.ts';
import { DEFAULT_GRID, maxPatternsPerTensor, renderPatternsChunked } from '../src/sim/render.ts';
import { simulate } from '../src/sim/stream.ts';
import { generateCrystal } from '../src/sim/synth.ts';

const root = resolve(import.meta.dirname, '..');

interface Opts {
  json: boolean;
  batches: number[];
  preset: PresetName;
  peerSeconds: number;
  peerStructures: number;
  peer: boolean;
  seed: number;
  minSeconds: number;
}

function parseOpts(): Opts {
  const { flags } = scriptArgs(
    [
      { name: 'json', type: 'boolean', description: 'print one JSON object instead of the table' },
      { name: 'batches', type: 'string', value: 'N,M', description: 'batch sizes', default: '256,4096' },
      { name: 'preset', type: 'string', value: 'NAME', description: 'effects preset', default: 'paper' },
      { name: 'peer-seconds', type: 'number', value: 'S', description: 'seconds per peer run', default: 8 },
      { name: 'peer-structures', type: 'int', value: 'N', description: 'structures the peers simulate', default: 40 },
      { name: 'no-peer', type: 'boolean', description: 'leave out the pymatgen peer' },
      { name: 'seed', type: 'int', value: 'N', description: 'random seed', default: 1 },
      { name: 'min-seconds', type: 'number', value: 'S', description: 'seconds to time each case for at least', default: 4 },
    ],
    'bench/sim.ts',
  );
  const o: Opts = {
    json: flags.json === true,
    batches: (flags.batches as string).split(',').map(Number),
    preset: flags.preset as PresetName,
    peerSeconds: flags['peer-seconds'] as number,
    peerStructures: flags['peer-structures'] as number,
    peer: flags['no-peer'] !== true,
    seed: flags.seed as number,
    minSeconds: flags['min-seconds'] as number,
  };
  if (o.batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error('--batches needs positive integers, e.g. 256,4096');
  return o;
}

/** Seconds spent per stage for one batch. */
interface Stages {
  crystals: number;
  reflections: number;
  effects: number;
  upload: number;
  gpu: number;
  readback: number;
}

interface Row {
  source: string;
  mode: 'fresh' | 'prepared' | 'stream';
  batch: number;
  patternsPerSecond: number;
  seconds: number;
  /** null for the stream rows (timed end to end only). */
  stages: Stages | null;
  meanPeaks: number;
  peerPatternsPerSecond: number | null;
  ratio: number | null;
  /** Repetitions measured; the row reports the median one. */
  runs: number;
}

const now = (): number => performance.now() / 1000;

/** Runs `fn` until `minSeconds` have passed (at least once, at most 5 times). */
async function repeat<T extends { seconds: number }>(minSeconds: number, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  const t0 = now();
  do out.push(await fn());
  while (out.length < 5 && now() - t0 < minSeconds);
  return out;
}

function median<T extends { seconds: number }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor((runs.length - 1) / 2)];
}

/**
 * One batch through the pipeline, timing each stage. `makeCrystal(i)` builds pattern i's crystal
 * (fresh mode); `phases` are prepared phases to cycle through instead (prepared mode).
 */
async function runBatch(
  engine: Engine,
  batch: number,
  config: EffectsConfig,
  rng: Rng,
  source: { makeCrystal: (i: number) => Crystal } | { phases: Phase[] },
): Promise<{ stages: Stages; meanPeaks: number }> {
  const grid = DEFAULT_GRID;
  const t0 = now();
  let crystals: Crystal[] = [];
  if ('makeCrystal' in source) crystals = Array.from({ length: batch }, (_, i) => source.makeCrystal(i));
  const t1 = now();
  const phases = 'phases' in source ? Array.from({ length: batch }, (_, i) => source.phases[i % source.phases.length]) : crystals.map((c) => preparePhase(c, { grid, config }));
  const t2 = now();
  let peaks = 0;
  const specs = phases.map((p) => {
    const e = drawEffects(config, rng);
    // Impurity phases: other structures of the same batch.
    const extra = e.impurities.map((imp) => phases[Math.floor(imp.pick * phases.length)]);
    const spec = applyEffects([p, ...extra], e, grid);
    peaks += spec.count;
    return spec;
  });
  const t3 = now();
  const tensors = renderPatternsChunked(engine, specs, grid);
  const t4 = now();
  await engine.sync();
  const t5 = now();
  const data = await Promise.all(tensors.map((t) => t.read()));
  const t6 = now();
  for (const t of tensors) t.dispose();
  const total = data.reduce((s, d) => s + d.length, 0);
  if (total !== batch * grid.points) throw new Error(`read ${total} values, expected ${batch * grid.points}`);
  return {
    stages: { crystals: t1 - t0, reflections: t2 - t1, effects: t3 - t2, upload: t4 - t3, gpu: t5 - t4, readback: t6 - t5 },
    meanPeaks: peaks / batch,
  };
}

/**
 * `batch` patterns through the public streaming API (simulate(), synthetic source), read back:
 * the path training uses. Batches larger than one tensor are streamed as several.
 */
async function runStream(engine: Engine, batch: number, o: Opts): Promise<number> {
  const per = Math.min(batch, maxPatternsPerTensor(engine, DEFAULT_GRID));
  const t0 = now();
  let n = 0;
  for await (const b of simulate({ engine, source: 'synthetic', batchSize: per, batches: Math.ceil(batch / per), effects: o.preset, seed: o.seed + 2 })) {
    await b.patterns.read();
    n += b.meta.length;
    b.patterns.dispose();
    b.spaceGroup.dispose();
    b.crystalSystem.dispose();
  }
  if (n < batch) throw new Error(`stream gave ${n} patterns, expected ${batch}`);
  return ((now() - t0) * batch) / n;
}

/** A P1 CIF of a crystal (every atom listed), for pymatgen. */
function crystalToP1Cif(c: Crystal): string {
  const l = c.lattice;
  const lines = [
    `data_${c.name.replace(/[^A-Za-z0-9_-]/g, '_') || 'crystal'}`,
    `_cell_length_a ${l.a}`,
    `_cell_length_b ${l.b}`,
    `_cell_length_c ${l.c}`,
    `_cell_angle_alpha ${l.alpha}`,
    `_cell_angle_beta ${l.beta}`,
    `_cell_angle_gamma ${l.gamma}`,
    "_symmetry_space_group_name_H-M 'P 1'",
    '_symmetry_Int_Tables_number 1',
    'loop_',
    '_symmetry_equiv_pos_as_xyz',
    "'x, y, z'",
    'loop_',
    '_atom_site_label',
    '_atom_site_type_symbol',
    '_atom_site_fract_x',
    '_atom_site_fract_y',
    '_atom_site_fract_z',
    '_atom_site_occupancy',
    '_atom_site_B_iso_or_equiv',
  ];
  c.sites.forEach((s, i) => {
    const charge = s.charge === null || s.charge === 0 ? '' : `${Math.abs(s.charge)}${s.charge > 0 ? '+' : '-'}`;
    lines.push(`${s.element}${i} ${s.element}${charge} ${s.frac[0]} ${s.frac[1]} ${s.frac[2]} ${s.occupancy} ${s.biso}`);
  });
  return lines.join('\n') + '\n';
}

interface PeerResult {
  available: boolean;
  reason?: string;
  pymatgen?: string;
  structures?: number;
  get_pattern?: { patterns_per_s: number; mean_peaks: number };
  get_pattern_render?: { patterns_per_s: number };
}

function runPeer(dir: string, seconds: number): PeerResult {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return { available: false, reason: '/usr/bin/python3 not found; install Debian python3-pymatgen' };
  try {
    const out = execFileSync(py, [join(root, 'bench/pymatgen_sim.py'), dir, '--seconds', String(seconds)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out.trim().split('\n').pop() ?? '{}') as PeerResult;
  } catch (e) {
    return { available: false, reason: `pymatgen_sim.py failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
}

function cifSource(): { dir: string; texts: { name: string; text: string }[] } {
  const shared = resolve(root, '../shared/data/reference-xrd');
  const dir = existsSync(shared) ? shared : join(root, 'examples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.cif')).sort();
  return { dir, texts: files.map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') })) };
}

function fmtRate(v: number | null): string {
  if (v === null) return 'n/a';
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

async function main(): Promise<void> {
  const o = parseOpts();
  const config = resolveEffects(o.preset);
  const engine = await createEngine();
  const log = (s: string): void => {
    if (!o.json) process.stderr.write(s + '\n');
  };
  const tmp = mkdtempSync(join(tmpdir(), 'xrd-bench-sim-'));
  const rows: Row[] = [];
  const peers: Record<string, PeerResult> = {};
  try {
    log(`device: ${engine.info.description || engine.info.device} (${engine.info.backend}, wait ${engine.waitStrategy}); preset ${o.preset}; grid ${DEFAULT_GRID.points} points`);
    const rng = new Rng(o.seed);
    // Warm-up: compile the pipelines and touch every code path once.
    await runBatch(engine, 8, config, rng, { makeCrystal: (i) => generateCrystal(1 + i * 29, rng) });

    const synthRng = new Rng(o.seed + 1);
    const synthAll: Crystal[] = [];
    const makeSynth = (): Crystal => {
      const c = generateCrystal(synthRng.int(1, 230), synthRng);
      if (synthAll.length < o.peerStructures) synthAll.push(c);
      return c;
    };
    const cifs = cifSource();
    const fresh = {
      synthetic: { makeCrystal: () => makeSynth() },
      cif: {
        makeCrystal: (i: number) => {
          const f = cifs.texts[i % cifs.texts.length];
          return parseCif(f.text, f.name)[0];
        },
      },
    };
    const prepared = cifs.texts.map((f) => preparePhase(parseCif(f.text, f.name)[0], { grid: DEFAULT_GRID, config }));
    const plan: [string, Row['mode'], Parameters<typeof runBatch>[4]][] = [
      ['synthetic', 'fresh', fresh.synthetic],
      ['cif', 'fresh', fresh.cif],
      ['cif', 'prepared', { phases: prepared }],
    ];
    for (const [source, mode, src] of plan) {
      for (const batch of o.batches) {
        log(`running ${source} ${mode} batch ${batch} ...`);
        const runs = await repeat(o.minSeconds, async () => {
          const r = await runBatch(engine, batch, config, rng, src);
          return { ...r, seconds: Object.values(r.stages).reduce((a, b) => a + b, 0) };
        });
        // The median run by time (the machine is shared: single runs are noisy).
        const { stages, meanPeaks, seconds } = median(runs);
        rows.push({ source, mode, batch, patternsPerSecond: batch / seconds, seconds, stages, meanPeaks, peerPatternsPerSecond: null, ratio: null, runs: runs.length });
      }
    }

    for (const batch of o.batches) {
      log(`running synthetic stream batch ${batch} ...`);
      const runs = await repeat(o.minSeconds, async () => ({ seconds: await runStream(engine, batch, o) }));
      const { seconds } = median(runs);
      rows.push({ source: 'synthetic', mode: 'stream', batch, patternsPerSecond: batch / seconds, seconds, stages: null, meanPeaks: NaN, peerPatternsPerSecond: null, ratio: null, runs: runs.length });
    }
    if (o.peer) {
      const synthDir = join(tmp, 'synthetic');
      mkdirSync(synthDir, { recursive: true });
      synthAll.forEach((c, i) => writeFileSync(join(synthDir, `synth-${String(i).padStart(4, '0')}.cif`), crystalToP1Cif(c)));
      log(`pymatgen on ${synthAll.length} of the synthetic structures ...`);
      peers.synthetic = runPeer(synthDir, o.peerSeconds);
      log(`pymatgen on the ${cifs.texts.length} CIFs of ${cifs.dir} ...`);
      peers.cif = runPeer(cifs.dir, o.peerSeconds);
      for (const r of rows) {
        const p = peers[r.source];
        if (p?.available && p.get_pattern_render) {
          r.peerPatternsPerSecond = p.get_pattern_render.patterns_per_s;
          r.ratio = r.patternsPerSecond / r.peerPatternsPerSecond;
        }
      }
    }
  } finally {
    engine.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }

  if (o.json) {
    process.stdout.write(JSON.stringify({ device: engine.info, wait: engine.waitStrategy, preset: o.preset, grid: DEFAULT_GRID, rows, pymatgen: peers }, null, 2) + '\n');
    return;
  }
  const head = ['source', 'mode', 'batch', 'ours pat/s', 'pymatgen pat/s', 'ratio'];
  const table = rows.map((r) => [r.source, r.mode, String(r.batch), fmtRate(r.patternsPerSecond), fmtRate(r.peerPatternsPerSecond), r.ratio === null ? 'n/a' : `${r.ratio.toFixed(1)}x`]);
  const w = head.map((h, j) => Math.max(h.length, ...table.map((t) => t[j].length)));
  const line = (cells: string[]): string => cells.map((c, j) => (j < 2 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('  ');
  console.log(line(head));
  for (const t of table) console.log(line(t));
  console.log('\nwhere the time goes (ms per pattern):');
  const sh = ['source', 'mode', 'batch', 'crystals', 'reflections', 'effects', 'upload', 'gpu', 'readback', 'peaks'];
  const st = rows.flatMap((r) => (r.stages === null ? [] : [[r.stages, r] as const])).map(([stages, r]) => [
    r.source,
    r.mode,
    String(r.batch),
    ...(['crystals', 'reflections', 'effects', 'upload', 'gpu', 'readback'] as const).map((k) => ((stages[k] / r.batch) * 1000).toFixed(3)),
    r.meanPeaks.toFixed(0),
  ]);
  const sw = sh.map((h, j) => Math.max(h.length, ...st.map((t) => t[j].length)));
  const sline = (cells: string[]): string => cells.map((c, j) => (j < 2 ? c.padEnd(sw[j]) : c.padStart(sw[j]))).join('  ');
  console.log(sline(sh));
  for (const t of st) console.log(sline(t));
  for (const [name, p] of Object.entries(peers)) {
    if (p.available) {
      console.log(
        `\npymatgen ${p.pymatgen} (${name}, ${p.structures} structures): get_pattern alone ${fmtRate(p.get_pattern?.patterns_per_s ?? null)} pat/s ` +
          `(${p.get_pattern?.mean_peaks.toFixed(0)} peaks), with NumPy rendering ${fmtRate(p.get_pattern_render?.patterns_per_s ?? null)} pat/s`,
      );
    } else {
      console.log(`\npymatgen (${name}) not measured: ${p.reason}; our numbers only`);
    }
  }
}

await main();
