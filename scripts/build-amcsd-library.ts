// Builds data/amcsd.json.gz (the structure library that training and `xrd identify` use) from
// the AMCSD SQLite file of Debian's python3-xraylarch; scripts/fetch-amcsd.sh fetches it and
// calls this. Usage: npx tsx scripts/build-amcsd-library.ts amscif_trim.db [out.json.gz]
//
// Prints how many records load and why the others are refused, and writes the refusals beside
// the library (amcsd-refused.tsv).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readAmcsdDatabase } from '../src/library/amcsd-db.ts';
import { defaultLibraryPath, encodeLibrary, entryCrystal, type Library } from '../src/library/library.ts';
import { formFactorEntry } from '../src/sim/formfactors.ts';

const [dbPath, outPath = defaultLibraryPath()] = process.argv.slice(2);
if (!dbPath) {
  console.error('usage: npx tsx scripts/build-amcsd-library.ts amscif_trim.db [out.json.gz]');
  process.exit(2);
}
const t0 = performance.now();
const read = await readAmcsdDatabase(readFileSync(dbPath));
const lib: Library = {
  source: 'AMCSD (Downs & Hall-Wallace, Am. Mineral. 88, 247, 2003), from Debian python3-xraylarch larch/xrd/amscif_trim.db',
  settings: read.settings,
  entries: [],
};
const refused = [...read.refused];

for (const e of read.entries) {
  try {
    for (const s of e.sites) formFactorEntry(s.element, s.charge);
    entryCrystal(lib, e);
    lib.entries.push(e);
  } catch (err) {
    refused.push({ id: e.id, mineral: e.mineral, reason: (err as Error).message.split('\n')[0]! });
  }
}
const bytes = encodeLibrary(lib);
writeFileSync(`${outPath}.partial`, bytes);
renameSync(`${outPath}.partial`, outPath);
const refusedPath = outPath.replace(/\.json\.gz$/, '') + '-refused.tsv';
writeFileSync(refusedPath, ['id\tmineral\treason', ...refused.sort((a, b) => a.id.localeCompare(b.id)).map((r) => `${r.id}\t${r.mineral}\t${r.reason}`)].join('\n') + '\n');
const reasons = new Map<string, number>();
for (const r of refused) {
  const k = r.reason.replace(/'[^']*'/g, "'…'").replace(/[\d.]+/g, 'N');
  reasons.set(k, (reasons.get(k) ?? 0) + 1);
}
const minerals = new Set(lib.entries.filter((e) => e.mineral).map((e) => e.mineral)).size;
const groups = new Set(lib.entries.map((e) => e.spaceGroup)).size;
const warned = lib.entries.filter((e) => e.warnings).length;
console.log(`${read.entries.length + read.refused.length} records: ${lib.entries.length} loaded (${minerals} named minerals, ${lib.entries.filter((e) => !e.mineral).length} unnamed compounds, ${groups} space groups, ${warned} with a repair noted), ${refused.length} refused`);
for (const [k, n] of [...reasons].sort((a, b) => b[1] - a[1])) console.log(`  ${n}  ${k}`);
console.log(`wrote ${outPath} (${(bytes.length / 1e6).toFixed(2)} MB) and ${refusedPath} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
