// Peak picking on measured powder patterns: Savitzky-Golay smoothing, SNIP background, local
// noise from the smoothing residual, peaks above k sigma and above a fraction of the strongest,
// and positions from pseudo-Voigt fits that model the Cu K-alpha1/K-alpha2 doublet when the
// pattern shows one. Positions come with standard uncertainties from the fit's covariance.

/** Cu K-alpha1 and K-alpha2 (angstrom) and their intensity ratio. */
export const CU_KA1 = 1.540562;
export const CU_KA2 = 1.544390;
export const KA2_RATIO = 0.5;

const DEG = Math.PI / 180;

export interface PeakPickOptions {
  /** Wavelength the file states (angstrom); default Cu K-alpha 1.5418. */
  wavelength?: number;
  /** Savitzky-Golay window, degrees (default 0.09). */
  smoothWidth?: number;
  /** SNIP clipping half-width, degrees (default 1.2). */
  snipWidth?: number;
  /** Net height must exceed this many local noise sigmas (default 4). */
  kSigma?: number;
  /** ... and this fraction of the strongest peak's net height (default 0.05). */
  minRelative?: number;
  /** At most this many peaks, the strongest kept (default 40). */
  maxPeaks?: number;
  /** 'auto' detects a resolved or broadened K-alpha2 component (Cu only); default 'auto'. */
  kalpha2?: 'auto' | 'yes' | 'no';
  /** Only peaks inside this 2-theta range (degrees). */
  twoThetaMin?: number;
  twoThetaMax?: number;
}

export interface PickedPeak {
  /** Fitted position (K-alpha1 where the doublet is modelled), degrees. */
  twoTheta: number;
  /** Standard uncertainty of the position, degrees. */
  sigma: number;
  /** Fitted net height above the background (the same units as the pattern). */
  height: number;
  /** Height relative to the strongest peak (0..1). */
  relative: number;
  /** Full width at half maximum, degrees. */
  fwhm: number;
  /** d-spacing (angstrom) at the picked wavelength. */
  d: number;
}

export interface PeakPick {
  peaks: PickedPeak[];
  /** The wavelength d-spacings use: K-alpha1 when the doublet is modelled, else the stated one. */
  wavelength: number;
  kalpha2: boolean;
  /** Median local noise sigma (pattern units). */
  noise: number;
  background: Float64Array;
  smoothed: Float64Array;
}

/** Quadratic Savitzky-Golay smoothing coefficients for half-width m (2m+1 points). */
export function savitzkyGolayCoefficients(m: number): Float64Array {
  const c = new Float64Array(2 * m + 1);
  const den = (2 * m - 1) * (2 * m + 1) * (2 * m + 3);
  for (let j = -m; j <= m; j++) c[j + m] = (3 * (3 * m * m + 3 * m - 1) - 15 * j * j) / den;
  return c;
}

export function smooth(y: ArrayLike<number>, m: number): Float64Array {
  const n = y.length;
  const out = new Float64Array(n);
  if (m < 1) {
    for (let i = 0; i < n; i++) out[i] = y[i]!;
    return out;
  }
  const c = savitzkyGolayCoefficients(m);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = -m; j <= m; j++) {
      const t = Math.min(n - 1, Math.max(0, i + j)); // edges: repeat the end values
      s += c[j + m]! * y[t]!;
    }
    out[i] = s;
  }
  return out;
}

/**
 * SNIP background (Ryan et al. 1988; Morhac's log-log-sqrt variant): repeated clipping of each
 * point to the mean of its neighbours at distance p = 1..m, on a transformed scale that keeps
 * peaks of very different heights from biasing it.
 */
export function snipBackground(y: ArrayLike<number>, m: number): Float64Array {
  const n = y.length;
  let v = new Float64Array(n);
  let w = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.log(Math.log(Math.sqrt(Math.max(0, y[i]!) + 1) + 1) + 1);
  for (let p = 1; p <= m; p++) {
    for (let i = 0; i < n; i++) {
      if (i < p || i >= n - p) {
        w[i] = v[i]!;
        continue;
      }
      const mean = (v[i - p]! + v[i + p]!) / 2;
      w[i] = Math.min(v[i]!, mean);
    }
    [v, w] = [w, v];
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const e = Math.exp(Math.exp(v[i]!) - 1) - 1;
    out[i] = e * e - 1;
  }
  return out;
}

