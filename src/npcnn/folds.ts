// Honest splits of a labelled pattern set: near-duplicates (the same mineral measured twice)
// must not sit on both sides of a split, or a lookup of the nearest training pattern looks like
// skill. Patterns whose mean-centred Pearson correlation reaches a threshold are joined into
// groups (transitively); whole groups are dealt into k folds. The nearest-neighbour baseline
// (label of the most correlated pattern in the other folds) and the majority class are scored on
// the same folds, so every trained model can be reported beside them.

export interface FoldAssignment {
  k: number;
  threshold: number;
  /** Per pattern, in input order. */
  fold: number[];
  group: number[];
  groups: number;
  /** Patterns that have a near-duplicate in the set. */
  withDuplicate: number;
}

/** Mean-centred, unit-length copies of the rows (so a dot product is the Pearson correlation). */
function standardise(rows: Float32Array[]): Float32Array[] {
  return rows.map((r) => {
    let mean = 0;
    for (const v of r) mean += v;
    mean /= r.length;
    const out = Float32Array.from(r, (v) => v - mean);
    let norm = 0;
    for (const v of out) norm += v * v;
    const s = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let i = 0; i < out.length; i++) out[i]! *= s;
    return out;
  });
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Pearson correlation of every pair of patterns (rows on one grid), as a symmetric matrix. */
export function correlations(rows: Float32Array[]): Float64Array {
  const z = standardise(rows);
  const n = z.length;
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    c[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) c[i * n + j] = c[j * n + i] = dot(z[i]!, z[j]!);
  }
  return c;
}

/**
 * Nearest-neighbour lookup: for each query row the index of the most correlated reference row
 * (skipping a reference the query is `same(query, ref)` as, e.g. the same file), and that
 * correlation.
 */
export function nearestNeighbours(queries: Float32Array[], references: Float32Array[], same: (q: number, r: number) => boolean = () => false): { index: number; correlation: number }[] {
  const zq = standardise(queries);
  const zr = standardise(references);
  return zq.map((q, i) => {
    let index = -1;
    let correlation = -Infinity;
    zr.forEach((r, j) => {
      if (same(i, j)) return;
      const c = dot(q, r);
      if (c > correlation) {
        correlation = c;
        index = j;
      }
    });
    return { index, correlation };
  });
}

/**
 * Groups of near-duplicates (correlation >= threshold, joined transitively) dealt into k folds:
 * largest groups first, each into the fold with the fewest patterns so far (lowest index on ties).
 */
export function assignFolds(corr: Float64Array, n: number, k: number, threshold = 0.7): FoldAssignment {
  if (!Number.isInteger(k) || k < 2 || k > n) throw new RangeError(`k must be an integer from 2 to the number of patterns (${n}), got ${k}`);
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  let withDuplicate = 0;
  for (let i = 0; i < n; i++) {
    let dup = false;
    for (let j = 0; j < n; j++) {
      if (i !== j && corr[i * n + j]! >= threshold) {
        dup = true;
        if (j > i) parent[find(i)] = find(j);
      }
    }
    if (dup) withDuplicate++;
  }
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = find(i);
    if (!members.has(r)) members.set(r, []);
    members.get(r)!.push(i);
  }
  const groups = [...members.values()].sort((a, b) => b.length - a.length || a[0]! - b[0]!);
  const fold = new Array<number>(n).fill(0);
  const group = new Array<number>(n).fill(0);
  const sizes = new Array<number>(k).fill(0);
  groups.forEach((g, gi) => {
    let f = 0;
    for (let q = 1; q < k; q++) if (sizes[q]! < sizes[f]!) f = q;
    sizes[f]! += g.length;
    for (const i of g) {
      fold[i] = f;
      group[i] = gi;
    }
  });
  return { k, threshold, fold, group, groups: groups.length, withDuplicate };
}

/** Top-1 of a baseline on one task, over the patterns that carry that task's label. */
export interface BaselineScore {
  top1: number;
  n: number;
}

export interface BaselineScores {
  /** The label of the most correlated pattern in the other folds. */
  nearest: { crystalSystem: BaselineScore; spaceGroup: BaselineScore };
  /** The other folds' most common label. */
  majority: { crystalSystem: BaselineScore; spaceGroup: BaselineScore };
}

/**
 * Leave-one-fold-out nearest-neighbour and majority baselines for one task's labels (null:
 * unlabelled, neither scored nor used as a neighbour).
 */
function baseline<T>(corr: Float64Array, labels: (T | null)[], folds: number[], k: number): { nearest: BaselineScore; majority: BaselineScore } {
  const n = labels.length;
  let nn = 0;
  let maj = 0;
  let scored = 0;
  for (let f = 0; f < k; f++) {
    const train = [...Array(n).keys()].filter((i) => folds[i] !== f && labels[i] !== null);
    const counts = new Map<T, number>();
    for (const i of train) counts.set(labels[i]!, (counts.get(labels[i]!) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
    for (let i = 0; i < n; i++) {
      if (folds[i] !== f || labels[i] === null || train.length === 0) continue;
      scored++;
      let best = train[0]!;
      for (const j of train) if (corr[i * n + j]! > corr[i * n + best]!) best = j;
      if (labels[best] === labels[i]) nn++;
      if (top === labels[i]) maj++;
    }
  }
  return { nearest: { top1: scored ? nn / scored : NaN, n: scored }, majority: { top1: scored ? maj / scored : NaN, n: scored } };
}

/** Nearest-neighbour and majority baselines on the folds, for both tasks. */
export function foldBaselines(corr: Float64Array, spaceGroups: (number | null)[], systems: (string | null)[], folds: number[], k: number): BaselineScores {
  const cs = baseline(corr, systems, folds, k);
  const sg = baseline(corr, spaceGroups, folds, k);
  return { nearest: { crystalSystem: cs.nearest, spaceGroup: sg.nearest }, majority: { crystalSystem: cs.majority, spaceGroup: sg.majority } };
}
