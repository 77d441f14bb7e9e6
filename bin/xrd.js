#!/usr/bin/env node
// The `xrd` command. In a clone it runs the TypeScript sources through tsx (works after `npm ci`,
// never stale); an installed package has no sources and runs its compiled dist/ instead.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let run;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ run } = await import(sources.href));
} else {
  ({ run } = await import(new URL('../dist/cli/main.js', import.meta.url).href));
}
process.exitCode = await run(process.argv.slice(2));
