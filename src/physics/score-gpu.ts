// Trial-cell scoring on the GPU: kernels/index_score.wgsl through our engine, one invocation per
// trial. Same inputs and outputs as scoreTrialsCpu (score.ts), which is its reference.
import type { Engine } from '../engine/engine.ts';
import { grid1d } from '../engine/ops/common.ts';
import { MAX_INDEX, RESULT_STRIDE, TRIAL_STRIDE, type ScoreSpec, type TrialScorer } from './score.ts';

const WORKGROUP = 64;
/** Trials per dispatch: bounds the buffers and the time one dispatch holds the GPU. */
const CHUNK = 1 << 18;

export async function scoreTrialsGpu(engine: Engine, spec: ScoreSpec, trials: Float32Array): Promise<Float32Array> {
  if (trials.length % TRIAL_STRIDE !== 0) throw new RangeError(`scoreTrialsGpu: trials must hold ${TRIAL_STRIDE} floats per trial, got ${trials.length}`);
  const nTrials = trials.length / TRIAL_STRIDE;
  const nLines = spec.q.length;
  const out = new Float32Array(nTrials * RESULT_STRIDE);
  if (nTrials === 0 || nLines === 0) return out;
  const packed = new Float32Array(nLines * 2);
  let sumTol = 0;
  for (let i = 0; i < nLines; i++) {
    packed[2 * i] = spec.q[i]!;
    packed[2 * i + 1] = spec.tol[i]!;
    sumTol += spec.tol[i]!;
  }
  const lines = engine.tensor(packed, [nLines, 2]);
  try {
    for (let start = 0; start < nTrials; start += CHUNK) {
      const n = Math.min(CHUNK, nTrials - start);
      const t = engine.tensor(trials.subarray(start * TRIAL_STRIDE, (start + n) * TRIAL_STRIDE), [n, TRIAL_STRIDE]);
      const scores = engine.empty([n, RESULT_STRIDE]);
      try {
        const { workgroups, row } = grid1d(engine, n, WORKGROUP);
        const p = {
          n_lines: nLines,
          n_trials: n,
          row,
          h_signed: spec.hSigned ? 1 : 0,
          canon: spec.canon,
          max_index: MAX_INDEX,
          q_last: spec.q[nLines - 1]! + spec.tol[nLines - 1]!,
          sum_tol: sumTol,
        };
        engine.dispatch('index_score', 'score', { bindings: { p, lines, trials: t, scores }, workgroups });
        out.set(await scores.read(), start * RESULT_STRIDE);
      } finally {
        t.dispose();
        scores.dispose();
      }
    }
  } finally {
    lines.dispose();
  }
  return out;
}

/** A TrialScorer running on `engine`. */
export function gpuScorer(engine: Engine): TrialScorer {
  return (spec, trials) => scoreTrialsGpu(engine, spec, trials);
}
