// The `xrd` command line: global flags, command dispatch, help, and error reporting.
// Every failure is one line on stderr (the stack only with --debug); exit codes: 0 ok,
// 1 the command failed (bad input file, no GPU, ...), 2 the command line itself is wrong.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError, formatFlags, parseArgs, suggest, type FlagSpec } from './args.ts';
import type { CliIO, Command } from './command.ts';
import { simulateCommand } from './simulate.ts';
import { synthCommand } from './synth.ts';
import { finetuneCommand, trainCommand } from './train.ts';
import { calibrateCommand, evalCommand } from './eval.ts';
import { explainCommand } from './explain.ts';
import { predictCommand } from './predict.ts';
import { foldsCommand } from './folds.ts';
import { identifyCommand } from './identify.ts';
import { serveCommand } from './serve.ts';
import { indexCommand } from './index.ts';

const COMMANDS: Command[] = [simulateCommand, synthCommand, trainCommand, finetuneCommand, predictCommand, identifyCommand, evalCommand, calibrateCommand, explainCommand, indexCommand, foldsCommand, serveCommand];

const HELP_FLAG: FlagSpec = { name: 'help', alias: 'h', type: 'boolean', description: 'show this help' };
const DEBUG_FLAG: FlagSpec = { name: 'debug', type: 'boolean', description: 'show stack traces of errors' };

function version(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'xrd: powder X-ray diffraction simulation and classification',
    '',
    'Usage: xrd <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Options:',
    '  -h, --help     show help (also: xrd <command> --help)',
    '      --version  print the version',
    '      --debug    show stack traces of errors',
    '',
    'Examples:',
    '  xrd simulate examples/TiO2-rutile.cif -o out/ --plot --peaks out/rutile.peaks.json',
    '  xrd synth --count 1000 -o dataset/',
    '  xrd train --out runs/cs-compact --steps 2000',
    '  xrd predict examples/TiO2-rutile-realistic.xy',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return [
    `xrd ${c.name}: ${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    ...(c.description ? ['', c.description] : []),
    '',
    'Options:',
    formatFlags([...c.flags, HELP_FLAG, DEBUG_FLAG]),
    '',
    'Examples:',
    ...c.examples.map((e) => `  ${e}`),
  ].join('\n');
}

/** Built-in error classes that signal a bug in xrd rather than a problem with the input. */
const INTERNAL = new Set(['TypeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'AssertionError']);

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ').trim();
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const debug = argv.includes('--debug');
  const rest = argv.filter((a) => a !== '--debug');
  const say = (s: string): void => void io.stdout.write(s + '\n');
  try {
    const [name, ...args] = rest;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      const target = name === 'help' && args[0] ? COMMANDS.find((c) => c.name === args[0]) : undefined;
      say(target ? commandHelp(target) : mainHelp());
      return 0;
    }
    if (name === '--version' || name === '-v') {
      say(version());
      return 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      const what = name.startsWith('-') ? 'option' : 'command';
      throw new UsageError(`unknown ${what} '${name}'${suggest(name, COMMANDS.map((c) => c.name))}; run 'xrd --help' for the list of commands`);
    }
    if (args.includes('--help') || args.includes('-h')) {
      say(commandHelp(command));
      return 0;
    }
    const parsed = parseArgs(args, command.flags, `xrd ${command.name}`);
    return (await command.run(parsed, io)) ?? 0;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const internal = INTERNAL.has(err.name);
    let line = `xrd: ${oneLine(err.message)}`;
    if (internal) line = `xrd: internal error (${err.name}): ${oneLine(err.message)}; rerun with --debug and report it`;
    io.stderr.write(line + '\n');
    if (debug && err.stack) io.stderr.write(err.stack + '\n');
    return err instanceof UsageError ? 2 : 1;
  }
}

// `tsx src/cli/main.ts ...` (the npm script) runs the CLI directly; bin/xrd.js imports run().
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await run(process.argv.slice(2));
}
