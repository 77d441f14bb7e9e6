// CPU reference of Adam and AdamW (float64), written from the update rules documented for
// torch.optim.Adam and torch.optim.AdamW:
//   Adam:  g <- g + lambda * theta
//   AdamW: theta <- theta - gamma * lambda * theta
//   m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
//   m_hat = m / (1 - beta1^t);  v_hat = v / (1 - beta2^t)
//   theta <- theta - gamma * m_hat / (sqrt(v_hat) + eps)

export interface AdamRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  /** 1-based step count. */
  step: number;
  /** Gradient multiplier (default 1). */
  gradScale?: number;
}

/** Updates param, m and v in place. */
export function adamStepRef(param: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, o: AdamRefOptions): void {
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < param.length; i++) {
    let theta = param[i];
    let g = (o.gradScale ?? 1) * grad[i];
    if (o.decoupled) theta -= o.lr * o.weightDecay * theta;
    else g += o.weightDecay * theta;
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    const mHat = m[i] / bc1;
    const vHat = v[i] / bc2;
    param[i] = theta - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
}
