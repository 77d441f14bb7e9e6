// Temperature scaling (Guo et al. 2017): one scalar T divides the logits, fitted to minimise the
// negative log-likelihood on labelled patterns; top-1 predictions do not change, confidences do.
// Working from probabilities is enough: softmax(log p / T) = softmax(logits / T).

/** Probabilities [n, c] at temperature T (a new array; T = 1 returns a copy). */
export function applyTemperature(probs: ArrayLike<number>, c: number, temperature: number): Float32Array {
  const out = Float32Array.from(probs);
  if (temperature === 1) return out;
  for (let r = 0; r < out.length / c; r++) {
    let max = -Infinity;
    const logs = new Float64Array(c);
    for (let k = 0; k < c; k++) {
      logs[k] = Math.log(Math.max(probs[r * c + k]!, 1e-30)) / temperature;
      max = Math.max(max, logs[k]!);
    }
    let sum = 0;
    for (let k = 0; k < c; k++) sum += Math.exp(logs[k]! - max);
    for (let k = 0; k < c; k++) out[r * c + k] = Math.exp(logs[k]! - max) / sum;
  }
  return out;
}

/** Mean negative log-likelihood of the labels under probs at temperature T. */
export function negativeLogLikelihood(probs: ArrayLike<number>, labels: ArrayLike<number>, c: number, temperature = 1): number {
  const p = applyTemperature(probs, c, temperature);
  let s = 0;
  for (let i = 0; i < labels.length; i++) s -= Math.log(Math.max(p[i * c + labels[i]!]!, 1e-30));
  return s / labels.length;
}

/** The temperature in [0.05, 20] that minimises the NLL (golden-section search on log T). */
export function fitTemperature(probs: ArrayLike<number>, labels: ArrayLike<number>, c: number): number {
  if (labels.length === 0) throw new RangeError('fitting a temperature needs at least one labelled pattern');
  const f = (logT: number) => negativeLogLikelihood(probs, labels, c, Math.exp(logT));
  let lo = Math.log(0.05);
  let hi = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - g * (hi - lo);
  let x2 = lo + g * (hi - lo);
  let f1 = f(x1);
  let f2 = f(x2);
  for (let i = 0; i < 60; i++) {
    if (f1 < f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - g * (hi - lo);
      f1 = f(x1);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + g * (hi - lo);
      f2 = f(x2);
    }
  }
  return Math.exp((lo + hi) / 2);
}
