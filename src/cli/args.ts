// The command-line flags: `--flag value`, `--flag=value`, `-o value`, boolean flags, `--` ends
// the flags. Unknown flags and bad values raise UsageError (exit code 2).
import { parseArgs as nodeParseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagType = 'string' | 'number' | 'int' | 'boolean';
export type FlagValue = string | number | boolean;

export interface FlagSpec {
  name: string;
  alias?: string;
  type: FlagType;
  description: string;
  /** Placeholder in help text, e.g. 'DIR'. */
  value?: string;
  default?: FlagValue;
}

export interface ParsedArgs {
  flags: Record<string, FlagValue | undefined>;
  positionals: string[];
}

/** Edit distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** ' (did you mean X?)' for the closest candidate within 2 edits, else ''. */
export function suggest(word: string, candidates: string[]): string {
  let best = '';
  let bestD = 3;
  for (const c of candidates) {
    const dd = distance(word, c);
    if (dd < bestD) {
      bestD = dd;
      best = c;
    }
  }
  return best ? ` (did you mean ${best}?)` : '';
}

function convert(spec: FlagSpec, raw: string, where: string): FlagValue {
  const flag = `--${spec.name}`;
  switch (spec.type) {
    case 'string':
      return raw;
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${flag} needs a number, got '${raw}'; see '${where} --help'`);
      return v;
    }
    case 'int': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isSafeInteger(v)) throw new UsageError(`${flag} needs an integer, got '${raw}'; see '${where} --help'`);
      return v;
    }
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw new UsageError(`${flag} is a switch and takes no value (got '${raw}'); see '${where} --help'`);
  }
}

/**
 * Parse `argv` against `specs`; `where` names the command in messages ('xrd simulate'). Node's
 * util.parseArgs splits the words; the checks and messages are ours. An argument such as -0.5
 * is a value or a positional, never a flag, and short flags are not bundled (-odir, -ab).
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], where: string): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const s of specs) options[s.name] = { type: s.type === 'boolean' ? 'boolean' : 'string', ...(s.alias ? { short: s.alias } : {}) };
  const { tokens } = nodeParseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags: Record<string, FlagValue | undefined> = {};
  for (const s of specs) flags[s.name] = s.default;
  const positionals: string[] = [];
  const seen = new Set<string>();
  let lastIndex = -1;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    const word = argv[t.index]!;
    if (t.index === lastIndex) continue; // the rest of a short group or number, handled at its first token
    lastIndex = t.index;
    if (t.kind === 'positional' || /^-[\d.]/.test(word)) {
      positionals.push(word);
      continue;
    }
    const spec = byName.get(t.name);
    if (!word.startsWith('--') && (spec === undefined || word !== t.rawName)) throw new UsageError(`unknown flag ${word} for '${where}'; see '${where} --help'`);
    if (spec === undefined) {
      const flag = word.split('=')[0]!;
      throw new UsageError(`unknown flag ${flag} for '${where}'${suggest(flag, specs.map((s) => `--${s.name}`))}; see '${where} --help'`);
    }
    if (seen.has(spec.name)) throw new UsageError(`--${spec.name} is given twice; give it once`);
    seen.add(spec.name);
    if (spec.type === 'boolean') {
      flags[spec.name] = t.value === undefined ? true : convert(spec, t.value, where);
      continue;
    }
    if (t.value === undefined) throw new UsageError(`--${spec.name} needs a value (${spec.value ?? spec.type}); see '${where} --help'`);
    flags[spec.name] = convert(spec, t.value, where);
  }
  return { flags, positionals };
}

/** The flag table of a help text. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const names = `${s.alias ? `-${s.alias}, ` : '    '}--${s.name}${s.type === 'boolean' ? '' : ` ${s.value ?? s.type.toUpperCase()}`}`;
    const def = s.default !== undefined && s.type !== 'boolean' ? ` (default ${s.default})` : '';
    return [names, s.description + def] as const;
  });
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([n, d]) => `  ${n.padEnd(w)}  ${d}`).join('\n');
}

/** A problem with the user's input (missing file, clashing names, ...): exit code 1. */
export class InputError extends Error {
  override name = 'InputError';
}

/**
 * The flags of a script (bench/, scripts/): parseArgs on process.argv, with `--help` printing the
 * flag table; a bad command line prints its one-line message and the table and exits with 2.
 */
export function scriptArgs(specs: readonly FlagSpec[], where: string, argv: readonly string[] = process.argv.slice(2)): ParsedArgs {
  const table = (): string => `usage: ${where} [options]\n${formatFlags(specs)}\n`;
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(table());
    process.exit(0);
  }
  try {
    return parseArgs(argv, specs, where);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n${table()}`);
    process.exit(2);
  }
}
