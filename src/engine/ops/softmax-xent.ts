// Fused softmax + cross-entropy (kernels/softmax_xent.wgsl) and plain softmax for inference.
//
// Bad labels, no silent garbage: labels given as an Int32Array are checked on the CPU before
// anything runs (ValueError naming the index and value). Labels already on the GPU cannot be
// checked without a readback, so the kernel writes NaN into the loss and gradient rows of any
// out-of-range label, and records the first one in `status`. `readLoss()` / `check()` read that
// status and throw the same ValueError; reading `loss` directly gives NaN, never a plausible
// number. The autograd/training code should read the loss through `readLoss()`.
import type { Engine } from '../engine.ts';
import { ShapeError, ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { grid1d, requireF32 } from './common.ts';

export interface SoftmaxXentOptions {
  /** Multiplies the gradient (default 1): grad = (softmax - onehot) * gradScale / N. */
  gradScale?: number;
}

export interface SoftmaxXentResult {
  /** Mean loss over the batch, shape [1]. */
  loss: Tensor<'f32'>;
  /** Per-sample loss, shape [N]. */
  losses: Tensor<'f32'>;
  /** d(mean loss)/d(logits) * gradScale, shape [N, C]. */
  grad: Tensor<'f32'>;
  /** [0, 0] when every label was valid, else [1 + first bad row, its label] (see check()). */
  status: Tensor<'i32'>;
  /** Throws a ValueError if any label was out of range. */
  check(): Promise<void>;
  /** check(), then the mean loss as a number. */
  readLoss(): Promise<number>;
  /** Disposes every tensor of the result. */
  dispose(): void;
}

function badLabel(index: number, value: number, c: number): ValueError {
  return new ValueError(
    `softmaxCrossEntropy: label ${value} at index ${index} is out of range for ${c} classes; labels must be integers in 0..${c - 1}`,
  );
}

function requireLogits(op: string, logits: Tensor): [number, number] {
  requireF32(op, 'logits', logits);
  if (logits.shape.length !== 2 || logits.size === 0) {
    throw new ShapeError(`${op}: logits must be a non-empty 2-D tensor [N, C], got shape [${logits.shape.join(', ')}]`);
  }
  return logits.shape as [number, number];
}

/**
 * Mean cross-entropy of softmax(logits) against integer labels, per-sample losses and the gradient
 * with respect to the logits, in one pass. logits [N, C] f32; labels [N] as an i32 tensor or an
 * Int32Array (checked on the CPU and uploaded).
 */
export function softmaxCrossEntropy(
  engine: Engine,
  logits: Tensor,
  labels: Tensor | Int32Array,
  options: SoftmaxXentOptions = {},
): SoftmaxXentResult {
  const op = 'softmaxCrossEntropy';
  const [n, c] = requireLogits(op, logits);
  const gradScale = options.gradScale ?? 1;
  if (typeof gradScale !== 'number' || !Number.isFinite(gradScale)) throw new ValueError(`${op}: gradScale must be a finite number, got ${gradScale}`);
  let labelTensor: Tensor;
  if (labels instanceof Int32Array) {
    if (labels.length !== n) throw new ShapeError(`${op}: ${labels.length} labels for ${n} rows of logits; give one label per row`);
    for (let i = 0; i < n; i++) if (labels[i] < 0 || labels[i] >= c) throw badLabel(i, labels[i], c);
    labelTensor = engine.tensor(labels, [n], 'i32');
  } else {
    if (labels.dtype !== 'i32') throw new ShapeError(`${op}: labels must be an i32 tensor, got ${labels.dtype}`);
    if (labels.shape.length !== 1 || labels.shape[0] !== n) {
      throw new ShapeError(`${op}: labels must have shape [${n}] (one per row of logits), got [${labels.shape.join(', ')}]`);
    }
    labelTensor = labels;
  }
  const losses = engine.empty([n]);
  const grad = engine.empty([n, c]);
  const loss = engine.empty([1]);
  const status = engine.empty([2], 'i32');
  const { workgroups, row } = grid1d(engine, n, 64);
  engine.dispatch('softmax_xent', 'forward', {
    bindings: { p: { n, c, row, grad_scale: gradScale / n }, logits, labels: labelTensor, losses, grad },
    workgroups,
  });
  engine.dispatch('softmax_xent', 'finish', {
    bindings: { f: { n, c }, row_losses: losses, row_labels: labelTensor, mean: loss, status },
    workgroups: [1],
  });
  if (labelTensor !== labels) labelTensor.dispose();
  const check = async (): Promise<void> => {
    const s = await status.read();
    if (s[0] !== 0) throw badLabel(s[0] - 1, s[1], c);
  };
  return {
    loss,
    losses,
    grad,
    status,
    check,
    async readLoss() {
      await check();
      return (await loss.read())[0];
    },
    dispose() {
      for (const t of [loss, losses, grad, status]) t.dispose();
    },
  };
}

/** Row-wise softmax probabilities of logits [N, C] (inference). */
export function softmax(engine: Engine, logits: Tensor): Tensor<'f32'> {
  const [n, c] = requireLogits('softmax', logits);
  const probs = engine.empty([n, c]);
  const { workgroups, row } = grid1d(engine, n, 64);
  engine.dispatch('softmax_xent', 'softmax', { bindings: { p: { n, c, row, grad_scale: 0 }, logits, probs }, workgroups });
  return probs;
}
