// Runs the `xrd` command as a user would (a child process), for the CLI suites.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const XRD_BIN = join(repoRoot, 'bin/xrd.js');

/** Dawn prints these on every adapter request on lavapipe (not ours to silence). */
export const DAWN_NOISE = /^Warning: maxDynamic\w+ artificially reduced.*\n/gm;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** An `xrd` runner in `cwd`, with Dawn's warnings removed from stderr. */
export function xrdIn(cwd: string, timeout = 180_000): (args: string[], env?: Record<string, string>) => CliResult {
  return (args, env = {}) => {
    const r = spawnSync(process.execPath, [XRD_BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.replace(DAWN_NOISE, '') };
  };
}
