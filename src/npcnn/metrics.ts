// Classification metrics from true labels and predicted probabilities: top-k accuracy,
// per-class precision/recall/F1, macro-F1 (over classes present in the truth or the
// predictions), the confusion matrix, expected calibration error with its reliability curve, and
// the majority-class baseline.

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Patterns of this class. */
  support: number;
  /** Patterns predicted as this class. */
  predicted: number;
}

export interface ReliabilityBin {
  from: number;
  to: number;
  count: number;
  /** Mean top-1 probability and accuracy of the patterns in the bin (NaN when empty). */
  confidence: number;
  accuracy: number;
}

export interface Metrics {
  n: number;
  top1: number;
  top3: number;
  top5: number;
  macro_f1: number;
  /** Share of the most common true class: what always answering it scores. */
  majority: { label: string; top1: number };
  per_class: ClassMetrics[];
  /** confusion[t][p]: patterns of true class t predicted as p, in class order. */
  confusion: number[][];
  ece: number;
  reliability: ReliabilityBin[];
}

/** probs: [n, classes] row-major; labels: true class index per pattern. */
export function classificationMetrics(classes: string[], labels: ArrayLike<number>, probs: ArrayLike<number>, bins = 10): Metrics {
  const n = labels.length;
  const c = classes.length;
  if (probs.length !== n * c) throw new RangeError(`probabilities hold ${probs.length} values, expected ${n} x ${c}`);
  const confusion = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  const hits = { 1: 0, 3: 0, 5: 0 };
  const binCount = new Array<number>(bins).fill(0);
  const binConf = new Array<number>(bins).fill(0);
  const binOk = new Array<number>(bins).fill(0);
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: c }, (_, k) => probs[i * c + k]!);
    const order = row.map((_, k) => k).sort((a, b) => row[b]! - row[a]! || a - b);
    const t = labels[i]!;
    const rank = order.indexOf(t);
    if (rank === 0) hits[1]++;
    if (rank >= 0 && rank < 3) hits[3]++;
    if (rank >= 0 && rank < 5) hits[5]++;
    const p = order[0]!;
    confusion[t]![p]!++;
    const conf = row[p]!;
    const b = Math.min(bins - 1, Math.floor(conf * bins));
    binCount[b]!++;
    binConf[b]! += conf;
    binOk[b]! += p === t ? 1 : 0;
  }
  const perClass: ClassMetrics[] = classes.map((label, k) => {
    const tp = confusion[k]![k]!;
    const support = confusion[k]!.reduce((a, v) => a + v, 0);
    const predicted = confusion.reduce((a, row) => a + row[k]!, 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support, predicted };
  });
  const present = perClass.filter((m) => m.support > 0 || m.predicted > 0);
  const reliability = binCount.map((count, b) => ({
    from: b / bins,
    to: (b + 1) / bins,
    count,
    confidence: count ? binConf[b]! / count : NaN,
    accuracy: count ? binOk[b]! / count : NaN,
  }));
  const ece = n ? reliability.reduce((a, r) => a + (r.count ? (r.count / n) * Math.abs(r.accuracy - r.confidence) : 0), 0) : NaN;
  const largest = perClass.reduce((a, m) => (m.support > a.support ? m : a), perClass[0]!);
  return {
    n,
    top1: n ? hits[1] / n : NaN,
    top3: n ? hits[3] / n : NaN,
    top5: n ? hits[5] / n : NaN,
    macro_f1: present.length ? present.reduce((a, m) => a + m.f1, 0) / present.length : NaN,
    majority: { label: largest.label, top1: n ? largest.support / n : NaN },
    per_class: perClass,
    confusion,
    ece,
    reliability,
  };
}
