// Cell refinement and figures of merit: hkl assigned to the observed lines, the lattice
// parameters and a zero shift refined by least squares in 2-theta, then de Wolff's M20
// (J. Appl. Cryst. 1, 108, 1968) and Smith & Snyder's F_N (J. Appl. Cryst. 12, 60, 1979), and
// the lattice centring the indexed reflections allow.
import { solve } from './peaks.ts';
import {
  allowedHkl,
  calculatedLines,
  cellOfForm,
  centringsOf,
  designRow,
  dqDTwoTheta,
  formOf,
  parameterCount,
  qFromTwoTheta,
  twoThetaFromQ,
  type CalcLine,
  type Cell,
  type Centring,
  type Form,
  type Hkl,
  type LatticeType,
} from './lattice.ts';

export interface ObservedLine {
  /** Degrees. */
  twoTheta: number;
  /** Standard uncertainty of the position, degrees. */
  sigma: number;
}

export interface RefineOptions {
  /** A line is indexed when |2-theta obs - calc| <= max(tol, 2.5 sigma), degrees (default 0.04). */
  tol?: number;
  /** Refine a zero shift (default true), limited to +-maxZero degrees (default 0.25). */
  refineZero?: boolean;
  maxZero?: number;
  /** Lines used for the figures of merit (default 20). */
  meritLines?: number;
}

export interface IndexedLine {
  twoTheta: number;
  /** Calculated 2-theta of the assigned line, zero shift included; null if unindexed. */
  calc: number | null;
  /** obs - calc, degrees. */
  delta: number | null;
  /** Every hkl of the assigned line allowed by the centring (empty if unindexed). */
  hkl: Hkl[];
}

export interface Solution {
  type: LatticeType;
  /** Free parameters of the form (see lattice.ts formOf). */
  params: number[];
  form: Form;
  cell: Cell;
  /** Refined zero shift: 2-theta obs = 2-theta calc + zero, degrees. */
  zero: number;
  centring: Centring;
  /** de Wolff's M_N (N = min(20, lines)), with the centring's calculated lines. */
  m20: number;
  /** M_N counting every line of the primitive lattice. */
  m20Primitive: number;
  /** M_N with each unindexed line counted as a miss by the full tolerance (ranks solutions). */
  m20All: number;
  /** Smith-Snyder F_N, its mean |delta 2-theta| (deg) and number of possible lines. */
  fn: number;
  fnMeanDelta: number;
  fnPossible: number;
  /** N of M_N and F_N. */
  n: number;
  /** Indexed among the first n lines, and among all. */
  indexedN: number;
  indexedAll: number;
  lines: IndexedLine[];
}


interface Assignment {
  line: CalcLine | null;
  candidates: CalcLine[];
  delta: number;
}

/** Assigns each observed line the nearest calculated one (and every one within tolerance). */
function assign(obs: readonly ObservedLine[], calc: CalcLine[], lambda: number, zero: number, tolOf: (o: ObservedLine) => number): Assignment[] {
  const tt = calc.map((c) => twoThetaFromQ(c.q, lambda) + zero);
  return obs.map((o) => {
    const tol = tolOf(o);
    let best: CalcLine | null = null;
    let bestD = Infinity;
    const candidates: CalcLine[] = [];
    // calc is sorted: binary search, then walk both ways
    let lo = 0;
    let hi = tt.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tt[mid]! < o.twoTheta) lo = mid + 1;
      else hi = mid;
    }
    for (let j = lo - 1; j >= 0 && o.twoTheta - tt[j]! <= Math.max(tol, bestD); j--) {
      const d = Math.abs(o.twoTheta - tt[j]!);
      if (d < bestD) [best, bestD] = [calc[j]!, d];
      if (d <= tol) candidates.push(calc[j]!);
    }
    for (let j = lo; j < tt.length && tt[j]! - o.twoTheta <= Math.max(tol, bestD); j++) {
      const d = Math.abs(o.twoTheta - tt[j]!);
      if (d < bestD) [best, bestD] = [calc[j]!, d];
      if (d <= tol) candidates.push(calc[j]!);
    }
    return bestD <= tol ? { line: best, candidates, delta: bestD } : { line: null, candidates, delta: bestD };
  });
}

