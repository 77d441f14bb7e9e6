#!/usr/bin/env node
// The `xrd` command: runs the TypeScript sources through tsx, so a clone works after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/main.ts');
process.exitCode = await run(process.argv.slice(2));
