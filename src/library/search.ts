// Search-match as a use case: libraries opened (the shipped AMCSD, library files, folders of the
// user's CIFs), their sticks and profiles prepared once, the GPU copy made, then pattern files
// identified in batches. `xrd identify` and scripts call this.
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Engine } from '../engine/engine.ts';
import { readPatternFile } from '../io/patterns.ts';
import { cifFilesIn, readCifStructures } from '../sim/cif-directory.ts';
import { DEFAULT_GRID } from '../sim/render.ts';
import { resolveSpaceGroup } from '../sim/spacegroup.ts';
import { LibraryError, readLibrary, type Library, type LibraryEntry } from './library.ts';
import { DEFAULT_MATCH, GpuLibrary, identify, logGridFor, logProfiles, prepareQuery, shiftRange, type Identification, type IdentifyOptions, type MatchSettings, type PreparedQuery } from './match.ts';
import { librarySticks, type EntrySticks } from './peaks.ts';

/**
 * From this correlation on, a library match's labels replace the network's (`xrd predict
 * --library`). Chosen on grouped halves of rruff-dev, each half choosing for the other: 0.60 and
 * 0.65 (models/README.md); the higher is used.
 */
export const COMBINE_THRESHOLD = 0.65;

/** The answer from a network's labels and the best library match: the match's where it is strong enough. */
export function combinedAnswer(
  network: { crystalSystem: string | null; spaceGroup: number | null },
  match: { crystalSystem: string; spaceGroup: number; correlation: number } | null,
): { crystalSystem: string | null; spaceGroup: number | null; source: 'library match' | 'network' } {
  if (match && match.correlation >= COMBINE_THRESHOLD) return { crystalSystem: match.crystalSystem, spaceGroup: match.spaceGroup, source: 'library match' };
  return { ...network, source: 'network' };
}

/**
 * The CIFs of a folder as a library: one entry per structure block, its whole cell as the
 * asymmetric unit of an identity setting, the file name as id, the block name as mineral.
 * Unreadable CIFs are returned with the reason, not fatal.
 */
