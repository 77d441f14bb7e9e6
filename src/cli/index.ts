// `xrd index pattern.xy`: peak picking and powder indexing of one measured pattern: the best
// cells per lattice type with figures of merit, the indexed peak list and the crystal-system
// verdict of the indexing. Thin over src/physics.
import { writeFileSync } from 'node:fs';
import { UsageError } from './args.ts';
import type { CliIO, Command } from './command.ts';

function hkl(h: readonly number[]): string {
  return h.every((v) => v >= 0 && v <= 9) ? h.join('') : h.join(' ');
}

function f(v: number, d: number): string {
  return Number.isFinite(v) ? v.toFixed(d) : '-';
}

export const indexCommand: Command = {
  name: 'index',
  summary: 'pick peaks and index a pattern: unit cells per lattice type, M20, F_N, centring, hkl',
  usage: 'xrd index PATTERN [--json] [--cpu] [--plot FILE.svg] [--wavelength A] [--tol DEG] [--kalpha2 auto|yes|no]',
  description: [
    'Picks the peaks of a measured pattern (Savitzky-Golay smoothing, SNIP background, peaks above',
    '4 sigma of the local noise and 5 % of the strongest; Cu K-alpha2 modelled when the pattern shows',
    'it, positions then refer to K-alpha1) and indexes the first 20 lines in Q = 1/d^2: trial cells',
    'from the first lines (cubic from one, tetragonal and hexagonal from pairs, orthorhombic from',
    'triples) scored on the GPU (--cpu: on the CPU), the best refined by least squares with a zero',
    'shift. Prints per lattice type the best cells (a, b, c, angles, volume, de Wolff M20,',
    'Smith-Snyder F_N, lines indexed, zero shift, centring), the indexed peaks of the verdict\'s cell',
    'with hkl, and the verdict: the highest symmetry whose cell passes the M20 and unindexed-line',
    'rule, else monoclinic (not searched). Too few peaks: "no cell found" and the reason.',
  ].join('\n'),
  flags: [
    { name: 'json', type: 'boolean', description: 'one JSON object on stdout' },
    { name: 'cpu', type: 'boolean', description: 'score trial cells on the CPU instead of the GPU' },
    { name: 'plot', type: 'string', value: 'FILE', description: 'write an SVG of the pattern with the cell\'s calculated lines as ticks' },
    { name: 'wavelength', type: 'number', value: 'A', description: 'wavelength in angstrom when the file has no header for it (default Cu K-alpha 1.5418)' },
    { name: 'tol', type: 'number', value: 'DEG', description: 'a line is indexed within this 2-theta tolerance (or 2.5 sigma)', default: 0.04 },
    { name: 'kalpha2', type: 'string', value: 'MODE', description: 'auto: detect a Cu K-alpha2 component; yes; no', default: 'auto' },
  ],
  examples: ['xrd index examples/TiO2-rutile-realistic.xy', 'xrd index pattern.xy --json > cell.json', 'xrd index pattern.xy --plot cell.svg'],
  async run(args, io: CliIO) {
    const { flags, positionals } = args;
    if (positionals.length !== 1) throw new UsageError("xrd index takes one pattern file; see 'xrd index --help'");
    const tol = flags.tol as number;
    if (!(tol > 0 && tol < 1)) throw new UsageError(`--tol must be between 0 and 1 degree, got ${tol}`);
    const wl = flags.wavelength as number | undefined;
    if (wl !== undefined && !(wl > 0 && wl < 10)) throw new UsageError(`--wavelength must be a positive number of angstrom, got ${wl}`);
    const k2 = flags.kalpha2 as string;
    if (!['auto', 'yes', 'no'].includes(k2)) throw new UsageError(`--kalpha2 must be auto, yes or no, got '${k2}'`);
    const { readPatternFile } = await import('../io/patterns.ts');
    const { indexPattern } = await import('../physics/index.ts');
    const pattern = readPatternFile(positionals[0]!);
    const wavelength = pattern.wavelength ?? wl ?? 1.5418;
    let destroy = () => {};
    let scorer;
    if (!flags.cpu) {
      const { createEngine } = await import('../engine/engine.ts');
      const { gpuScorer } = await import('../physics/score-gpu.ts');
      const engine = await createEngine();
      destroy = () => engine.destroy();
      scorer = gpuScorer(engine);
    }
    let r;
    try {
      r = await indexPattern(pattern.twoTheta, pattern.intensity, { scorer, tol, peaks: { wavelength, kalpha2: k2 as 'auto' | 'yes' | 'no' } });
    } finally {
      destroy();
    }
    const best = r.best;
    const cellJson = (s: (typeof r.types)[number]['solutions'][number]) => ({
      lattice: s.type,
      centring: s.centring,
      a: s.cell.a,
      b: s.cell.b,
      c: s.cell.c,
      alpha: s.cell.alpha,
      beta: s.cell.beta,
      gamma: s.cell.gamma,
      volume: s.cell.volume,
      m20: s.m20,
      m20_n: s.n,
      f_n: s.fn,
      f_n_mean_delta: s.fnMeanDelta,
      f_n_possible: s.fnPossible,
      indexed: s.indexedN,
      indexed_all: s.indexedAll,
      zero_shift: s.zero,
    });
    if (flags.plot) {
      const { patternSvg } = await import('../plot/pattern-svg.ts');
      const { calculatedLines, qFromTwoTheta, twoThetaFromQ } = await import('../physics/lattice.ts');
      const last = pattern.twoTheta[pattern.twoTheta.length - 1]!;
      const ticks = best
        ? calculatedLines(best.type, best.form, qFromTwoTheta(Math.min(last, 179), r.wavelength), best.centring).map((l) => {
            const tt = twoThetaFromQ(l.q, r.wavelength) + best.zero;
            const obs = r.peaks.find((p) => Math.abs(p.twoTheta - tt) < tol);
            return { two_theta: tt, intensity: obs ? obs.relative * 100 : 1, hkl: l.hkls.slice(0, 1) };
          })
        : [];
      const title = best ? `${pattern.file}: ${r.system}, ${best.type} ${best.centring} a=${f(best.cell.a, 4)} b=${f(best.cell.b, 4)} c=${f(best.cell.c, 4)} M${best.n}=${f(best.m20, 1)}` : `${pattern.file}: no cell found`;
      writeFileSync(flags.plot as string, patternSvg({ x: pattern.twoTheta, y: pattern.intensity, title, peaks: ticks, labelCount: 12 }));
    }
    if (flags.json) {
      const out = {
        file: pattern.file,
        wavelength: r.wavelength,
        kalpha2: r.pick.kalpha2,
        peaks: r.peaks.map((p) => ({ two_theta: p.twoTheta, sigma: p.sigma, d: p.d, height: p.relative, fwhm: p.fwhm })),
        verdict: { crystal_system: r.system, reason: r.reason, cell: best ? cellJson(best) : null },
        lattices: r.types.map((t) => ({ lattice: t.type, trials: t.trials, passes: t.passes, reason: t.reason, cells: t.solutions.map(cellJson) })),
        indexed: best ? best.lines.map((l) => ({ two_theta: l.twoTheta, calc: l.calc, delta: l.delta, hkl: l.hkl })) : [],
        ms: r.ms,
      };
      io.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
      return 0;
    }
    const say = (s: string) => void io.stdout.write(`${s}\n`);
    say(`${pattern.file}: ${r.peaks.length} peaks picked${r.pick.kalpha2 ? ' (Cu K-alpha2 modelled; positions are K-alpha1, 1.540562 A)' : ''}, first ${r.lines.length} indexed at ${r.wavelength} A`);
    say(`verdict: ${r.system ?? 'none'} (${r.reason})`);
    say('');
    const head = ['lattice', 'a', 'b', 'c', 'alpha', 'beta', 'gamma', 'volume', 'M20', 'F_N', 'indexed', 'zero', 'centring'];
    const rows: string[][] = [];
    for (const t of r.types) {
      if (t.solutions.length === 0) {
        rows.push([t.type, `no cell found: ${t.reason}`]);
        continue;
      }
      t.solutions.forEach((s, i) => {
        rows.push([
          i === 0 ? `${t.type}${t.passes ? ' *' : ''}` : '',
          f(s.cell.a, 4),
          f(s.cell.b, 4),
          f(s.cell.c, 4),
          f(s.cell.alpha, 2),
          f(s.cell.beta, 2),
          f(s.cell.gamma, 2),
          f(s.cell.volume, 1),
          f(s.m20, 1),
          `${f(s.fn, 1)}(${f(s.fnMeanDelta, 4)},${s.fnPossible})`,
          `${s.indexedN}/${s.n}`,
          f(s.zero, 3),
          s.centring,
        ]);
      });
    }
    const w = head.map((h, j) => Math.max(h.length, ...rows.filter((r) => r.length > 2).map((r) => r[j]!.length)));
    const line = (cells: string[]) => (cells.length === 2 ? `${cells[0]!.padEnd(w[0]!)}  ${cells[1]}` : cells.map((c, j) => (j === 0 ? c.padEnd(w[j]!) : c.padStart(w[j]!))).join('  '));
    say(line(head));
    for (const row of rows) say(line(row));
    say('* passes the verdict rule (M20 threshold, few unindexed lines); F_N shown as value(mean |delta 2-theta|, possible lines)');
    if (best) {
      say('');
      say(`indexed peaks, ${best.type} ${best.centring} cell:`);
      say(`${'2th obs'.padStart(8)}  ${'2th calc'.padStart(8)}  ${'delta'.padStart(7)}  ${'d (A)'.padStart(7)}  hkl`);
      best.lines.forEach((l) => {
        const d = r.wavelength / (2 * Math.sin((l.twoTheta * Math.PI) / 360));
        say(`${f(l.twoTheta, 3).padStart(8)}  ${(l.calc === null ? '-' : f(l.calc, 3)).padStart(8)}  ${(l.delta === null ? '-' : f(l.delta, 4)).padStart(7)}  ${f(d, 4).padStart(7)}  ${l.hkl.length ? l.hkl.slice(0, 3).map(hkl).join(' / ') + (l.hkl.length > 3 ? ` (+${l.hkl.length - 3} more)` : '') : 'unindexed'}`);
      });
    }
    return 0;
  },
};
