// Stick patterns of library entries (2-theta, intensity at Cu K-alpha over 4-93 deg), computed
// once from the structures and cached on disk: the AMCSD takes ~15 s to compute on 2 cores and
// ~0.2 s to read back. Search-match renders its profiles from these.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { computeReflections, CU_KALPHA, mergePeaks } from '../sim/reflections.ts';
import { entryCrystal, type Library } from './library.ts';

/** Sticks per entry: 2-theta (deg) and intensity (strongest 100), sorted by 2-theta. */
export interface EntrySticks {
  twoTheta: Float32Array;
  intensity: Float32Array;
}

/** Range and wavelength of the sticks (the search grid is 5-90 deg at Cu; scaling needs a margin). */
export const STICK_RANGE = { wavelength: CU_KALPHA, twoThetaMin: 4, twoThetaMax: 93 } as const;
/** Reflections closer than this (deg) are one stick; sticks at or below this intensity are dropped. */
const MERGE_TOL = 0.01;
const MIN_INTENSITY = 0.05;
const CACHE_VERSION = 'sticks-v1';

/** The sticks of one entry (empty when nothing diffracts in the range). */
export function entrySticks(lib: Library, index: number): EntrySticks {
  const reflections = computeReflections(entryCrystal(lib, lib.entries[index]!), STICK_RANGE);
  const peaks = mergePeaks(reflections, { twoThetaTol: MERGE_TOL, minIntensity: MIN_INTENSITY });
  return { twoTheta: Float32Array.from(peaks, (p) => p.two_theta), intensity: Float32Array.from(peaks, (p) => p.intensity) };
}

/** Where the cache lives: $XRD_CACHE_DIR, else $XDG_CACHE_HOME/xrd-npcnn, else ~/.cache/xrd-npcnn. */
export function cacheDir(): string {
  return process.env.XRD_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'xrd-npcnn');
}

function libraryKey(lib: Library): string {
  const h = createHash('sha256');
  h.update(CACHE_VERSION);
  h.update(JSON.stringify(STICK_RANGE));
  for (const e of lib.entries) h.update(`${e.id}|${e.setting}|${e.cell.join(',')}|${e.sites.map((s) => `${s.element}${s.charge}:${s.frac}:${s.occupancy}:${s.uiso}`).join(';')}\n`);
  return h.digest('hex').slice(0, 16);
}

function encode(sticks: EntrySticks[]): Uint8Array {
  const n = sticks.reduce((s, e) => s + e.twoTheta.length, 0);
  const counts = Int32Array.from(sticks, (e) => e.twoTheta.length);
  const values = new Float32Array(2 * n);
  let o = 0;
  for (const e of sticks) {
    values.set(e.twoTheta, o);
    values.set(e.intensity, o + e.twoTheta.length);
    o += 2 * e.twoTheta.length;
  }
  const head = Int32Array.of(sticks.length);
  return Buffer.concat([Buffer.from(head.buffer), Buffer.from(counts.buffer), Buffer.from(values.buffer)]);
}

function decode(bytes: Buffer, entries: number): EntrySticks[] | null {
  if (bytes.length < 4 || bytes.readInt32LE(0) !== entries) return null;
  const copy = new Uint8Array(bytes).buffer;
  const counts = new Int32Array(copy, 4, entries);
  const total = counts.reduce((s, c) => s + c, 0);
  if (bytes.length !== 4 + 4 * entries + 8 * total) return null;
  const values = new Float32Array(copy, 4 + 4 * entries, 2 * total);
  const out: EntrySticks[] = [];
  let o = 0;
  for (const c of counts) {
    out.push({ twoTheta: values.slice(o, o + c), intensity: values.slice(o + c, o + 2 * c) });
    o += 2 * c;
  }
  return out;
}

/**
 * Sticks of every entry, from the cache when it holds this library, else computed (with
 * `progress(done, total)`) and written to the cache atomically. A cache that cannot be written
 * (read-only home) only costs the time next run.
 */
export function librarySticks(lib: Library, progress?: (done: number, total: number) => void): { sticks: EntrySticks[]; cached: boolean; path: string } {
  const path = join(cacheDir(), `library-${libraryKey(lib)}.sticks`);
  if (existsSync(path)) {
    const hit = decode(readFileSync(path), lib.entries.length);
    if (hit) return { sticks: hit, cached: true, path };
  }
  const sticks: EntrySticks[] = [];
  for (let i = 0; i < lib.entries.length; i++) {
    sticks.push(entrySticks(lib, i));
    if (progress && (i % 250 === 0 || i === lib.entries.length - 1)) progress(i + 1, lib.entries.length);
  }
  try {
    mkdirSync(cacheDir(), { recursive: true });
    writeFileSync(`${path}.${process.pid}.partial`, encode(sticks));
    renameSync(`${path}.${process.pid}.partial`, path);
  } catch {
    // no cache: computed again next time
  }
  return { sticks, cached: false, path };
}
