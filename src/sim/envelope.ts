// The smooth lower envelope of a pattern: a rolling minimum, then a rolling mean of it, each over
// 2h + 1 points of [from, to) (windows clipped at the ends). It follows a slowly varying
// background under the peaks; search-match and the prediction-quality check subtract it.
// O(n) whatever the window (van Herk / Gil-Werman blocks for the minimum, a running sum for
// the mean).

/** Rolling minimum over v[i - h .. i + h] within [from, to); out[i] for i in [from, to). */
export function rollingMinimum(v: ArrayLike<number>, from: number, to: number, h: number): Float64Array {
  const n = to - from;
  const out = new Float64Array(v.length);
  if (n <= 0) return out;
  const w = 2 * h + 1;
  const pre = new Float64Array(n);
  const suf = new Float64Array(n);
  for (let i = 0; i < n; i++) pre[i] = i % w === 0 ? v[from + i]! : Math.min(pre[i - 1]!, v[from + i]!);
  for (let i = n - 1; i >= 0; i--) suf[i] = i === n - 1 || (i + 1) % w === 0 ? v[from + i]! : Math.min(suf[i + 1]!, v[from + i]!);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - h);
    const hi = Math.min(n - 1, i + h);
    // [lo, hi] spans at most two blocks: suffix min of the first, prefix min of the second. In
    // one block it starts at the block's start (a window clipped at the range's start) or ends
    // at the block's end (a full window, or one clipped at the range's end).
    if (Math.floor(lo / w) !== Math.floor(hi / w)) out[from + i] = Math.min(suf[lo]!, pre[hi]!);
    else out[from + i] = lo % w === 0 ? pre[hi]! : suf[lo]!;
  }
  return out;
}

/** Rolling mean over v[i - h .. i + h] within [from, to). */
export function rollingMean(v: ArrayLike<number>, from: number, to: number, h: number): Float64Array {
  const out = new Float64Array(v.length);
  let sum = 0;
  let lo = from;
  let hi = from;
  for (let i = from; i < to; i++) {
    while (hi < Math.min(to, i + h + 1)) sum += v[hi++]!;
    while (lo < Math.max(from, i - h)) sum -= v[lo++]!;
    out[i] = sum / (hi - lo);
  }
  return out;
}

/** The smooth lower envelope (rolling minimum, then rolling mean, both of half-width h). */
export function lowerEnvelope(v: ArrayLike<number>, from: number, to: number, h: number): Float64Array {
  return rollingMean(rollingMinimum(v, from, to, h), from, to, h);
}