export function libraryFromCifs(dir: string): { library: Library; unreadable: string[] } {
  let files: string[];
  try {
    files = cifFilesIn(dir);
  } catch (e) {
    throw new LibraryError(`cannot read the CIF folder ${dir}: ${(e as Error).message}`);
  }
  if (files.length === 0) throw new LibraryError(`${dir} holds no .cif files`);
  const entries: LibraryEntry[] = [];
  const unreadable: string[] = [];
  for (const file of files) {
    try {
      for (const c of readCifStructures(file)) {
        const sg = resolveSpaceGroup(c).spaceGroup;
        if (sg === null) throw new Error('its space group could not be found');
        const count = new Map<string, number>();
        for (const s of c.sites) count.set(s.element, (count.get(s.element) ?? 0) + s.occupancy);
        const l = c.lattice;
        entries.push({
          id: `${basename(file)}${c.name && c.name !== basename(file, '.cif') ? `:${c.name}` : ''}`,
          mineral: c.name || basename(file, '.cif'),
          formula: [...count].map(([e, n]) => `${e}${Math.abs(n - 1) < 1e-6 ? '' : +n.toFixed(3)}`).join(' '),
          setting: 0,
          spaceGroup: sg,
          cell: [l.a, l.b, l.c, l.alpha, l.beta, l.gamma],
          sites: c.sites.map((s) => ({ label: s.label ?? s.element, element: s.element, charge: s.charge, frac: [...s.frac], occupancy: s.occupancy, uiso: s.biso / (8 * Math.PI * Math.PI) })),
        });
      }
    } catch (e) {
      unreadable.push(`${file} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return { library: { source: `CIFs of ${dir}`, settings: [{ hm: 'P 1 (whole cell)', number: 1, ops: ['x,y,z'] }], entries }, unreadable };
}

/** Libraries one after another as one (settings renumbered). */
export function joinLibraries(libs: readonly Library[]): Library {
  if (libs.length === 1) return libs[0]!;
  const out: Library = { source: libs.map((l) => l.source).join(' + '), settings: [], entries: [] };
  for (const l of libs) {
    const offset = out.settings.length;
    out.settings.push(...l.settings);
    out.entries.push(...l.entries.map((e) => ({ ...e, setting: e.setting + offset })));
  }
  return out;
}

/**
 * Opens the libraries a user names: 'amcsd' (the shipped one), a library file (.json.gz) or a
 * folder of CIFs. The default is the AMCSD alone.
 */
export function openLibraries(names: readonly string[] = ['amcsd']): { library: Library; unreadable: string[] } {
  const libs: Library[] = [];
  const unreadable: string[] = [];
  for (const name of names) {
    if (name === 'amcsd') libs.push(readLibrary());
    else if (existsSync(name) && statSync(name).isDirectory()) {
      const r = libraryFromCifs(name);
      libs.push(r.library);
      unreadable.push(...r.unreadable);
    } else if (existsSync(name)) libs.push(readLibrary(name));
    else throw new LibraryError(`library '${name}' is neither 'amcsd', a library file nor a folder of CIFs`);
  }
  const library = joinLibraries(libs);
  if (library.entries.length === 0) throw new LibraryError(`the libraries ${names.join(', ')} hold no usable structure`);
  return { library, unreadable };
}

/** A prepared search: library, sticks, profiles and their GPU copy. dispose() frees the GPU side. */
export class SearchMatch {
  private constructor(
    readonly library: Library,
    readonly sticks: EntrySticks[],
    readonly profiles: Float32Array,
    private readonly gpu: GpuLibrary,
    readonly settings: MatchSettings,
    /** Whether the sticks came from the cache, and where it is. */
    readonly cache: { hit: boolean; path: string },
  ) {}

  static open(engine: Engine, library: Library, settings: MatchSettings = DEFAULT_MATCH, progress?: (done: number, total: number) => void): SearchMatch {
    const { sticks, cached, path } = librarySticks(library, progress);
    const profiles = logProfiles(sticks, DEFAULT_GRID, settings);
    const gpu = new GpuLibrary(engine, profiles, logGridFor(DEFAULT_GRID, settings.du).bins, shiftRange(settings));
    return new SearchMatch(library, sticks, profiles, gpu, settings, { hit: cached, path });
  }

  /** Identifies prepared measurements (see match.ts identify). */
  identifyPrepared(queries: readonly PreparedQuery[], options: Omit<IdentifyOptions, 'settings' | 'grid'> = {}): Promise<Identification[]> {
    return identify(this.library, this.sticks, this.profiles, this.gpu, queries, { ...options, settings: this.settings });
  }

  /**
   * Identifies pattern files in batches of `batch`; a file that cannot be read is returned as a
   * failure with its reason and the others go on.
   */
  async identifyFiles(
    files: readonly string[],
    options: Omit<IdentifyOptions, 'settings' | 'grid'> & { wavelength?: number; batch?: number; onProgress?: (done: number) => void } = {},
  ): Promise<{ results: Identification[]; failures: { file: string; error: string }[] }> {
    const results: Identification[] = [];
    const failures: { file: string; error: string }[] = [];
    const batch = options.batch ?? 32;
    for (let i = 0; i < files.length; i += batch) {
      const queries: PreparedQuery[] = [];
      for (const file of files.slice(i, i + batch)) {
        try {
          queries.push(prepareQuery(readPatternFile(file), this.settings, DEFAULT_GRID, options.wavelength));
        } catch (e) {
          failures.push({ file, error: (e as Error).message });
        }
      }
      if (queries.length) results.push(...(await this.identifyPrepared(queries, options)));
      options.onProgress?.(Math.min(files.length, i + batch));
    }
    return { results, failures };
  }

  dispose(): void {
    this.gpu.dispose();
  }
}
