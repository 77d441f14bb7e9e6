// rruff-dev: the network's answers beside search-match's, split by whether the pattern's mineral
// is (probably) in the AMCSD library, and a combined answer (the best match's labels where its
// correlation reaches a threshold, else the network's) with the threshold chosen on one half of
// grouped folds and scored on the other.
// Usage: npx tsx scripts/combined-report.ts PREDICT.json SEARCH.json FOLDS.json
//   PREDICT.json: xrd predict --json with a crystal-system and a space-group model
//   SEARCH.json:  scripts/search-match-report.ts --json
//   FOLDS.json:   xrd folds DIR --k 2
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { crystalSystemOf } from '../src/sim/crystal.ts';

const [predictPath, searchPath, foldsPath] = process.argv.slice(2);
if (!foldsPath) throw new Error('usage: npx tsx scripts/combined-report.ts PREDICT.json SEARCH.json FOLDS.json');
type P = { file: string; crystal_system?: { label: string }; space_group?: { number: number } };
type S = { files: { file: string; space_group: number; match_space_group: number | null; correlation: number | null }[] };
const predictions = new Map((JSON.parse(readFileSync(predictPath, 'utf8')) as P[]).map((p) => [basename(p.file), p]));
const search = (JSON.parse(readFileSync(searchPath, 'utf8')) as S).files;
const folds = new Map((JSON.parse(readFileSync(foldsPath, 'utf8')) as { files: { file: string; fold: number }[] }).files.map((f) => [f.file, f.fold]));

interface Row { fold: number; sg: number; netSg: number | null; netCs: string | null; matchSg: number | null; corr: number }
const rows: Row[] = search.map((s) => {
  const p = predictions.get(basename(s.file));
  return { fold: folds.get(basename(s.file)) ?? -1, sg: s.space_group, netSg: p?.space_group?.number ?? null, netCs: p?.crystal_system?.label ?? null, matchSg: s.match_space_group, corr: s.correlation ?? -1 };
});
const acc = (rs: Row[], f: (r: Row) => boolean): string => (rs.length ? (rs.filter(f).length / rs.length).toFixed(3) : '-');
const netCsOk = (r: Row) => r.netCs === crystalSystemOf(r.sg);
const netSgOk = (r: Row) => r.netSg === r.sg;
const matchCsOk = (r: Row) => r.matchSg !== null && crystalSystemOf(r.matchSg) === crystalSystemOf(r.sg);
const matchSgOk = (r: Row) => r.matchSg === r.sg;
const near = rows.filter((r) => r.corr >= 0.7);
const far = rows.filter((r) => r.corr < 0.7);
console.log(`n ${rows.length}: ${near.length} with an AMCSD entry correlating >= 0.7 (near), ${far.length} without (far: the mineral is probably not in the library)`);
console.log('                         all (cs / sg)    near (cs / sg)   far (cs / sg)');
for (const [name, cs, sg] of [['network', netCsOk, netSgOk], ['search-match', matchCsOk, matchSgOk]] as const) {
  console.log(`  ${name.padEnd(22)} ${acc(rows, cs)} / ${acc(rows, sg)}    ${acc(near, cs)} / ${acc(near, sg)}    ${acc(far, cs)} / ${acc(far, sg)}`);
}
const combined = (t: number) => ({ cs: (r: Row) => (r.corr >= t ? matchCsOk(r) : netCsOk(r)), sg: (r: Row) => (r.corr >= t ? matchSgOk(r) : netSgOk(r)) });
for (const [tune, test] of [[0, 1], [1, 0]]) {
  const tuneRows = rows.filter((r) => r.fold === tune);
  const testRows = rows.filter((r) => r.fold === test);
  let best = { t: 0.7, score: -1 };
  for (let t = 0.3; t <= 0.951; t += 0.05) {
    const c = combined(t);
    const score = tuneRows.filter(c.cs).length + tuneRows.filter(c.sg).length;
    if (score > best.score) best = { t, score };
  }
  const c = combined(best.t);
  console.log(`  combined, threshold ${best.t.toFixed(2)} chosen on fold ${tune}: fold ${test} ${acc(testRows, c.cs)} / ${acc(testRows, c.sg)} (network alone ${acc(testRows, netCsOk)} / ${acc(testRows, netSgOk)}, search-match alone ${acc(testRows, matchCsOk)} / ${acc(testRows, matchSgOk)}, n ${testRows.length})`);
}
