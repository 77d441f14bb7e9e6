// Browser stand-in for cif-directory.ts (the browser build swaps it in): no file system, so
// simulate() takes parsed crystals (Crystal[] from parseCif) instead of a folder.
import type { Crystal } from './crystal.ts';

function nodeOnly(): never {
  throw new Error('a folder of CIFs needs a file system; in a browser, parse the CIF text with parseCif and pass the crystals');
}

export function readCifStructures(_path: string): Crystal[] {
  return nodeOnly();
}

export function cifFilesIn(_dir: string, _recursive = false): string[] {
  return nodeOnly();
}
