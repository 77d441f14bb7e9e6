// Trial-cell scoring: every trial quadratic form against the observed lines. For each line the
// nearest calculated Q is found by looping over (h, k) and solving the form for l, so the cost per
// line grows with Q (low lines are cheap). Per trial the scorer returns
//   [lines indexed within tolerance, sum of min(|dQ| / tol, 1), sum of min(|dQ|, tol), hkl count],
// where the hkl count is the number of index triples (in the lattice type's asymmetric unit of
// the P lattice) with Q <= the last line: a cheap stand-in for the N of de Wolff's M20, used to
// rank trials before refinement. This file is the CPU reference; score-gpu.ts runs the same
// computation as the WGSL kernel kernels/index_score.wgsl.
import type { Form, LatticeType } from './lattice.ts';

/** Floats per trial in the packed trial array (six coefficients and two spare). */
export const TRIAL_STRIDE = 8;
/** Floats per trial in the result. */
export const RESULT_STRIDE = 4;
/** Largest |h|, |k|, |l| looped over (bounds the work per trial). */
export const MAX_INDEX = 24;

export interface ScoreSpec {
  /** Observed Q = 1/d^2, ascending. */
  q: Float32Array;
  /** Tolerance on Q per line (> 0). */
  tol: Float32Array;
  /** h runs over negative values too (monoclinic). */
  hSigned: boolean;
  /** Asymmetric unit used for the hkl count: 0 none, 1 h >= k, 2 h >= k >= l. */
  canon: 0 | 1 | 2;
}

export function scoreSpecFor(type: LatticeType, q: ArrayLike<number>, tol: ArrayLike<number>): ScoreSpec {
  return {
    q: Float32Array.from(q),
    tol: Float32Array.from(tol),
    hSigned: type === 'monoclinic',
    canon: type === 'cubic' ? 2 : type === 'tetragonal' || type === 'hexagonal' ? 1 : 0,
  };
}

export function packTrials(forms: readonly Form[]): Float32Array {
  const out = new Float32Array(forms.length * TRIAL_STRIDE);
  forms.forEach((f, t) => out.set(f, t * TRIAL_STRIDE));
  return out;
}

/** Diagonal of the direct metric (a^2, b^2, c^2) of a packed form; zeros if singular. */
export function directDiagonal(A: number, B: number, C: number, D: number, E: number, F: number): [number, number, number] {
  // reciprocal metric [[A, D/2, E/2], [D/2, B, F/2], [E/2, F/2, C]]
  const d = D / 2;
  const e = E / 2;
  const f = F / 2;
  const det = A * (B * C - f * f) - d * (d * C - f * e) + e * (d * f - B * e);
  if (!(det > 0)) return [0, 0, 0];
  return [(B * C - f * f) / det, (A * C - e * e) / det, (A * B - d * d) / det];
}

/** CPU reference of the scoring kernel (float64). */
export function scoreTrialsCpu(spec: ScoreSpec, trials: Float32Array): Float32Array {
  const nLines = spec.q.length;
  const nTrials = trials.length / TRIAL_STRIDE;
  const out = new Float32Array(nTrials * RESULT_STRIDE);
  if (nLines === 0) return out;
  const qLast = spec.q[nLines - 1]! + spec.tol[nLines - 1]!;
  for (let t = 0; t < nTrials; t++) {
    const o = t * TRIAL_STRIDE;
    const A = trials[o]!;
    const B = trials[o + 1]!;
    const C = trials[o + 2]!;
    const D = trials[o + 3]!;
    const E = trials[o + 4]!;
    const F = trials[o + 5]!;
    const [g1, g2, g3] = directDiagonal(A, B, C, D, E, F);
    if (!(g1 > 0) || !(C > 0)) {
      out[t * RESULT_STRIDE + 1] = nLines;
      out[t * RESULT_STRIDE + 2] = sumTol(spec);
      continue;
    }
    let count = 0;
    let sumRatio = 0;
    let sumAbs = 0;
    for (let i = 0; i < nLines; i++) {
      const q = spec.q[i]!;
      const tol = spec.tol[i]!;
      const qq = q + tol;
      const H = Math.min(MAX_INDEX, Math.floor(Math.sqrt(g1 * qq)));
      const K = Math.min(MAX_INDEX, Math.floor(Math.sqrt(g2 * qq)));
      let best = Infinity;
      for (let h = spec.hSigned ? -H : 0; h <= H; h++) {
        for (let k = 0; k <= K; k++) {
          const base = A * h * h + B * k * k + D * h * k;
          const lin = E * h + F * k;
          const disc = lin * lin - 4 * C * (base - q);
          const l0 = disc > 0 ? (-lin + Math.sqrt(disc)) / (2 * C) : -lin / (2 * C);
          const lf = Math.floor(l0);
          for (let l = lf; l <= lf + 1; l++) {
            if (l < 0 || l > MAX_INDEX) continue;
            if (h === 0 && k === 0 && l === 0) continue;
            const r = Math.abs(q - (base + lin * l + C * l * l));
            if (r < best) best = r;
          }
        }
      }
      if (best <= tol) {
        count++;
        sumRatio += best / tol;
        sumAbs += best;
      } else {
        sumRatio += 1;
        sumAbs += tol;
      }
    }
    // hkl count below the last line
    const H = Math.min(MAX_INDEX, Math.floor(Math.sqrt(g1 * qLast)));
    const K = Math.min(MAX_INDEX, Math.floor(Math.sqrt(g2 * qLast)));
    const L = Math.min(MAX_INDEX, Math.floor(Math.sqrt(g3 * qLast)));
    let nCalc = 0;
    for (let h = spec.hSigned ? -H : 0; h <= H; h++) {
      for (let k = 0; k <= K; k++) {
        if (spec.canon >= 1 && k > Math.abs(h)) continue;
        for (let l = 0; l <= L; l++) {
          if (spec.canon === 2 && l > k) continue;
          if (h === 0 && k === 0 && l === 0) continue;
          if (h < 0 && l === 0) continue;
          const qc = A * h * h + B * k * k + C * l * l + D * h * k + E * h * l + F * k * l;
          if (qc <= qLast) nCalc++;
        }
      }
    }
    out[t * RESULT_STRIDE] = count;
    out[t * RESULT_STRIDE + 1] = sumRatio;
    out[t * RESULT_STRIDE + 2] = sumAbs;
    out[t * RESULT_STRIDE + 3] = nCalc;
  }
  return out;
}

function sumTol(spec: ScoreSpec): number {
  let s = 0;
  for (const v of spec.tol) s += v;
  return s;
}

/** A scorer: the CPU reference, or the GPU kernel (score-gpu.ts). */
export type TrialScorer = (spec: ScoreSpec, trials: Float32Array) => Promise<Float32Array>;

export const cpuScorer: TrialScorer = async (spec, trials) => scoreTrialsCpu(spec, trials);
