// Trial-cell scoring, GPU kernel (kernels/index_score.wgsl) against its CPU reference in the same
// run: the trial sets of real indexing runs (20 lines of rruff-dev patterns, or a synthetic
// orthorhombic line list when the data are absent), and one large set (every orthorhombic trial
// from the first 9 lines) where the GPU has room to pay.
//
//   npx tsx bench/index-score.ts [--patterns 4] [--repeat 3]
import { existsSync } from 'node:fs';
import { createEngine } from '../src/engine/engine.ts';
import { patternFilesIn, readPatternFile } from '../src/io/patterns.ts';
import { calculatedLines, dqDTwoTheta, formOf, qFromTwoTheta, twoThetaFromQ, type LatticeType } from '../src/physics/lattice.ts';
import { pickPeaks } from '../src/physics/peaks.ts';
import { packTrials, RESULT_STRIDE, scoreSpecFor, scoreTrialsCpu } from '../src/physics/score.ts';
import { scoreTrialsGpu } from '../src/physics/score-gpu.ts';
import { trialForms } from '../src/physics/trials.ts';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const nPatterns = Number(flag('patterns', '4'));
const repeat = Number(flag('repeat', '3'));
const DATA = '../shared/data/rruff-dev';

/** Line lists: picked peaks of rruff-dev patterns, else one synthetic orthorhombic cell. */
function lineLists(): { name: string; twoTheta: number[]; lambda: number }[] {
  if (existsSync(DATA)) {
    return patternFilesIn(DATA)
      .slice(0, 40)
      .map((f) => {
        const p = readPatternFile(f);
        const pick = pickPeaks(p.twoTheta, p.intensity, { wavelength: p.wavelength ?? 1.5418 });
        return { name: f.split('/').pop()!, twoTheta: pick.peaks.map((q) => q.twoTheta).slice(0, 20), lambda: pick.wavelength };
      })
      .filter((l) => l.twoTheta.length >= 15)
      .slice(0, nPatterns);
  }
  const f = formOf('orthorhombic', [1 / 5.1 ** 2, 1 / 7.3 ** 2, 1 / 9.9 ** 2]);
  return [{ name: 'synthetic-orthorhombic', twoTheta: calculatedLines('orthorhombic', f, qFromTwoTheta(90, 1.5406)).slice(0, 20).map((l) => twoThetaFromQ(l.q, 1.5406)), lambda: 1.5406 }];
}

function best(fn: () => void): number {
  let t = Infinity;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

async function bestAsync(fn: () => Promise<unknown>): Promise<number> {
  let t = Infinity;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

const engine = await createEngine();
console.log(`adapter: ${engine.info.description || engine.info.device} (${engine.info.backend}${engine.info.isSoftware ? ', software' : ''})`);
const rows: string[] = [];
try {
  for (const l of lineLists()) {
    const q = l.twoTheta.map((t) => qFromTwoTheta(t, l.lambda));
    const tol = l.twoTheta.map((t) => dqDTwoTheta(t, l.lambda) * 0.06);
    const sets: [string, LatticeType, number][] = [
      ['tetragonal', 'tetragonal', 7],
      ['orthorhombic', 'orthorhombic', 7],
      ['orthorhombic, 9 lines', 'orthorhombic', 9],
    ];
    for (const [label, type, first] of sets) {
      const forms = trialForms(type, q, { firstLines: { [type]: first } });
      const trials = packTrials(forms);
      const spec = scoreSpecFor(type, q, tol);
      let cpu: Float32Array = new Float32Array(0);
      const tCpu = best(() => {
        cpu = scoreTrialsCpu(spec, trials);
      });
      let gpu: Float32Array = await scoreTrialsGpu(engine, spec, trials); // warm-up: pipeline, buffers
      const tGpu = await bestAsync(async () => {
        gpu = await scoreTrialsGpu(engine, spec, trials);
      });
      let same = 0;
      for (let t = 0; t < forms.length; t++) if (gpu[t * RESULT_STRIDE] === cpu[t * RESULT_STRIDE]) same++;
      rows.push(
        `${l.name.padEnd(20)} ${label.padEnd(22)} ${String(forms.length).padStart(8)} trials  cpu ${tCpu.toFixed(0).padStart(6)} ms  gpu ${tGpu.toFixed(0).padStart(6)} ms  ` +
          `(${((forms.length / tGpu) * 1e3).toFixed(0)} vs ${((forms.length / tCpu) * 1e3).toFixed(0)} trials/s, ${(tCpu / tGpu).toFixed(2)}x)  counts equal ${((100 * same) / forms.length).toFixed(2)} %`,
      );
      console.log(rows[rows.length - 1]);
    }
  }
} finally {
  engine.destroy();
}