/**
 * Refines a trial (lattice parameters) against the observed lines; null when the cell falls
 * apart (non-positive parameters) or fewer lines index than it has parameters.
 */
export function refineCell(type: LatticeType, params0: readonly number[], obs: readonly ObservedLine[], lambda: number, opts: RefineOptions = {}): Solution | null {
  if (obs.length === 0) return null;
  const tol = opts.tol ?? 0.04;
  const maxZero = opts.maxZero ?? 0.25;
  const np = parameterCount(type);
  const tolOf = (o: ObservedLine) => Math.max(tol, 2.5 * o.sigma);
  const ttMax = obs[obs.length - 1]!.twoTheta + 1;
  const qMax = qFromTwoTheta(Math.min(ttMax, 179), lambda);
  let p = [...params0];
  let zero = 0;
  let prevKey = '';
  for (let iter = 0; iter < 8; iter++) {
    const form = formOf(type, p);
    const calc = calculatedLines(type, form, qMax);
    // the first passes assign with twice the tolerance: a trial cell and an unrefined zero shift
    // can put good lines just outside it
    const asg = assign(obs, calc, lambda, zero, iter < 2 ? (o) => 2 * tolOf(o) : tolOf);
    const used = asg.map((a, i) => ({ a, o: obs[i]! })).filter((x) => x.a.line);
    if (used.length < np + 1) return null;
    const fitZero = (opts.refineZero ?? true) && used.length >= np + 3;
    const nu = np + (fitZero ? 1 : 0);
    const M = Array.from({ length: nu }, () => new Array<number>(nu).fill(0));
    const b = new Array<number>(nu).fill(0);
    for (const { a, o } of used) {
      const hkl = a.line!.hkls[0]!;
      const tc = twoThetaFromQ(a.line!.q, lambda);
      const dtdq = 1 / dqDTwoTheta(tc, lambda);
      const row = designRow(type, ...hkl).map((x) => x * dtdq);
      if (fitZero) row.push(1);
      const r = o.twoTheta - (tc + zero);
      const w = 1 / Math.max(o.sigma, 0.005) ** 2;
      for (let i = 0; i < nu; i++) {
        b[i]! += w * row[i]! * r;
        for (let j = 0; j < nu; j++) M[i]![j]! += w * row[i]! * row[j]!;
      }
    }
    // a little ridge on the zero shift keeps it from trading off against the cell when lines are few
    if (fitZero) M[nu - 1]![nu - 1]! += 1 / 0.1 ** 2;
    const step = solve(M, b);
    if (!step) return null;
    let scale = 1;
    while (scale > 1e-3 && p.some((v, i) => (i < 3 || type !== 'monoclinic') && v + scale * step[i]! <= 0)) scale /= 2;
    p = p.map((v, i) => v + scale * step[i]!);
    if (fitZero) zero = Math.max(-maxZero, Math.min(maxZero, zero + scale * step[np]!));
    const k = asg.map((a) => (a.line ? a.line.q.toFixed(6) : '-')).join(',');
    const small = step.every((s, i) => Math.abs(s) < 1e-9 * Math.max(1e-6, Math.abs(p[i] ?? 1)));
    if (k === prevKey && small) break;
    prevKey = k;
  }
  return evaluate(type, p, zero, obs, lambda, opts);
}

