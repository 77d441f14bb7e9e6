// Headless Chromium with WebGPU for the page's test and screenshots (puppeteer-core driving the
// system's Chromium; CI installs Debian's `chromium`). Measured on a 2-core machine without a GPU
// (Chromium 156): SwiftShader (`swiftshader`, Chromium's own software Vulkan) classified a pattern
// in ~3 s, lavapipe through ANGLE's OpenGL ES in compatibility mode (`angle`) in ~15 s, so
// SwiftShader is the default; XRD_BROWSER_GPU=angle picks the other.
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env.XRD_CHROMIUM ?? '/usr/bin/chromium';

export const GPU_FLAGS = {
  swiftshader: ['--enable-unsafe-webgpu'],
  angle: ['--enable-unsafe-webgpu', '--use-angle=vulkan', '--use-webgpu-adapter=opengles', '--force-webgpu-compat'],
} as const;

export type BrowserGpu = keyof typeof GPU_FLAGS;

/** Launches headless Chromium with a WebGPU adapter; throws with what to install when it is missing. */
export async function launchChromium(gpu: BrowserGpu = (process.env.XRD_BROWSER_GPU as BrowserGpu | undefined) ?? 'swiftshader'): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser page is tested in it. Install it (Debian/Ubuntu: sudo apt-get install chromium) or set XRD_CHROMIUM to its path`);
  }
  if (!(gpu in GPU_FLAGS)) throw new Error(`XRD_BROWSER_GPU must be one of ${Object.keys(GPU_FLAGS).join(', ')}, got '${gpu}'`);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless=new', ...GPU_FLAGS[gpu]],
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
}