function median(a: number[]): number {
  if (a.length === 0) return 0;
  const s = [...a].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Local noise sigma per point: MAD of (raw - smoothed) in blocks, linearly interpolated. */
export function localNoise(y: ArrayLike<number>, smoothed: ArrayLike<number>, block: number, m: number): Float64Array {
  const n = y.length;
  const c = savitzkyGolayCoefficients(Math.max(1, m));
  // raw - smoothed has variance sigma^2 (1 - 2 c0 + sum c^2) for white noise
  let sc2 = 0;
  for (const v of c) sc2 += v * v;
  const scale = 1 / Math.sqrt(Math.max(1e-6, 1 - 2 * c[Math.max(1, m)]! + sc2));
  const centres: number[] = [];
  const sig: number[] = [];
  for (let s = 0; s < n; s += block) {
    const e = Math.min(n, s + block);
    const r: number[] = [];
    for (let i = s; i < e; i++) r.push(Math.abs(y[i]! - smoothed[i]!));
    centres.push((s + e - 1) / 2);
    sig.push(1.4826 * median(r) * scale);
  }
  const out = new Float64Array(n);
  // a block of zeros (a clipped or empty region) would give sigma 0: floor at a small part of the median
  const floor = Math.max(1e-12, 0.25 * median(sig.filter((v) => v > 0)));
  for (let i = 0; i < n; i++) {
    let j = 0;
    while (j < centres.length - 1 && centres[j + 1]! < i) j++;
    const a = centres[j]!;
    const b = centres[Math.min(j + 1, centres.length - 1)]!;
    const t = b > a ? Math.min(1, Math.max(0, (i - a) / (b - a))) : 0;
    out[i] = Math.max(floor, sig[j]! * (1 - t) + sig[Math.min(j + 1, sig.length - 1)]! * t);
  }
  return out;
}

/** K-alpha2 position (degrees) of a K-alpha1 line at tt1. */
export function kalpha2Position(tt1: number, l1 = CU_KA1, l2 = CU_KA2): number {
  const s = Math.min(1, (l2 / l1) * Math.sin((tt1 * DEG) / 2));
  return (2 * Math.asin(s)) / DEG;
}

/** Pseudo-Voigt of unit height, FWHM w, Lorentzian fraction 0.5. */
function pv(dx: number, w: number): number {
  const u = (dx * dx) / (w * w);
  return 0.5 * Math.exp(-4 * Math.LN2 * u) + 0.5 / (1 + 4 * u);
}

interface FitPeak {
  x: number;
  a: number;
  w: number;
  sigma: number;
}

function profile(p: FitPeak, t: number, ratio: number): number {
  let v = p.a * pv(t - p.x, p.w);
  if (ratio > 0) v += ratio * p.a * pv(t - kalpha2Position(p.x), p.w);
  return v;
}

/** Solves the small symmetric system M x = b (Gaussian elimination, partial pivoting); null if singular. */
export function solve(M: number[][], b: number[]): number[] | null {
  const n = b.length;
  const a = M.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[piv]![c]!)) piv = r;
    if (!(Math.abs(a[piv]![c]!) > 1e-300)) return null;
    [a[c], a[piv]] = [a[piv]!, a[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k <= n; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= a[r]![k]! * x[k]!;
    x[r] = s / a[r]![r]!;
  }
  return x.every(Number.isFinite) ? x : null;
}

export function invert(M: number[][]): number[][] | null {
  const n = M.length;
  const cols: number[][] = [];
  for (let j = 0; j < n; j++) {
    const e = new Array<number>(n).fill(0);
    e[j] = 1;
    const c = solve(M, e);
    if (!c) return null;
    cols.push(c);
  }
  return M.map((_, i) => cols.map((c) => c[i]!));
}

