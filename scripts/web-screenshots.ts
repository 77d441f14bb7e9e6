// Screenshots of the browser page for the README: docs/web-classify.png (the rutile example
// pattern classified) and docs/web-simulate.png (the halite CIF simulated). Run after
// `npm run build:web`: npx tsx scripts/web-screenshots.ts
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statSync } from 'node:fs';
import type { Page } from 'puppeteer-core';
import { launchChromium } from './chromium.ts';
import { startWebServer } from '../src/web/server.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

declare const window: { __xrd: { state: string; pending: number; results: unknown[] } };

async function shoot(page: Page, url: string, file: string, out: string): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => window.__xrd && window.__xrd.state !== 'loading', { timeout: 60_000 });
  await (await page.$('#files'))!.uploadFile(join(root, file));
  await page.waitForFunction(() => window.__xrd.results.length > 0 && window.__xrd.pending === 0, { timeout: 120_000 });
  await page.screenshot({ path: join(root, out) as `${string}.png`, fullPage: true });
  console.log(`wrote ${out} (${(statSync(join(root, out)).size / 1024).toFixed(0)} KiB)`);
}

const server = await startWebServer({ port: 0 });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 800 });
  await shoot(page, server.url, 'examples/TiO2-rutile-realistic.xy', 'docs/web-classify.png');
  await shoot(page, server.url, 'examples/NaCl-halite.cif', 'docs/web-simulate.png');
} finally {
  await browser.close();
  await server.close();
}
