// Whether a prediction can be trusted, from signals measured on the pattern itself and on the
// model's output: how many diffraction peaks stand above the noise, how much of the model's range
// the measurement covers, the signal-to-noise ratio, and whether the model's output is finite. A
// flat line, one Gaussian or a sliver of the range gets a confident-looking class from any
// classifier; the verdict says so instead.
import { coveredRange, type GridCoverage } from '../io/patterns.ts';
import { lowerEnvelope } from '../sim/envelope.ts';
import type { Grid } from '../sim/render.ts';

export type Verdict = 'ok' | 'doubtful' | 'unreliable';

export interface PatternQuality {
  verdict: Verdict;
  /** Peaks above max(5 sigma, 2 % of the strongest) after the background is removed. */
  peaks: number;
  /** Strongest peak over the noise sigma. */
  snr: number;
  /** Fraction of the model's grid the measurement covers. */
  coverage: number;
  /** Why the verdict is not 'ok', in words. */
  warnings: string[];
}

/**
 * Thresholds. The 454 measured minerals of rruff-dev show 12 peaks by this count at the 1st
 * percentile, 23 at the 5th, 70 at the median, and a signal-to-noise ratio of 24 at the 5th
 * percentile; fewer than 3 peaks cannot fix a crystal system (a cubic cell needs two lines, any
 * other more). These thresholds flag 2 of the 454 as doubtful and none as unreliable, and every
 * flat line, single peak or range sliver of the tests as unreliable.
 */
export const QUALITY_THRESHOLDS = Object.freeze({
  unreliablePeaks: 3,
  doubtfulPeaks: 6,
  unreliableCoverage: 0.25,
  doubtfulCoverage: 0.6,
  doubtfulSnr: 10,
});

/** Signal-to-noise ratios are reported up to this (noise-free input would be infinite). */
export const SNR_CAP = 1e4;

/** Noise sigma from the median absolute first difference (robust to peaks and slow background). */
function noiseSigma(v: ArrayLike<number>, from: number, to: number): number {
  const d: number[] = [];
  for (let i = from + 1; i < to; i++) d.push(Math.abs(v[i]! - v[i - 1]!));
  if (d.length === 0) return 0;
  d.sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)]! / (0.6745 * Math.SQRT2);
}

/** Peaks of a pattern on a grid of `step` degrees within [from, to): see PatternQuality. */
export function countPeaks(v: ArrayLike<number>, from: number, to: number, step: number): { peaks: number; snr: number } {
  if (to - from < 5) return { peaks: 0, snr: 0 };
  // background: the smooth lower envelope over 2 deg
  const bg = lowerEnvelope(v, from, to, Math.max(1, Math.round(1 / step)));
  const y = new Float64Array(to - from);
  let top = 0;
  for (let i = 0; i < y.length; i++) {
    y[i] = v[from + i]! - bg[from + i]!;
    top = Math.max(top, y[i]!);
  }
  const sigma = noiseSigma(v, from, to);
  const threshold = Math.max(5 * sigma, 0.02 * top);
  // local maxima above the threshold, at least 0.1 deg apart (the higher one kept)
  const sep = Math.max(1, Math.round(0.1 / step));
  const peaks: number[] = [];
  for (let i = 1; i < y.length - 1; i++) {
    if (!(y[i]! > threshold && y[i]! >= y[i - 1]! && y[i]! > y[i + 1]!)) continue;
    const last = peaks[peaks.length - 1];
    if (last !== undefined && i - last < sep) {
      if (y[i]! > y[last]!) peaks[peaks.length - 1] = i;
    } else peaks.push(i);
  }
  // noise-free (simulated) input: reported as SNR_CAP
  return { peaks: peaks.length, snr: Math.min(SNR_CAP, sigma > 0 ? top / sigma : top > 0 ? SNR_CAP : 0) };
}

/** The verdict for a pattern on the model's grid (maximum 1) with its coverage. */
export function patternQuality(values: ArrayLike<number>, coverage: GridCoverage, grid: Grid): PatternQuality {
  const { from, to } = coveredRange(coverage, grid);
  const { peaks, snr } = countPeaks(values, from, to, grid.step);
  const t = QUALITY_THRESHOLDS;
  const warnings: string[] = [];
  let verdict: Verdict = 'ok';
  const worse = (v: Verdict): void => {
    if (v === 'unreliable' || (v === 'doubtful' && verdict === 'ok')) verdict = v;
  };
  if (peaks < t.unreliablePeaks) {
    worse('unreliable');
    warnings.push(`${peaks === 0 ? 'no peak' : `only ${peaks} peak${peaks === 1 ? '' : 's'}`} above the noise: not enough to tell a crystal system`);
  } else if (peaks < t.doubtfulPeaks) {
    worse('doubtful');
    warnings.push(`only ${peaks} peaks above the noise (measured minerals show 8 or more)`);
  }
  if (coverage.fraction < t.unreliableCoverage) {
    worse('unreliable');
    warnings.push(`the measurement covers ${(100 * coverage.fraction).toFixed(0)} % of the model's 2-theta range`);
  } else if (coverage.fraction < t.doubtfulCoverage) {
    worse('doubtful');
    warnings.push(`the measurement covers ${(100 * coverage.fraction).toFixed(0)} % of the model's 2-theta range`);
  }
  if (snr < t.doubtfulSnr && peaks >= t.unreliablePeaks) {
    worse('doubtful');
    warnings.push(`signal-to-noise ${snr.toFixed(1)}: the peaks barely stand out`);
  }
  return { verdict, peaks, snr: Number(snr.toFixed(1)), coverage: coverage.fraction, warnings };
}

/** Whether every probability of a model output is a finite number in [0, 1]. */
export function finiteProbabilities(p: ArrayLike<number>): boolean {
  for (let i = 0; i < p.length; i++) if (!(p[i]! >= 0 && p[i]! <= 1)) return false;
  return true;
}
