// The axis the network sees. 'two-theta' is the measured grid as it is. 'log-q' averages the grid
// into bins of equal width in ln Q (Q = 4 pi sin(theta) / lambda): on that axis a change of cell
// size moves every peak by the same amount, so a convolution learns the spacing pattern of a
// lattice once instead of once per cell size. Bins are narrow where peaks are sharp in d (low
// angle, one or two grid points each) and wide at high angle (about 23 points at 0.002).

/**
 * How a pattern becomes the network input: sampled on the grid, scaled so its maximum is 1, put
 * on the network's `axis` ('two-theta', the grid itself, when absent; 'log-q', means over bins
 * logQStep wide in ln Q, see below), then `transform`: 'none' (the paper) or 'log',
 * y = log(1 + I / logEpsilon) / log(1 + 1 / logEpsilon) (negative noise clamped to 0 first;
 * weak peaks are lifted).
 */
export interface InputSpec {
  twoThetaMin: number;
  step: number;
  points: number;
  wavelength: number;
  transform: 'none' | 'log';
  logEpsilon?: number;
  axis?: 'two-theta' | 'log-q';
  logQStep?: number;
}

export class InputAxisError extends Error {
  override name = 'InputAxisError';
}

const lnQ = (twoThetaDeg: number, wavelength: number): number => Math.log((4 * Math.PI * Math.sin((twoThetaDeg * Math.PI) / 360)) / wavelength);

/**
 * For the log-q axis: S + 1 grid indices, bin s holding grid points [starts[s], starts[s + 1]).
 * Bins are logQStep wide from the first grid point; the last bin also takes the grid's end.
 */
export function logQBinStarts(input: Pick<InputSpec, 'twoThetaMin' | 'step' | 'points' | 'wavelength' | 'logQStep'>): Int32Array {
  const { twoThetaMin, step, points, wavelength } = input;
  const width = input.logQStep;
  if (!(width !== undefined && width > 0)) throw new InputAxisError('the log-q axis needs input.logQStep > 0');
  const last = twoThetaMin + (points - 1) * step;
  if (!(twoThetaMin > 0) || !(last < 180)) throw new InputAxisError(`the log-q axis needs a grid within 0 < 2-theta < 180 deg, got ${twoThetaMin}-${last}`);
  const q0 = lnQ(twoThetaMin, wavelength);
  const bins = Math.floor((lnQ(last, wavelength) - q0) / width);
  if (bins < 1) throw new InputAxisError(`input.logQStep ${width} is wider than the whole grid`);
  const starts = new Int32Array(bins + 1);
  let b = 0;
  for (let i = 0; i < points; i++) {
    const bin = Math.min(bins - 1, Math.floor((lnQ(twoThetaMin + i * step, wavelength) - q0) / width));
    if (bin > b + 1 || (i === 0 && bin !== 0)) {
      throw new InputAxisError(`input.logQStep ${width} is finer than the grid: log-q bin ${b + 1} holds no point near ${(twoThetaMin + i * step).toFixed(3)} deg; use a wider step`);
    }
    if (bin === b + 1) starts[++b] = i;
  }
  starts[bins] = points;
  return starts;
}

/** Length of the network input for this input spec. */
export function networkInputLength(input: InputSpec): number {
  return (input.axis ?? 'two-theta') === 'log-q' ? logQBinStarts(input).length - 1 : input.points;
}

/** Per-bin values spread back onto the grid points (each point gets its bin's value / bin size, so sums are kept). */
export function spreadToGrid(perBin: ArrayLike<number>, starts: Int32Array): Float32Array {
  const out = new Float32Array(starts[starts.length - 1]!);
  for (let s = 0; s + 1 < starts.length; s++) {
    const n = starts[s + 1]! - starts[s]!;
    for (let i = starts[s]!; i < starts[s + 1]!; i++) out[i] = perBin[s]! / n;
  }
  return out;
}
