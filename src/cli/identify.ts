// `xrd identify`: search-match of pattern files against the AMCSD mineral library and the user's
// own CIFs (which phase is this?). Thin over library/search.ts.
import type { Identification, Match } from '../library/match.ts';
import { UsageError } from './args.ts';
import type { CliIO, Command } from './command.ts';
import { existingPatternFiles, WAVELENGTH_FLAG } from './models.ts';
import { Progress } from './progress.ts';

/** Correlation from which a match is called strong: on rruff-dev its crystal system was right 0.92-0.95 of the time. */
export const STRONG_MATCH = 0.7;

function elements(flag: string, value: unknown): string[] {
  if (value === undefined) return [];
  const list = String(value)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s);
  for (const e of list) if (!/^[A-Z][a-z]?$/.test(e)) throw new UsageError(`--${flag}: '${e}' is not an element symbol (write them capitalised and comma-separated: Fe,O)`);
  return list;
}

export const identifyCommand: Command = {
  name: 'identify',
  summary: 'search-match: which known phases (AMCSD minerals, your CIFs) explain a pattern',
  usage: 'xrd identify FILES|DIRS... [--library amcsd|FILE|DIR[,...]] [--elements Fe,O] [--exclude Pb] [--top N] [--phases N] [--json | --csv]',
  description: [
    'Compares each pattern with every structure of the libraries: the shipped American Mineralogist',
    'Crystal Structure Database (AMCSD, 9,272 published mineral structures; Downs & Hall-Wallace,',
    'Am. Mineral. 88, 247, 2003) and/or folders of your CIFs. Square-root profiles with the',
    'background removed, library patterns broadened to 0.4 deg, cells scaled by 0.97-1.03 (a GPU',
    'screen of all entries, then an exact refinement of the best 40). The score is the Pearson',
    `correlation; from ${STRONG_MATCH} a match is strong (on 454 measured RRUFF minerals its crystal system`,
    'was right 92-95 % of the time; below it 13-24 %: the phase may be missing from the library).',
    'Further phases are searched in what the best one leaves unexplained. The first run computes the',
    'library\'s reflections (~15 s for the AMCSD) and caches them ($XDG_CACHE_HOME/xrd-npcnn).',
  ].join('\n'),
  flags: [
    { name: 'library', type: 'string', value: 'LIST', description: "libraries, comma-separated: 'amcsd', a library file, a folder of CIFs (default amcsd)" },
    { name: 'elements', type: 'string', value: 'LIST', description: 'elements every match must contain, e.g. Fe,O' },
    { name: 'exclude', type: 'string', value: 'LIST', description: 'elements no match may contain, e.g. Pb,Hg' },
    { name: 'top', type: 'int', value: 'N', description: 'matches listed per file', default: 5 },
    { name: 'phases', type: 'int', value: 'N', description: 'phases searched at most per file (1: single phase)', default: 3 },
    { name: 'json', type: 'boolean', description: 'one JSON array on stdout' },
    { name: 'csv', type: 'boolean', description: 'CSV on stdout (one row per file and match)' },
    WAVELENGTH_FLAG,
  ],
  examples: [
    'xrd identify examples/TiO2-rutile-realistic.xy',
    'xrd identify measured/ --elements Ti,O --json > phases.json',
    'xrd identify pattern.xy --library amcsd,my-cifs/ --phases 2',
  ],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length === 0) throw new UsageError("xrd identify needs pattern files or directories; see 'xrd identify --help'");
    if (f.json && f.csv) throw new UsageError('give --json or --csv, not both');
    const top = f.top as number;
    const phases = f.phases as number;
    if (!(top >= 1)) throw new UsageError(`--top must be at least 1, got ${top}`);
    if (!(phases >= 1)) throw new UsageError(`--phases must be at least 1, got ${phases}`);
    const require = elements('elements', f.elements);
    const exclude = elements('exclude', f.exclude);
    const clash = require.find((e) => exclude.includes(e));
    if (clash) throw new UsageError(`${clash} is both required (--elements) and excluded (--exclude)`);
    const wavelength = f.wavelength as number | undefined;
    if (wavelength !== undefined && !(wavelength > 0)) throw new UsageError(`--wavelength must be a positive number of angstrom, got ${wavelength}`);
    // A path that does not exist is a failed file; the others go on.
    const { files, missing } = existingPatternFiles(positionals);
    const names = String(f.library ?? 'amcsd')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s);
    const { openLibraries, SearchMatch } = await import('../library/search.ts');
    const { library, unreadable } = openLibraries(names);
    for (const u of unreadable) io.stderr.write(`xrd: left out of the library: ${u}\n`);
    const { createEngine } = await import('../engine/engine.ts');
    const engine = await createEngine();
    let out;
    try {
      let prep: Progress | null = null;
      let prepDone = 0;
      const search = SearchMatch.open(engine, library, undefined, (d, n) => {
        prep ??= new Progress('library reflections (cached for next time)', n, io.stderr, 'structures');
        prep.tick(d - prepDone);
        prepDone = d;
        if (d === n) prep.finish();
      });
      try {
        const progress = new Progress('identify', files.length, io.stderr, 'patterns');
        let done = 0;
        out = await search.identifyFiles(files, {
          top,
          maxPhases: phases,
          filter: { require, exclude },
          wavelength,
          onProgress: (d) => {
            progress.tick(d - done);
            done = d;
          },
        });
        progress.finish();
      } finally {
        search.dispose();
      }
    } finally {
      engine.destroy();
    }
    out.failures.push(...missing.map((file) => ({ file, error: `${file} does not exist` })));
    const rows = [...out.results.map((r) => ({ file: r.file, result: r })), ...out.failures.map((x) => ({ file: x.file, error: x.error }))];
    const order = new Map([...files, ...missing].map((file, i) => [file, i]));
    rows.sort((a, b) => order.get(a.file)! - order.get(b.file)!);
    if (f.json) io.stdout.write(`${JSON.stringify(rows.map((r) => ('error' in r ? { file: r.file, error: r.error } : jsonOf(r.result))), null, 2)}\n`);
    else if (f.csv) io.stdout.write(csv(rows));
    else io.stdout.write(rows.map((r) => ('error' in r ? `${r.file}: error: ${r.error}\n` : text(r.result!))).join('\n'));
    if (out.failures.length && !f.json && !f.csv) io.stderr.write(`xrd: ${out.failures.length} of ${files.length + missing.length} files could not be identified (reasons above)\n`);
    return out.failures.length ? 1 : 0;
  },
};