/**
 * Levenberg-Marquardt fit of one peak (position, height, width, constant offset) to `target`
 * over indices [lo, hi]; the K-alpha2 component rides along with `ratio`. Returns the fitted
 * peak and the residual sum of squares.
 */
function fitPeak(x: ArrayLike<number>, target: Float64Array, lo: number, hi: number, start: FitPeak, ratio: number, step: number): { peak: FitPeak; rss: number } {
  let p = [start.x, start.a, start.w, 0];
  const n = hi - lo + 1;
  const model = (q: number[], t: number) => profile({ x: q[0]!, a: q[1]!, w: q[2]!, sigma: 0 }, t, ratio) + q[3]!;
  const rssOf = (q: number[]) => {
    let s = 0;
    for (let i = lo; i <= hi; i++) {
      const r = target[i]! - model(q, x[i]!);
      s += r * r;
    }
    return s;
  };
  let rss = rssOf(p);
  let lambda = 1e-3;
  let JtJ: number[][] = [];
  const bounds = (q: number[]) => q[2]! > step * 0.8 && q[2]! < 3 && q[1]! > 0 && Math.abs(q[0]! - start.x) < Math.max(3 * start.w, 0.1);
  for (let it = 0; it < 30; it++) {
    const hs = [1e-4, Math.max(1e-9, Math.abs(p[1]!) * 1e-4), 1e-4, Math.max(1e-9, Math.abs(p[1]!) * 1e-4)];
    JtJ = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
    const Jtr = [0, 0, 0, 0];
    for (let i = lo; i <= hi; i++) {
      const t = x[i]!;
      const m0 = model(p, t);
      const r = target[i]! - m0;
      const g = [0, 1, 2, 3].map((j) => {
        const q = [...p];
        q[j]! += hs[j]!;
        return (model(q, t) - m0) / hs[j]!;
      });
      for (let a = 0; a < 4; a++) {
        Jtr[a]! += g[a]! * r;
        for (let b = 0; b < 4; b++) JtJ[a]![b]! += g[a]! * g[b]!;
      }
    }
    let improved = false;
    for (let tries = 0; tries < 8; tries++) {
      const M = JtJ.map((row, i) => row.map((v, j) => (i === j ? v * (1 + lambda) + 1e-30 : v)));
      const d = solve(M, Jtr);
      if (!d) break;
      const q = p.map((v, i) => v + d[i]!);
      if (bounds(q)) {
        const r2 = rssOf(q);
        if (r2 < rss) {
          const rel = (rss - r2) / Math.max(rss, 1e-300);
          p = q;
          rss = r2;
          lambda = Math.max(1e-7, lambda / 3);
          improved = true;
          if (rel < 1e-7) it = 1e9;
          break;
        }
      }
      lambda *= 4;
    }
    if (!improved) break;
  }
  const cov = invert(JtJ);
  const s2 = rss / Math.max(1, n - 4);
  const sx = cov && cov[0]![0]! > 0 ? Math.sqrt(cov[0]![0]! * s2) : step;
  return { peak: { x: p[0]!, a: p[1]!, w: p[2]!, sigma: sx }, rss };
}

/** Half-width at half height around index i of `net`, in degrees (linear interpolation). */
function fwhmAt(x: ArrayLike<number>, net: Float64Array, i: number): number {
  const half = net[i]! / 2;
  let l = i;
  while (l > 0 && net[l]! > half) l--;
  let r = i;
  while (r < net.length - 1 && net[r]! > half) r++;
  const xl = net[l]! < half && l < i ? x[l]! + ((half - net[l]!) / (net[l + 1]! - net[l]!)) * (x[l + 1]! - x[l]!) : x[l]!;
  const xr = net[r]! < half && r > i ? x[r - 1]! + ((net[r - 1]! - half) / (net[r - 1]! - net[r]!)) * (x[r]! - x[r - 1]!) : x[r]!;
  return Math.max(xr - xl, 1e-3);
}

function isCopper(lambda: number): boolean {
  return Math.abs(lambda - 1.5418) < 0.003;
}

