// Pattern-grid flags shared by the commands: --wavelength, --range MIN,MAX, --step.
import { UsageError, type FlagSpec, type FlagValue } from './args.ts';

export interface CliGrid {
  wavelength: number;
  /** First point, degrees. */
  twoThetaMin: number;
  /** End of the range (exclusive: the last point is twoThetaMin + (points - 1) * step). */
  twoThetaMax: number;
  step: number;
  points: number;
}

export const GRID_FLAGS: FlagSpec[] = [
  { name: 'wavelength', type: 'number', value: 'A', description: 'X-ray wavelength in angstrom', default: 1.5418 },
  { name: 'range', type: 'string', value: 'MIN,MAX', description: '2-theta range in degrees', default: '5,90' },
  { name: 'step', type: 'number', value: 'DEG', description: '2-theta step in degrees', default: 0.01 },
];

/** Points per pattern beyond which a grid is refused (diffractometers record well under 100k). */
export const MAX_POINTS = 1_000_000;

/** The grid from --wavelength, --range and --step; the default is the model's 8500-point grid. */
export function gridFromFlags(flags: Record<string, FlagValue | undefined>): CliGrid {
  const wavelength = flags.wavelength as number;
  const step = flags.step as number;
  const range = String(flags.range);
  const m = /^\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*,\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*$/i.exec(range);
  if (!m) throw new UsageError(`--range needs two angles MIN,MAX in degrees such as 5,90, got '${range}'`);
  const twoThetaMin = Number(m[1]);
  const twoThetaMax = Number(m[2]);
  if (!(twoThetaMin >= 0 && twoThetaMin < twoThetaMax && twoThetaMax < 180)) {
    throw new UsageError(`--range must satisfy 0 <= MIN < MAX < 180 degrees, got ${twoThetaMin},${twoThetaMax}`);
  }
  if (!(wavelength > 0 && wavelength < 10)) throw new UsageError(`--wavelength must be between 0 and 10 angstrom, got ${wavelength}`);
  if (!(step > 0)) throw new UsageError(`--step must be a positive number of degrees, got ${step}`);
  const points = Math.round((twoThetaMax - twoThetaMin) / step);
  if (points > MAX_POINTS) {
    throw new UsageError(
      `--step ${step} over ${twoThetaMin}-${twoThetaMax} degrees gives ${points} points per pattern; at most ${MAX_POINTS} are allowed ` +
        `(a step of at least ${+((twoThetaMax - twoThetaMin) / MAX_POINTS).toPrecision(3)} degrees)`,
    );
  }
  if (Math.abs(points * step - (twoThetaMax - twoThetaMin)) > step * 1e-6) {
    throw new UsageError(`--step ${step} does not divide the range ${twoThetaMin}-${twoThetaMax} into whole steps; pick a step that does`);
  }
  if (points < 2) throw new UsageError(`the range ${twoThetaMin}-${twoThetaMax} at step ${step} gives fewer than 2 points`);
  return { wavelength, twoThetaMin, twoThetaMax, step, points };
}

/** The renderer's grid description (first point, step, points, wavelength). */
export function cliGridToGrid(g: CliGrid): { twoThetaMin: number; step: number; points: number; wavelength: number } {
  return { twoThetaMin: g.twoThetaMin, step: g.step, points: g.points, wavelength: g.wavelength };
}
