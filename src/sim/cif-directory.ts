// Reading a folder of CIFs for simulate()'s directory source. Node only: the browser build swaps
// in cif-directory.browser.ts (a page passes parsed crystals, Crystal[], instead).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export { readCifStructures } from './cif.ts';

/**
 * The *.cif files of a directory, sorted by name; with `recursive`, those of its subdirectories
 * too, each in its place in the order of names. Throws with the reason when it cannot be read.
 */
export function cifFilesIn(dir: string, recursive = false): string[] {
  if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (recursive && statSync(path).isDirectory()) out.push(...cifFilesIn(path, true));
    else if (name.toLowerCase().endsWith('.cif')) out.push(path);
  }
  return out;
}
