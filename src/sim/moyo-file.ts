// The bytes of moyo's WebAssembly module, read from node_modules (or XRD_MOYO_WASM, where a
// portable bundle keeps it). Node only: the browser build replaces this module with
// moyo-file.browser.ts and the page hands the fetched bytes to initSpaceGroups.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export function readMoyoWasm(): Uint8Array {
  const path = process.env.XRD_MOYO_WASM ?? createRequire(import.meta.url).resolve('@spglib/moyo-wasm/moyo_wasm_bg.wasm');
  return readFileSync(path);
}
