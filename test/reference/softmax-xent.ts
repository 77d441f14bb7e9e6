// CPU references of softmax and fused softmax + cross-entropy (float64). logits [N, C], labels [N].

/** Row-wise softmax with max subtraction. */
export function softmaxRef(logits: ArrayLike<number>, n: number, c: number): Float64Array {
  const out = new Float64Array(n * c);
  for (let r = 0; r < n; r++) {
    let m = -Infinity;
    for (let i = 0; i < c; i++) m = Math.max(m, logits[r * c + i]);
    let s = 0;
    for (let i = 0; i < c; i++) s += Math.exp(logits[r * c + i] - m);
    for (let i = 0; i < c; i++) out[r * c + i] = Math.exp(logits[r * c + i] - m) / s;
  }
  return out;
}

export interface SoftmaxXentRef {
  loss: number;
  losses: Float64Array;
  grad: Float64Array;
}

/** Mean cross-entropy, per-row losses, and grad = (softmax - onehot) * gradScale / N. */
export function softmaxCrossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  c: number,
  gradScale = 1,
): SoftmaxXentRef {
  const p = softmaxRef(logits, n, c);
  const losses = new Float64Array(n);
  const grad = new Float64Array(n * c);
  let total = 0;
  for (let r = 0; r < n; r++) {
    const y = labels[r];
    let m = -Infinity;
    for (let i = 0; i < c; i++) m = Math.max(m, logits[r * c + i]);
    let s = 0;
    for (let i = 0; i < c; i++) s += Math.exp(logits[r * c + i] - m);
    losses[r] = Math.log(s) - (logits[r * c + y] - m);
    total += losses[r];
    for (let i = 0; i < c; i++) grad[r * c + i] = ((p[r * c + i] - (i === y ? 1 : 0)) * gradScale) / n;
  }
  return { loss: total / n, losses, grad };
}
