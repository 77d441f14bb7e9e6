// Which parts of a pattern drove a prediction: integrated gradients (Sundararajan et al. 2017)
// of the class's log-probability with respect to the network input, from a zero baseline, with
// the m interpolation points run as one batch through our autograd. Attributions sum to about
// log p(class | pattern) - log p(class | zeros); positive ones mark the 2-theta regions that
// support the class. Peaks of the pattern are ranked by the positive attribution around them.
import * as ag from '../engine/autograd.ts';
import { Variable } from '../engine/autograd.ts';
import { spreadToGrid } from './input-axis.ts';
import type { Model } from './model.ts';
import { predictRows } from './predict.ts';

export interface PeakShare {
  twoTheta: number;
  /** Pattern intensity at the peak (maximum 1). */
  intensity: number;
  /** Share of the pattern's positive attribution within +-window of the peak. */
  share: number;
}

export interface Explanation {
  classIndex: number;
  label: string;
  probability: number;
  /** Signed attribution per grid point. */
  attribution: Float32Array;
  /** Peaks by share of the positive attribution, largest first. */
  peaks: PeakShare[];
}

export interface ExplainOptions {
  /** Explain this class (default: the predicted one). */
  classIndex?: number;
  /** Interpolation points of the integral (default 16). */
  steps?: number;
  /** Half-width in degrees of the window credited to a peak (default 0.15). */
  window?: number;
}

/** The positive attributions scaled to 0-1 (the largest is 1): the shading a plot puts behind the pattern. */
export function supportShading(attribution: Float32Array): Float32Array {
  let top = 0;
  for (const a of attribution) top = Math.max(top, a);
  return Float32Array.from(attribution, (a) => (top > 0 ? Math.max(0, a) / top : 0));
}

/** values: one pattern on the model's grid, maximum 1. */
export async function explain(model: Model, values: Float32Array, o: ExplainOptions = {}): Promise<Explanation> {
  const { engine } = model;
  const grid = model.config.input;
  const P = grid.points;
  const probs = await predictRows(engine, model, values, 1);
  let c = o.classIndex ?? 0;
  if (o.classIndex === undefined) for (let k = 1; k < probs.length; k++) if (probs[k]! > probs[c]!) c = k;
  const m = o.steps ?? 16;
  const raw = engine.tensor(values, [1, P]);
  const input = model.prepareInput(raw);
  raw.dispose();
  const x = (await input.read()) as Float32Array;
  input.dispose();
  // Attributions are computed on the network input (grid points, or log-q bins) and then spread
  // back onto the grid, keeping each bin's total.
  const L = x.length;
  const scaled = new Float32Array(m * L);
  for (let k = 0; k < m; k++) {
    const a = (k + 0.5) / m;
    for (let j = 0; j < L; j++) scaled[k * L + j] = a * x[j]!;
  }
  const leaf = new Variable(engine.tensor(scaled, [m, 1, L]), true, 'input');
  const loss = ag.softmaxCrossEntropy(model.forward(leaf, { training: false }), new Int32Array(m).fill(c));
  loss.backward();
  const grad = (await leaf.grad!.read()) as Float32Array;
  leaf.dispose();
  // The mean loss gives each row 1/m of d(-log p)/dx: their sum is minus the mean gradient of log p.
  const perInput = new Float32Array(L);
  for (let j = 0; j < L; j++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += grad[k * L + j]!;
    perInput[j] = -x[j]! * s;
  }
  const starts = model.binStarts();
  const attribution = starts ? spreadToGrid(perInput, starts) : perInput;
  return { classIndex: c, label: model.classes[c]!, probability: probs[c]!, attribution, peaks: peakShares(values, attribution, grid.twoThetaMin, grid.step, o.window ?? 0.15) };
}

/** Local maxima above 5 % of the maximum, each credited with the positive attribution near it. */
export function peakShares(values: Float32Array, attribution: Float32Array, twoThetaMin: number, step: number, window: number): PeakShare[] {
  let total = 0;
  for (const a of attribution) if (a > 0) total += a;
  const half = Math.max(1, Math.round(window / step));
  const peaks: PeakShare[] = [];
  for (let i = 1; i < values.length - 1; i++) {
    const v = values[i]!;
    if (v < 0.05 || v < values[i - 1]! || v <= values[i + 1]!) continue;
    // the highest point within the window only
    let isMax = true;
    for (let j = Math.max(0, i - half); j <= Math.min(values.length - 1, i + half) && isMax; j++) if (values[j]! > v) isMax = false;
    if (!isMax) continue;
    let s = 0;
    for (let j = Math.max(0, i - half); j <= Math.min(values.length - 1, i + half); j++) if (attribution[j]! > 0) s += attribution[j]!;
    peaks.push({ twoTheta: twoThetaMin + i * step, intensity: v, share: total > 0 ? s / total : 0 });
  }
  return peaks.sort((a, b) => b.share - a.share);
}
