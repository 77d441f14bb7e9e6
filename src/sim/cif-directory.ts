// Reading a folder of CIFs for simulate()'s directory source. Node only: the browser build swaps
// in cif-directory.browser.ts (a page passes parsed crystals, Crystal[], instead).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export { readCifStructures } from './cif.ts';

/** The *.cif files of a directory, sorted by name (throws with the reason when it cannot be read). */
export function cifFilesIn(dir: string): string[] {
  if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  return readdirSync(dir)
    .filter((n) => n.toLowerCase().endsWith('.cif'))
    .sort()
    .map((n) => join(dir, n));
}
