// Trial cells from the first observed lines (Q = 1/d^2): cubic from one line, tetragonal and
// hexagonal from pairs, orthorhombic from triples, each line given low indices and the linear
// system in the lattice parameters solved. Trials are deduplicated and kept within cell limits.
import { formOf, type Form, type LatticeType } from './lattice.ts';

export interface TrialOptions {
  /** Lines the trials are solved from (the first this many observed), per lattice type. */
  firstLines?: Partial<Record<LatticeType, number>>;
  /** Largest index used in the trial assignments (default 3; orthorhombic 2). */
  maxIndex?: Partial<Record<LatticeType, number>>;
  /** Cell edge limits, angstrom (default 2 to 40). */
  minEdge?: number;
  maxEdge?: number;
  /** Largest cell volume, cubic angstrom (default 6000). */
  maxVolume?: number;
}

const DEFAULT_FIRST: Record<LatticeType, number> = { cubic: 4, tetragonal: 7, hexagonal: 7, orthorhombic: 7, monoclinic: 6 };
const DEFAULT_INDEX: Record<LatticeType, number> = { cubic: 10, tetragonal: 3, hexagonal: 3, orthorhombic: 2, monoclinic: 2 };

/** Key for deduplication: parameters rounded to about 0.05 %. */
function key(p: number[]): string {
  return p.map((v) => Math.round(Math.log(v) * 2000)).join(',');
}

function sumsOfSquares(max: number): number[] {
  const s = new Set<number>();
  for (let h = 0; h * h <= max; h++) for (let k = 0; k <= h; k++) for (let l = 0; l <= k; l++) if (h) s.add(h * h + k * k + l * l);
  return [...s].filter((v) => v <= max).sort((a, b) => a - b);
}

/** The trial forms of one lattice type from observed Q values (ascending). */
export function trialForms(type: LatticeType, q: readonly number[], opts: TrialOptions = {}): Form[] {
  const first = Math.min(q.length, opts.firstLines?.[type] ?? DEFAULT_FIRST[type]);
  const maxIndex = opts.maxIndex?.[type] ?? DEFAULT_INDEX[type];
  const minEdge = opts.minEdge ?? 2;
  const maxEdge = opts.maxEdge ?? 40;
  const maxVolume = opts.maxVolume ?? 6000;
  const okEdge = (x: number) => x > 1 / (maxEdge * maxEdge) && x < 1 / (minEdge * minEdge);
  const seen = new Map<string, number[]>();
  const add = (p: number[]) => {
    const k = key(p);
    if (!seen.has(k)) seen.set(k, p);
  };
  if (type === 'cubic') {
    const ns = sumsOfSquares(maxIndex * maxIndex);
    for (let i = 0; i < first; i++) for (const n of ns) if (okEdge(q[i]! / n)) add([q[i]! / n]);
  } else if (type === 'tetragonal' || type === 'hexagonal') {
    const ms = new Set<number>();
    for (let h = 0; h <= maxIndex; h++) for (let k = 0; k <= h; k++) ms.add(type === 'hexagonal' ? h * h + h * k + k * k : h * h + k * k);
    const pairs: [number, number][] = [];
    for (const m of ms) for (let l = 0; l <= maxIndex; l++) if (m || l) pairs.push([m, l * l]);
    const hexA = (A: number) => (type === 'hexagonal' ? (4 / 3) / A : 1 / A); // a^2
    for (let i = 0; i < first; i++) {
      for (let j = i + 1; j < first; j++) {
        for (const [mi, ni] of pairs) {
          for (const [mj, nj] of pairs) {
            const det = mi * nj - mj * ni;
            if (det === 0) continue;
            const A = (q[i]! * nj - q[j]! * ni) / det;
            const C = (mi * q[j]! - mj * q[i]!) / det;
            if (!(A > 0 && C > 0)) continue;
            const a2 = hexA(A);
            if (!(okEdge(1 / a2) && okEdge(C))) continue;
            const vol = (type === 'hexagonal' ? (Math.sqrt(3) / 2) * a2 : a2) / Math.sqrt(C);
            if (vol > maxVolume) continue;
            add([A, C]);
          }
        }
      }
    }
  } else if (type === 'orthorhombic') {
    const hkls: [number, number, number][] = [];
    for (let h = 0; h <= maxIndex; h++) for (let k = 0; k <= maxIndex; k++) for (let l = 0; l <= maxIndex; l++) if (h || k || l) hkls.push([h * h, k * k, l * l]);
    for (let i = 0; i < first; i++) {
      for (let j = i + 1; j < first; j++) {
        for (let m = j + 1; m < first; m++) {
          const qi = q[i]!;
          const qj = q[j]!;
          const qm = q[m]!;
          for (const r1 of hkls) {
            for (const r2 of hkls) {
              // 2x2 minors of the first two rows, reused for every third row
              const c0 = r1[1] * r2[2] - r1[2] * r2[1];
              const c1 = r1[2] * r2[0] - r1[0] * r2[2];
              const c2 = r1[0] * r2[1] - r1[1] * r2[0];
              if (c0 === 0 && c1 === 0 && c2 === 0) continue;
              for (const r3 of hkls) {
                const det = r3[0] * c0 + r3[1] * c1 + r3[2] * c2;
                if (det === 0) continue;
                // Cramer's rule
                const A = (qi * (r2[1] * r3[2] - r2[2] * r3[1]) - r1[1] * (qj * r3[2] - r2[2] * qm) + r1[2] * (qj * r3[1] - r2[1] * qm)) / det;
                if (!okEdge(A)) continue;
                const B = (r1[0] * (qj * r3[2] - r2[2] * qm) - qi * (r2[0] * r3[2] - r2[2] * r3[0]) + r1[2] * (r2[0] * qm - qj * r3[0])) / det;
                if (!okEdge(B)) continue;
                const C = (r1[0] * (r2[1] * qm - qj * r3[1]) - r1[1] * (r2[0] * qm - qj * r3[0]) + qi * (r2[0] * r3[1] - r2[1] * r3[0])) / det;
                if (!okEdge(C)) continue;
                if (1 / Math.sqrt(A * B * C) > maxVolume) continue;
                // the same cell with its axes permuted is one trial: a <= b <= c
                const p = [A, B, C].sort((x, y) => y - x);
                add(p);
              }
            }
          }
        }
      }
    }
  } else {
    throw new RangeError(`trialForms: no trial generator for ${type} lattices`);
  }
  return [...seen.values()].map((p) => formOf(type, p));
}