/** Hand-checkable figures of merit for a fixed cell (no refinement). */
export function evaluate(type: LatticeType, params: readonly number[], zero: number, obs: readonly ObservedLine[], lambda: number, opts: RefineOptions = {}): Solution | null {
  const tol = opts.tol ?? 0.04;
  const tolOf = (o: ObservedLine) => Math.max(tol, 2.5 * o.sigma);
  const form = formOf(type, [...params]);
  const cell = cellOfForm(form);
  if (!cell) return null;
  const n = Math.min(opts.meritLines ?? 20, obs.length);
  const ttMax = obs[obs.length - 1]!.twoTheta + 1;
  const qMax = qFromTwoTheta(Math.min(ttMax, 179), lambda);
  const calcP = calculatedLines(type, form, qMax);
  const asgP = assign(obs, calcP, lambda, zero, tolOf);
  // Q of the n-th line, corrected for the zero shift
  const qN = qFromTwoTheta(obs[n - 1]!.twoTheta - zero, lambda);
  // centring: the most restrictive one that every indexed line (one slip allowed from 10 lines)
  // agrees with, and that removes at least 3 lines below the n-th
  const indexedFirst = asgP.slice(0, n).filter((a) => a.line);
  // lines of a centring: the primitive lines with their allowed hkl (no new enumeration)
  const linesOf = (c: Centring): CalcLine[] =>
    calcP.map((l) => ({ q: l.q, hkls: l.hkls.filter((h) => allowedHkl(type, c, ...h)) })).filter((l) => l.hkls.length > 0);
  const qLimit = qN * (1 + 1e-7);
  const countBelow = (c: Centring) => {
    let k = 0;
    for (const l of calcP) if (l.q <= qLimit && l.hkls.some((h) => allowedHkl(type, c, ...h))) k++;
    return k;
  };
  const nP = countBelow('P');
  let centring: Centring = 'P';
  for (const c of centringsOf(type)) {
    if (c === 'P') break;
    const slips = indexedFirst.filter((a) => !a.candidates.some((l) => l.hkls.some((h) => allowedHkl(type, c, ...h)))).length;
    if (slips > (indexedFirst.length >= 10 ? 1 : 0)) continue;
    if (nP - countBelow(c) < 3) continue;
    centring = c;
    break;
  }
  const calc = centring === 'P' ? calcP : linesOf(centring);
  const asg = centring === 'P' ? asgP : assign(obs, calc, lambda, zero, tolOf);
  const lines: IndexedLine[] = obs.map((o, i) => {
    const a = asg[i]!;
    if (!a.line) return { twoTheta: o.twoTheta, calc: null, delta: null, hkl: [] };
    const c = twoThetaFromQ(a.line.q, lambda) + zero;
    return { twoTheta: o.twoTheta, calc: c, delta: o.twoTheta - c, hkl: a.line.hkls.map((h) => [...h] as Hkl) };
  });
  const merit = (a: Assignment[], nCalc: number) => {
    let sumQ = 0;
    let sumT = 0;
    let k = 0;
    let missQ = 0;
    for (let i = 0; i < n; i++) {
      const x = a[i]!;
      if (!x.line) {
        missQ += dqDTwoTheta(obs[i]!.twoTheta, lambda) * tolOf(obs[i]!);
        continue;
      }
      sumQ += Math.abs(qFromTwoTheta(obs[i]!.twoTheta - zero, lambda) - x.line.q);
      sumT += x.delta;
      k++;
    }
    const epsQ = Math.max(sumQ / Math.max(k, 1), qN * 1e-7);
    const epsT = Math.max(sumT / Math.max(k, 1), 1e-5);
    const epsAll = Math.max((sumQ + missQ) / n, qN * 1e-7);
    return { m: k ? qN / (2 * epsQ * Math.max(nCalc, 1)) : 0, mAll: qN / (2 * epsAll * Math.max(nCalc, 1)), epsT, k };
  };
  const nC = centring === 'P' ? nP : countBelow(centring);
  const mC = merit(asg, nC);
  const mP = centring === 'P' ? mC : merit(asgP, nP);
  const fnPossible = nC;
  return {
    type,
    params: [...params],
    form,
    cell,
    zero,
    centring,
    m20: mC.m,
    m20Primitive: mP.m,
    m20All: mC.mAll,
    fn: mC.k ? n / (mC.epsT * Math.max(fnPossible, 1)) : 0,
    fnMeanDelta: mC.epsT,
    fnPossible,
    n,
    indexedN: mC.k,
    indexedAll: asg.filter((a) => a.line).length,
    lines,
  };
}

