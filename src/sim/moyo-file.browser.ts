// Browser stand-in for moyo-file.ts (the browser build swaps it in): there is no file to read, the
// page fetches moyo_wasm_bg.wasm and calls initSpaceGroups(bytes) before any space-group lookup.

export function readMoyoWasm(): Uint8Array {
  throw new Error('the space-group tables are not loaded: fetch moyo_wasm_bg.wasm and call initSpaceGroups(bytes) first');
}