/** Picks the peaks of one pattern (2-theta ascending, any intensity units). */
export function pickPeaks(twoTheta: ArrayLike<number>, intensity: ArrayLike<number>, opts: PeakPickOptions = {}): PeakPick {
  const n = twoTheta.length;
  const lambda = opts.wavelength ?? 1.5418;
  const kSigma = opts.kSigma ?? 4;
  const minRel = opts.minRelative ?? 0.05;
  const maxPeaks = opts.maxPeaks ?? 40;
  const empty = (noise = 0): PeakPick => ({ peaks: [], wavelength: lambda, kalpha2: false, noise, background: new Float64Array(n), smoothed: new Float64Array(n) });
  if (n < 16) return empty();
  const diffs: number[] = [];
  for (let i = 1; i < n; i++) diffs.push(twoTheta[i]! - twoTheta[i - 1]!);
  const step = median(diffs);
  if (!(step > 0)) return empty();
  const m = Math.max(2, Math.round((opts.smoothWidth ?? 0.09) / step / 2));
  const sm = smooth(intensity, m);
  const bg = snipBackground(sm, Math.max(4, Math.round((opts.snipWidth ?? 1.2) / step)));
  const noise = localNoise(intensity, sm, Math.max(50, Math.round(2 / step)), m);
  const net = new Float64Array(n);
  // the raw counts above the background are what the profiles are fitted to (white noise, so
  // the fit's covariance means something); the smoothed net signal finds the candidates
  const rawNet = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    net[i] = Math.max(0, sm[i]! - bg[i]!);
    rawNet[i] = intensity[i]! - bg[i]!;
  }
  const ttMin = opts.twoThetaMin ?? -Infinity;
  const ttMax = opts.twoThetaMax ?? Infinity;
  // candidates: local maxima of the smoothed net signal with a prominence of 2 sigma
  let cands: { i: number; h: number; w: number }[] = [];
  for (let i = 1; i < n - 1; i++) {
    if (!(net[i]! > net[i - 1]! && net[i]! >= net[i + 1]!)) continue;
    if (twoTheta[i]! < ttMin || twoTheta[i]! > ttMax) continue;
    if (net[i]! < kSigma * noise[i]!) continue;
    let l = i;
    let lmin = net[i]!;
    while (l > 0 && net[l - 1]! <= net[i]!) {
      l--;
      lmin = Math.min(lmin, net[l]!);
      if (i - l > 2000) break;
    }
    let r = i;
    let rmin = net[i]!;
    while (r < n - 1 && net[r + 1]! <= net[i]!) {
      r++;
      rmin = Math.min(rmin, net[r]!);
      if (r - i > 2000) break;
    }
    if (net[i]! - Math.max(lmin, rmin) < 2 * noise[i]!) continue;
    cands.push({ i, h: net[i]!, w: fwhmAt(twoTheta, net, i) });
  }
  const noiseMedian = median(Array.from(noise));
  if (cands.length === 0) return { ...empty(noiseMedian), background: bg, smoothed: sm };
  const top = Math.max(...cands.map((c) => c.h));
  cands = cands.filter((c) => c.h >= minRel * top * 0.7);
  // K-alpha2: decided on the stronger peaks above 35 deg by comparing singlet and doublet fits
  let ratio = 0;
  const cu = isCopper(lambda);
  if (cu && opts.kalpha2 !== 'no') {
    if (opts.kalpha2 === 'yes') ratio = KA2_RATIO;
    else {
      const strong = cands
        .filter((c) => twoTheta[c.i]! > 35)
        .sort((a, b) => b.h - a.h)
        .slice(0, 8);
      // per peak, doublet rss / singlet rss; the median decides (a K-alpha2 component picked as a
      // peak of its own fits badly either way and must not outvote the lines)
      const ratios: number[] = [];
      for (const c of strong) {
        const x0 = twoTheta[c.i]!;
        const lo = lowerIndex(twoTheta, x0 - 1.5 * c.w);
        const hi = lowerIndex(twoTheta, kalpha2Position(x0) + 1.5 * c.w);
        const s = fitPeak(twoTheta, rawNet, lo, hi, { x: x0, a: c.h, w: c.w, sigma: 0 }, 0, step);
        const d = fitPeak(twoTheta, rawNet, lo, hi, { x: x0, a: c.h / 1.3, w: c.w * 0.8, sigma: 0 }, KA2_RATIO, step);
        ratios.push(d.rss / Math.max(s.rss, 1e-300));
      }
      if (strong.length >= 2 && median(ratios) < 0.8) ratio = KA2_RATIO;
    }
  }
  // drop candidates that are the K-alpha2 component of a stronger line
  if (ratio > 0) {
    cands.sort((a, b) => b.h - a.h);
    const kept: typeof cands = [];
    for (const c of cands) {
      const x = twoTheta[c.i]!;
      const parent = kept.find((k) => {
        const x2 = kalpha2Position(twoTheta[k.i]!);
        return Math.abs(x - x2) < Math.max(0.35 * k.w, 2.5 * step) && c.h < 0.9 * k.h && x > twoTheta[k.i]!;
      });
      if (!parent) kept.push(c);
    }
    cands = kept;
  }
  cands.sort((a, b) => a.i - b.i);
  // fits: each peak in turn with the current model of its neighbours subtracted (two passes)
  const fits: FitPeak[] = cands.map((c) => ({ x: twoTheta[c.i]!, a: ratio > 0 ? c.h / 1.2 : c.h, w: Math.max(c.w * (ratio > 0 ? 0.85 : 1), 2 * step), sigma: step }));
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < fits.length; j++) {
      const f = fits[j]!;
      const lo = lowerIndex(twoTheta, f.x - 1.2 * f.w);
      const hi = lowerIndex(twoTheta, (ratio > 0 ? kalpha2Position(f.x) : f.x) + 1.2 * f.w);
      if (hi - lo < 5) continue;
      const target = new Float64Array(n);
      for (let i = lo; i <= hi; i++) {
        let o = rawNet[i]!;
        for (let q = Math.max(0, j - 6); q < Math.min(fits.length, j + 7); q++) if (q !== j) o -= profile(fits[q]!, twoTheta[i]!, ratio);
        target[i] = o;
      }
      const r = fitPeak(twoTheta, target, lo, hi, f, ratio, step);
      fits[j] = r.peak;
    }
  }
  const lambdaD = ratio > 0 ? CU_KA1 : lambda;
  const maxA = Math.max(...fits.map((f) => f.a));
  let peaks: PickedPeak[] = fits
    .map((f, j) => ({ f, c: cands[j]! }))
    .filter(({ f, c }) => f.a >= minRel * maxA && f.a >= kSigma * noise[c.i]! * 0.75 && f.x > twoTheta[0]! && f.x < twoTheta[n - 1]!)
    .map(({ f }) => ({
      twoTheta: f.x,
      sigma: Math.max(f.sigma, 1e-4),
      height: f.a,
      relative: f.a / maxA,
      fwhm: f.w,
      d: lambdaD / (2 * Math.sin((f.x * DEG) / 2)),
    }));
  // two fits that converged onto one line
  peaks = peaks.filter((p, i) => !peaks.some((q, j) => j !== i && Math.abs(q.twoTheta - p.twoTheta) < 0.5 * Math.min(p.fwhm, q.fwhm) && (q.height > p.height || (q.height === p.height && j < i))));
  if (peaks.length > maxPeaks) peaks = [...peaks].sort((a, b) => b.height - a.height).slice(0, maxPeaks);
  peaks.sort((a, b) => a.twoTheta - b.twoTheta);
  return { peaks, wavelength: lambdaD, kalpha2: ratio > 0, noise: noiseMedian, background: bg, smoothed: sm };
}

/** Index of the grid point nearest to t (grid ascending). */
function lowerIndex(x: ArrayLike<number>, t: number): number {
  let lo = 0;
  let hi = x.length - 1;
  if (t <= x[0]!) return 0;
  if (t >= x[hi]!) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x[mid]! <= t) lo = mid;
    else hi = mid;
  }
  return t - x[lo]! < x[hi]! - t ? lo : hi;
}
