// Lattices in reciprocal space: Q = 1/d^2 as a quadratic form in (h, k, l),
//   Q(hkl) = A h^2 + B k^2 + C l^2 + D hk + E hl + F kl,
// the cell it stands for, and the lines (distinct Q values) a lattice type allows below a bound.
// Angles in degrees, lengths in angstrom. Knows nothing of networks or GPUs.
import type { Lattice } from '../sim/crystal.ts';


export type LatticeType = 'cubic' | 'hexagonal' | 'tetragonal' | 'orthorhombic' | 'monoclinic';

/** From the highest symmetry down: the order the verdict tries them in. */
export const LATTICE_TYPES: readonly LatticeType[] = ['cubic', 'hexagonal', 'tetragonal', 'orthorhombic', 'monoclinic'];

/** The six coefficients [A, B, C, D, E, F] of the quadratic form. */
export type Form = [number, number, number, number, number, number];

/** A cell with its volume (A^3). */
export interface Cell extends Lattice {
  volume: number;
}

export type Hkl = [number, number, number];

const DEG = Math.PI / 180;

export function qOf(f: Form | Float64Array | readonly number[], h: number, k: number, l: number): number {
  return f[0]! * h * h + f[1]! * k * k + f[2]! * l * l + f[3]! * h * k + f[4]! * h * l + f[5]! * k * l;
}

/** Q = 1/d^2 of a line at 2-theta (degrees) and wavelength (angstrom). */
export function qFromTwoTheta(twoTheta: number, wavelength: number): number {
  const s = Math.sin((twoTheta * DEG) / 2);
  return (4 * s * s) / (wavelength * wavelength);
}

/** 2-theta (degrees) of Q; NaN beyond the sphere of reflection. */
export function twoThetaFromQ(q: number, wavelength: number): number {
  const s = (wavelength * Math.sqrt(q)) / 2;
  return s > 1 ? Number.NaN : (2 * Math.asin(s)) / DEG;
}

/** dQ / d(2-theta) per degree at a given 2-theta. */
export function dqDTwoTheta(twoTheta: number, wavelength: number): number {
  return ((2 * Math.sin(twoTheta * DEG)) / (wavelength * wavelength)) * DEG;
}

/** The reciprocal metric tensor of a form (symmetric 3x3, row-major). */
export function reciprocalMetric(f: Form): number[] {
  const [A, B, C, D, E, F] = f;
  return [A, D / 2, E / 2, D / 2, B, F / 2, E / 2, F / 2, C];
}

