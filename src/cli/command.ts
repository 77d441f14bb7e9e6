// What a command of the `xrd` command line is: its help text, its flags and the function that
// runs it. main.ts lists the commands; each command file imports only this and args.ts.
import type { FlagSpec, ParsedArgs } from './args.ts';
import type { ProgressStream } from './progress.ts';

export interface CliIO {
  stdout: ProgressStream;
  stderr: ProgressStream;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Paragraphs after the usage line. */
  description?: string;
  flags: FlagSpec[];
  examples: string[];
  /** Resolves to the exit code, or nothing for 0. */
  run(args: ParsedArgs, io: CliIO): Promise<void | number>;
}
