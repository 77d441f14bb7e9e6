// A small command-line parser: `--flag value`, `--flag=value`, `-o value`, boolean flags,
// `--` ends the flags. Unknown flags and bad values raise UsageError (exit code 2).

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

/** Parse `argv` against `specs`; `where` names the command in messages ('xrd simulate'). */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], where: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byAlias = new Map(specs.filter((s) => s.alias).map((s) => [s.alias as string, s]));
  const flags: Record<string, FlagValue | undefined> = {};
  for (const s of specs) flags[s.name] = s.default;
  const positionals: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq >= 0 ? a.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec) {
        const hint = suggest(`--${name}`, specs.map((s) => `--${s.name}`));
        throw new UsageError(`unknown flag --${name} for '${where}'${hint}; see '${where} --help'`);
      }
    } else if (a.startsWith('-') && a.length > 1 && !/^-[\d.]/.test(a)) {
      spec = byAlias.get(a.slice(1));
      if (!spec) throw new UsageError(`unknown flag ${a} for '${where}'; see '${where} --help'`);
    } else {
      positionals.push(a);
      continue;
    }
    if (seen.has(spec.name)) throw new UsageError(`--${spec.name} is given twice; give it once`);
    seen.add(spec.name);
    if (spec.type === 'boolean') {
      flags[spec.name] = inline === undefined ? true : convert(spec, inline, where);
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${spec.name} needs a value (${spec.value ?? spec.type}); see '${where} --help'`);
      raw = argv[++i];
    }
    flags[spec.name] = convert(spec, raw, where);
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
