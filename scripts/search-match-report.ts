// Search-match baseline on a labelled directory (e.g. ../shared/data/rruff-dev): the crystal
// system and space group of the best AMCSD match per pattern, beside the model numbers; and the
// unseen-mineral control list: every library entry whose profile correlates >= --near (0.7) with
// any of the patterns (the pattern's own mineral and near twins), written to --near-out.
// Usage: npx tsx scripts/search-match-report.ts DIR [--near-out FILE] [--near 0.7] [--json FILE]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/engine/engine.ts';
import { readLabelledDirectory } from '../src/io/patterns.ts';
import { readLibrary } from '../src/library/library.ts';
import { filesOfFold } from '../src/npcnn/data.ts';
import { DEFAULT_MATCH, GpuLibrary, type MatchSettings, identify, logGridFor, logProfiles, prepareQuery, refineQuery, shiftRange } from '../src/library/match.ts';
import { librarySticks } from '../src/library/peaks.ts';
import { DEFAULT_GRID } from '../src/sim/render.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'near-out': { type: 'string' }, near: { type: 'string', default: '0.7' }, json: { type: 'string' }, folds: { type: 'string' }, fold: { type: 'string' }, settings: { type: 'string' } },
});
// --folds F --fold K: only the patterns of fold K (to tune settings on some folds, report on others)
// --settings JSON: match settings other than the defaults
const dir = positionals[0];
if (!dir) throw new Error('usage: npx tsx scripts/search-match-report.ts DIR [--near-out FILE] [--near 0.7]');
const near = Number(flags.near);
const settings: MatchSettings = { ...DEFAULT_MATCH, ...(flags.settings ? (JSON.parse(flags.settings) as Partial<MatchSettings>) : {}) };
const t0 = performance.now();
const lib = readLibrary();
const { sticks, cached } = librarySticks(lib, (d, n) => process.stderr.write(`\rsticks ${d}/${n}`));
const t1 = performance.now();
const grid = DEFAULT_GRID;

const profiles = logProfiles(sticks, grid, settings);
const t2 = performance.now();
const engine = await createEngine();
const gpu = new GpuLibrary(engine, profiles, logGridFor(grid, settings.du).bins, shiftRange(settings));
const patterns = flags.folds ? filesOfFold(dir, flags.folds, Number(flags.fold ?? 0), true) : readLabelledDirectory(dir);
const queries = patterns.map((p) => prepareQuery(p, settings));
const t3 = performance.now();
const results = await identify(lib, sticks, profiles, gpu, queries, { maxPhases: 1, top: 5, settings });
const t4 = performance.now();
let cs = 0, sg = 0, hi = 0, csHi = 0, n = 0;
for (let i = 0; i < patterns.length; i++) {
  const p = patterns[i]!;
  const m = results[i]!.matches[0];
  if (!m || p.spaceGroup === null) continue;
  n++;
  const okCs = m.crystalSystem === p.crystalSystem;
  if (okCs) cs++;
  if (m.spaceGroup === p.spaceGroup) sg++;
  if (m.correlation >= 0.7) {
    hi++;
    if (okCs) csHi++;
  }
}
const f = (x: number) => x.toFixed(3);
console.log(`\n${n} patterns: best AMCSD match crystal system ${f(cs / n)}, space group ${f(sg / n)}; correlation >= 0.7 for ${f(hi / n)} (crystal system right for ${f(csHi / hi)}, below: ${f((cs - csHi) / (n - hi))})`);
console.log(`time: sticks ${((t1 - t0) / 1000).toFixed(1)} s (${cached ? 'cache' : 'computed'}), profiles ${((t2 - t1) / 1000).toFixed(1)} s, queries ${((t3 - t2) / 1000).toFixed(1)} s, identify ${((t4 - t3) / 1000).toFixed(1)} s (${((t4 - t3) / n).toFixed(0)} ms a pattern)`);
if (flags['near-out']) {
  // Every entry within --near of some pattern: screen, then refine the 300 best per pattern.
  const screen = await gpu.screen(queries);
  const N = lib.entries.length;
  const nearIds = new Set<string>();
  queries.forEach((q, qi) => {
    const row = { best: screen.best.subarray(qi * N, (qi + 1) * N), shift: screen.shift.subarray(qi * N, (qi + 1) * N) };
    for (const m of refineQuery(lib, sticks, profiles, q, row, null, { ...settings, candidates: 300 }, grid, 300)) if (m.correlation >= near) nearIds.add(m.id);
  });
  const ids = [...nearIds].sort();
  writeFileSync(flags['near-out'], ids.join('\n') + '\n');
  const minerals = new Set(lib.entries.filter((e) => nearIds.has(e.id)).map((e) => e.mineral));
  console.log(`${ids.length} library entries (${minerals.size} minerals) correlate >= ${near} with a pattern of ${dir}: ${flags['near-out']}; ${N - ids.length} left`);
}
if (flags.json) {
  const files = patterns.map((p, i) => {
    const m = results[i]!.matches[0];
    return { file: p.file, space_group: p.spaceGroup, match_space_group: m?.spaceGroup ?? null, match_crystal_system: m?.crystalSystem ?? null, correlation: m ? Number(m.correlation.toFixed(4)) : null, mineral: m?.mineral ?? null };
  });
  writeFileSync(flags.json, JSON.stringify({ n, crystalSystem: cs / n, spaceGroup: sg / n, highShare: hi / n, files }, null, 1));
}
gpu.dispose();
engine.destroy();
