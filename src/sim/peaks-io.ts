// Peak-list JSON: an array of { two_theta, d, hkl, multiplicity, intensity } objects, one per
// peak, sorted by 2-theta; intensity on 0..100 with the strongest peak at 100; hkl lists one
// representative [h, k, l] per set of equivalent reflections in the peak.

import { writeFileSync } from 'node:fs';
import type { Peak } from './reflections.ts';

export class PeaksWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeaksWriteError';
  }
}

/** The JSON text of a peak list (one peak per line), for callers without a file system. */
export function peaksToJson(peaks: Peak[]): string {
  peaks.forEach((p, i) => {
    if (![p.two_theta, p.d, p.multiplicity, p.intensity].every(Number.isFinite)) {
      throw new PeaksWriteError(`peak ${i} has a non-finite field: ${JSON.stringify(p)}`);
    }
  });
  const lines = peaks.map((p) =>
    JSON.stringify({
      two_theta: p.two_theta,
      d: p.d,
      hkl: p.hkl,
      multiplicity: p.multiplicity,
      intensity: p.intensity,
    }),
  );
  return lines.length === 0 ? '[]\n' : `[\n${lines.join(',\n')}\n]\n`;
}

/** Write a peak list as JSON to `path`. */
export function writePeaksJson(peaks: Peak[], path: string): void {
  const text = peaksToJson(peaks);
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new PeaksWriteError(
      `cannot write the peak list to ${path}: ${e instanceof Error ? e.message : String(e)}; ` +
        'check that the folder exists and is writable',
    );
  }
}