function inv3(m: number[]): number[] | null {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (!(Math.abs(det) > 0) || !Number.isFinite(det)) return null;
  return [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det, (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det, (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det];
}

/** The direct cell of a form, or null when the form is not positive definite. */
export function cellOfForm(f: Form): Cell | null {
  const g = inv3(reciprocalMetric(f));
  if (!g) return null;
  const [g11, g12, g13, , g22, g23, , , g33] = g as [number, number, number, number, number, number, number, number, number];
  if (!(g11 > 0 && g22 > 0 && g33 > 0)) return null;
  const a = Math.sqrt(g11);
  const b = Math.sqrt(g22);
  const c = Math.sqrt(g33);
  const det = g11 * (g22 * g33 - g23 * g23) - g12 * (g12 * g33 - g23 * g13) + g13 * (g12 * g23 - g22 * g13);
  if (!(det > 0)) return null;
  const ang = (x: number) => Math.acos(Math.max(-1, Math.min(1, x))) / DEG;
  return { a, b, c, alpha: ang(g23 / (b * c)), beta: ang(g13 / (a * c)), gamma: ang(g12 / (a * b)), volume: Math.sqrt(det) };
}

/** The form of a cell (any triclinic cell). */
export function formOfCell(cell: { a: number; b: number; c: number; alpha: number; beta: number; gamma: number }): Form {
  const { a, b, c } = cell;
  const ca = Math.cos(cell.alpha * DEG);
  const cb = Math.cos(cell.beta * DEG);
  const cg = Math.cos(cell.gamma * DEG);
  const g = [a * a, a * b * cg, a * c * cb, a * b * cg, b * b, b * c * ca, a * c * cb, b * c * ca, c * c];
  const r = inv3(g)!;
  return [r[0]!, r[4]!, r[8]!, 2 * r[1]!, 2 * r[2]!, 2 * r[5]!];
}

/** The free parameters of each lattice type and how they make a form (hexagonal: D = A). */
export function formOf(type: LatticeType, p: readonly number[]): Form {
  switch (type) {
    case 'cubic':
      return [p[0]!, p[0]!, p[0]!, 0, 0, 0];
    case 'tetragonal':
      return [p[0]!, p[0]!, p[1]!, 0, 0, 0];
    case 'hexagonal':
      return [p[0]!, p[0]!, p[1]!, p[0]!, 0, 0];
    case 'orthorhombic':
      return [p[0]!, p[1]!, p[2]!, 0, 0, 0];
    case 'monoclinic': // b unique: A h^2 + B k^2 + C l^2 + E hl
      return [p[0]!, p[1]!, p[2]!, 0, p[3]!, 0];
  }
}

/** The coefficient vector of Q in the free parameters, for a given hkl (Q = sum p_j * x_j). */
export function designRow(type: LatticeType, h: number, k: number, l: number): number[] {
  switch (type) {
    case 'cubic':
      return [h * h + k * k + l * l];
    case 'tetragonal':
      return [h * h + k * k, l * l];
    case 'hexagonal':
      return [h * h + h * k + k * k, l * l];
    case 'orthorhombic':
      return [h * h, k * k, l * l];
    case 'monoclinic':
      return [h * h, k * k, l * l, h * l];
  }
}

export function parameterCount(type: LatticeType): number {
  return { cubic: 1, tetragonal: 2, hexagonal: 2, orthorhombic: 3, monoclinic: 4 }[type];
}

/** Index ranges a lattice type needs: which of h and k run over negative values (l >= 0 always). */
export function signedRanges(type: LatticeType): { hSigned: boolean; kSigned: boolean } {
  return { hSigned: type === 'monoclinic', kSigned: false };
}

/** Largest |h|, |k|, |l| with Q <= qMax: a sqrt(qMax) etc. (from the direct metric). */
export function indexBounds(f: Form, qMax: number): [number, number, number] {
  const g = inv3(reciprocalMetric(f));
  if (!g) return [0, 0, 0];
  return [Math.floor(Math.sqrt(Math.max(0, g[0]!) * qMax) + 1e-9), Math.floor(Math.sqrt(Math.max(0, g[4]!) * qMax) + 1e-9), Math.floor(Math.sqrt(Math.max(0, g[8]!) * qMax) + 1e-9)];
}

export type Centring = 'P' | 'I' | 'F' | 'A' | 'B' | 'C' | 'R';

/** Whether a reflection is allowed by a lattice centring (R: hexagonal axes, obverse setting). */
export function allowedBy(c: Centring, h: number, k: number, l: number): boolean {
  switch (c) {
    case 'P':
      return true;
    case 'I':
      return (((h + k + l) % 2) + 2) % 2 === 0;
    case 'F': {
      const p = (x: number) => ((x % 2) + 2) % 2;
      return p(h) === p(k) && p(k) === p(l);
    }
    case 'A':
      return (((k + l) % 2) + 2) % 2 === 0;
    case 'B':
      return (((h + l) % 2) + 2) % 2 === 0;
    case 'C':
      return (((h + k) % 2) + 2) % 2 === 0;
    case 'R':
      return (((-h + k + l) % 3) + 3) % 3 === 0;
  }
}

/**
 * Whether some reflection with the metric of (h k l) is allowed: for R on hexagonal axes the
 * 6/mmm equivalents of (h k l) differ in -h+k+l mod 3 (e.g. 101 is allowed, 011 is not, and both
 * have one Q), so a line is allowed if any of them is. Parity centrings ignore signs.
 */
export function allowedHkl(type: LatticeType, c: Centring, h: number, k: number, l: number): boolean {
  if (c !== 'R' || type !== 'hexagonal') return allowedBy(c, h, k, l);
  const i = -h - k;
  const rot: [number, number][] = [
    [h, k],
    [k, i],
    [i, h],
    [k, h],
    [h, i],
    [i, k],
  ];
  for (const [x, y] of rot) {
    for (const s of [1, -1]) {
      if (allowedBy('R', s * x, s * y, l) || allowedBy('R', s * x, s * y, -l)) return true;
    }
  }
  return false;
}

/** Centrings that make sense for each lattice type, most restrictive first. */
export function centringsOf(type: LatticeType): Centring[] {
  switch (type) {
    case 'cubic':
      return ['F', 'I', 'P'];
    case 'tetragonal':
      return ['I', 'P'];
    case 'hexagonal':
      return ['R', 'P'];
    case 'orthorhombic':
      return ['F', 'I', 'C', 'A', 'B', 'P'];
    case 'monoclinic':
      return ['C', 'A', 'I', 'P'];
  }
}

export interface CalcLine {
  q: number;
  /** Every hkl (one of each +-pair for the index ranges used) with this Q. */
  hkls: Hkl[];
}

/**
 * The distinct calculated lines of a form with Q <= qMax (relative merge tolerance relTol), for
 * the index ranges of a lattice type and a centring. Sorted by Q.
 */
export function calculatedLines(type: LatticeType, f: Form, qMax: number, centring: Centring = 'P', relTol = 1e-7, maxHkl = 60): CalcLine[] {
  const [H, K, L] = indexBounds(f, qMax).map((n) => Math.min(n, maxHkl)) as [number, number, number];
  const { hSigned } = signedRanges(type);
  const all: { q: number; hkl: Hkl }[] = [];
  for (let h = hSigned ? -H : 0; h <= H; h++) {
    for (let k = 0; k <= K; k++) {
      for (let l = 0; l <= L; l++) {
        if (h === 0 && k === 0 && l === 0) continue;
        if (hSigned && h < 0 && l === 0) continue; // (-h k 0) has the Q of (h k 0)
        if (!allowedHkl(type, centring, h, k, l)) continue;
        const q = qOf(f, h, k, l);
        if (q <= qMax * (1 + relTol) && q > 0) all.push({ q, hkl: [h, k, l] });
      }
    }
  }
  all.sort((x, y) => x.q - y.q);
  const lines: CalcLine[] = [];
  for (const r of all) {
    const last = lines[lines.length - 1];
    if (last && r.q - last.q <= relTol * r.q) last.hkls.push(r.hkl);
    else lines.push({ q: r.q, hkls: [r.hkl] });
  }
  return lines;
}
