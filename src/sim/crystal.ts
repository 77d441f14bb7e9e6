// Crystal model shared by the CIF reader, the synthetic generator and the diffraction code.
// Lengths in angstrom, angles in degrees, positions fractional.

export type Vec3 = [number, number, number];
/** Row-major 3x3 matrix. */
export type Mat3 = [number, number, number, number, number, number, number, number, number];

export interface Lattice {
  a: number;
  b: number;
  c: number;
  alpha: number;
  beta: number;
  gamma: number;
}

/** One atom (or ion) on one position. Mixed occupancy = several sites at the same position. */
export interface Site {
  /** Element symbol, capitalised: 'Li', 'O'. */
  element: string;
  /** Formal charge when the structure names ions ('O2-' -> -2); null for neutral / unknown. */
  charge: number | null;
  frac: Vec3;
  /** 0..1 */
  occupancy: number;
  /** Isotropic displacement B in A^2 (B = 8 pi^2 Uiso); 0 when unknown. */
  biso: number;
  /** Label from the source (CIF _atom_site_label), for messages. */
  label?: string;
}

/** A symmetry operation x' = R x + t on fractional coordinates. */
export interface SymOp {
  rotation: Mat3;
  translation: Vec3;
}

export type CrystalSystem =
  | 'triclinic'
  | 'monoclinic'
  | 'orthorhombic'
  | 'tetragonal'
  | 'trigonal'
  | 'hexagonal'
  | 'cubic';

export const CRYSTAL_SYSTEMS: readonly CrystalSystem[] = [
  'triclinic',
  'monoclinic',
  'orthorhombic',
  'tetragonal',
  'trigonal',
  'hexagonal',
  'cubic',
];

/** Crystal system of an international space-group number (1..230). */
export function crystalSystemOf(spaceGroup: number): CrystalSystem {
  if (!Number.isInteger(spaceGroup) || spaceGroup < 1 || spaceGroup > 230) {
    throw new RangeError(`space group must be an integer 1..230, got ${spaceGroup}`);
  }
  if (spaceGroup <= 2) return 'triclinic';
  if (spaceGroup <= 15) return 'monoclinic';
  if (spaceGroup <= 74) return 'orthorhombic';
  if (spaceGroup <= 142) return 'tetragonal';
  if (spaceGroup <= 167) return 'trigonal';
  if (spaceGroup <= 194) return 'hexagonal';
  return 'cubic';
}

/** A crystal with every atom of the unit cell listed (symmetry already applied). */
export interface Crystal {
  name: string;
  lattice: Lattice;
  sites: Site[];
  /** Space group when known (from the source or detected); null otherwise. */
  spaceGroup: number | null;
}

const DEG = Math.PI / 180;

/** Rows are the cartesian lattice vectors a, b, c (a along x, b in the xy plane). */
export function latticeMatrix(l: Lattice): Mat3 {
  const ca = Math.cos(l.alpha * DEG);
  const cb = Math.cos(l.beta * DEG);
  const cg = Math.cos(l.gamma * DEG);
  const sg = Math.sin(l.gamma * DEG);
  const cx = l.c * cb;
  const cy = (l.c * (ca - cb * cg)) / sg;
  const cz2 = l.c * l.c - cx * cx - cy * cy;
  if (!(cz2 > 0)) throw new RangeError(`lattice angles are not realisable: ${JSON.stringify(l)}`);
  return [l.a, 0, 0, l.b * cg, l.b * sg, 0, cx, cy, Math.sqrt(cz2)];
}

export function cellVolume(l: Lattice): number {
  const ca = Math.cos(l.alpha * DEG);
  const cb = Math.cos(l.beta * DEG);
  const cg = Math.cos(l.gamma * DEG);
  const v2 = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg;
  if (!(v2 > 0)) throw new RangeError(`lattice angles are not realisable: ${JSON.stringify(l)}`);
  return l.a * l.b * l.c * Math.sqrt(v2);
}

/** Reciprocal metric tensor G* (row-major), so 1/d^2 = h^T G* h. */
export function reciprocalMetric(l: Lattice): Mat3 {
  const m = latticeMatrix(l);
  const g: Mat3 = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      g[i * 3 + j] = m[i * 3] * m[j * 3] + m[i * 3 + 1] * m[j * 3 + 1] + m[i * 3 + 2] * m[j * 3 + 2];
    }
  }
  return invert3(g);
}

export function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (det === 0) throw new RangeError('singular matrix');
  return [
    A / det,
    -(b * i - c * h) / det,
    (b * f - c * e) / det,
    B / det,
    (a * i - c * g) / det,
    -(a * f - c * d) / det,
    C / det,
    -(a * h - b * g) / det,
    (a * e - b * d) / det,
  ];
}

/** Wrap a fractional coordinate into [0, 1). */
export function wrap01(x: number): number {
  const y = x - Math.floor(x);
  return y >= 1 - 1e-12 ? 0 : y;
}