const r3 = (v: number): number => Number(v.toFixed(3));

function matchJson(m: Match) {
  return {
    id: m.id,
    mineral: m.mineral,
    formula: m.formula,
    space_group: m.spaceGroup,
    crystal_system: m.crystalSystem,
    correlation: r3(m.correlation),
    strong: m.correlation >= STRONG_MATCH,
    scale: Number(m.scale.toFixed(4)),
    strong_lines: m.strongLines,
    lines_found: m.linesFound,
  };
}

function jsonOf(r: Identification) {
  return {
    file: r.file,
    matches: r.matches.map(matchJson),
    phases: r.phases.map((p) => ({ ...matchJson(p), weight: r3(p.weight) })),
    joint_correlation: r3(r.jointCorrelation),
  };
}

function text(r: Identification): string {
  if (r.matches.length === 0) return `${r.file}: no library entry passes the filters\n`;
  const head = ['#', 'correlation', 'mineral', 'formula', 'space group', 'crystal system', 'id', 'scale', 'strong lines seen'];
  const rows = r.matches.map((m, i) => [
    String(i + 1),
    `${m.correlation.toFixed(3)}${m.correlation >= STRONG_MATCH ? '' : ' (weak)'}`,
    m.mineral || '(unnamed)',
    m.formula,
    String(m.spaceGroup),
    m.crystalSystem,
    m.id,
    m.scale.toFixed(3),
    `${m.linesFound}/${m.strongLines}`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => '  ' + row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const best = r.matches[0]!;
  const verdict =
    best.correlation >= STRONG_MATCH
      ? `best match ${best.mineral || best.formula} (${best.crystalSystem}, space group ${best.spaceGroup}), strong`
      : `no strong match (best ${best.correlation.toFixed(3)} < ${STRONG_MATCH}): the phase may not be in the library; treat the list as suggestions`;
  const lines = [`${r.file}: ${verdict}`, fmt(head), ...rows.map(fmt)];
  if (r.phases.length > 1) {
    lines.push(`  phases: ${r.phases.map((p) => `${p.mineral || p.formula} ${(100 * p.weight).toFixed(0)}%`).join(' + ')} (joint correlation ${r.jointCorrelation.toFixed(3)}; shares of the square-root profile, not weight fractions)`);
  }
  return lines.join('\n') + '\n';
}

function cell(s: string | number | boolean): string {
  const t = String(s);
  return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

function csv(rows: { file: string; result?: Identification; error?: string }[]): string {
  const head = ['file', 'rank', 'id', 'mineral', 'formula', 'space_group', 'crystal_system', 'correlation', 'scale', 'strong_lines', 'lines_found', 'phase_weight', 'error'];
  const out = [head.join(',')];
  for (const r of rows) {
    if (r.error !== undefined || !r.result) {
      out.push([r.file, '', '', '', '', '', '', '', '', '', '', '', r.error ?? ''].map(cell).join(','));
      continue;
    }
    const weights = new Map(r.result.phases.map((p) => [p.entry, p.weight]));
    r.result.matches.forEach((m, i) => {
      out.push([r.file, i + 1, m.id, m.mineral, m.formula, m.spaceGroup, m.crystalSystem, r3(m.correlation), m.scale.toFixed(4), m.strongLines, m.linesFound, weights.has(m.entry) ? r3(weights.get(m.entry)!) : '', ''].map(cell).join(','));
    });
  }
  return out.join('\n') + '\n';
}
