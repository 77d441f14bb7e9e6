// Evaluation-mode forward passes in chunks that fit the device: logits -> probabilities, top-1
// predictions and the mean cross-entropy against labels.
import * as ag from '../engine/autograd.ts';
import { argmax } from '../engine/ops/reduce.ts';
import { softmax } from '../engine/ops/softmax-xent.ts';
import type { Tensor } from '../engine/tensor.ts';
import { applyTemperature } from './calibration.ts';
import type { Model } from './model.ts';

/** Most patterns per forward pass such that the largest activation fits one storage binding. */
export function maxMicroBatch(model: Model): number {
  const limit = model.engine.info.limits.maxStorageBufferBindingSize;
  return Math.max(1, Math.floor(limit / model.largestActivationBytes()));
}

/** Splits n into ceil(n / most) nearly equal consecutive chunks, as [from, to) pairs. */
export function chunks(n: number, most: number): [number, number][] {
  const count = Math.ceil(n / most);
  const out: [number, number][] = [];
  for (let c = 0; c < count; c++) out.push([Math.floor((c * n) / count), Math.floor(((c + 1) * n) / count)]);
  return out;
}

export interface Scores {
  /** Top-1 class per pattern. */
  predictions: Int32Array;
  /** Mean cross-entropy when labels were given, else NaN. */
  loss: number;
}

/**
 * Predictions for patterns [N, points] on the model's grid with maximum 1 (the tensor stays the
 * caller's). With labels, also the mean loss.
 */
export async function score(model: Model, patterns: Tensor<'f32'>, labels?: Int32Array): Promise<Scores> {
  const n = patterns.shape[0]!;
  const predictions = new Int32Array(n);
  let lossSum = 0;
  for (const { from, to, input } of inputChunks(model, patterns)) {
    const { pred, loss } = ag.noGrad(() => {
      const logits = model.forward(ag.variable(input), { training: false });
      const pred = argmax(model.engine, logits.data);
      const loss = labels ? ag.softmaxCrossEntropy(logits, labels.subarray(from, to)) : null;
      return { pred: ag.variable(pred), loss };
    });
    predictions.set((await pred.read()) as unknown as Int32Array, from);
    pred.dispose();
    if (loss) {
      lossSum += (await loss.readLoss()) * (to - from);
      loss.dispose();
    }
  }
  return { predictions, loss: labels ? lossSum / n : NaN };
}

/**
 * Class probabilities [N, classes] (softmax of the logits, at the model's calibrated temperature
 * when config.json has one) of patterns [N, points].
 */
export async function probabilities(model: Model, patterns: Tensor<'f32'>): Promise<Float32Array> {
  const c = model.classes.length;
  const out = new Float32Array(patterns.shape[0]! * c);
  for (const { from, input } of inputChunks(model, patterns)) {
    const probs = ag.noGrad(() => ag.variable(softmax(model.engine, model.forward(ag.variable(input), { training: false }).data)));
    out.set(await probs.read(), from * c);
    probs.dispose();
  }
  return applyTemperature(out, c, model.config.temperature ?? 1);
}

/**
 * The network input of patterns [N, points] in chunks that fit one pass: rows [from, to) with
 * the model's transform applied; each input is freed when the loop moves on.
 */
function* inputChunks(model: Model, patterns: Tensor<'f32'>): Generator<{ from: number; to: number; input: Tensor<'f32'> }> {
  const [n, points] = patterns.shape as [number, number];
  for (const [from, to] of chunks(n, maxMicroBatch(model))) {
    const rows = sliceRows(patterns, from, to, points);
    const input = model.prepareInput(rows);
    rows.dispose();
    try {
      yield { from, to, input };
    } finally {
      input.dispose();
    }
  }
}

/** Rows [from, to) of a [N, points] tensor (a view when it is the whole tensor, else a copy). */
function sliceRows(t: Tensor<'f32'>, from: number, to: number, points: number): Tensor<'f32'> {
  if (from === 0 && to === t.shape[0]) return t.reshape([to, points]);
  const out = t.engine.empty([to - from, points]);
  t.engine.copyRange(t, from * points, out, 0, (to - from) * points);
  return out;
}
