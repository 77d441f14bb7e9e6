// File-system helpers for everything that writes results: atomic replacement, folder creation that
// cannot hang, and free-space checks before large writes.

import { mkdirSync, statfsSync, statSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Writes a file under a temporary name, then renames it: readers see the old or the new file, never a part. */
export async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** The path itself or its nearest ancestor that exists. */
function nearestExisting(path: string): string {
  let p = resolve(path);
  for (;;) {
    try {
      statSync(p);
      return p;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
    const up = dirname(p);
    if (up === p) return p;
    p = up;
  }
}

/**
 * Creates a folder and its missing parents (mkdir -p). Node 20's own recursive mkdir spins
 * forever where a parent refuses new entries with ENOENT (inside /proc, for one); here each missing
 * folder is made on its own, so the refusal comes back as an error.
 */
export function makeDirectory(path: string): void {
  const base = nearestExisting(path);
  if (!statSync(base).isDirectory()) throw new Error(`${base} is a file, not a folder`);
  const missing: string[] = [];
  for (let p = resolve(path); p !== base; p = dirname(p)) missing.push(p);
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Bytes an unprivileged user may still write on the file system that holds `path` (or would hold it). */
export function freeBytes(path: string): number {
  const s = statfsSync(nearestExisting(path));
  return s.bavail * s.bsize;
}

/** Binary size with a unit, for messages: 1.5 GB. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) {
    bytes /= 1000;
    i++;
  }
  return `${i === 0 ? bytes : bytes.toFixed(1)} ${units[i]}`;
}

/**
 * Throws when writing `bytes` under `path` would leave less than 5 % headroom on its file system;
 * `what` names the write in the message.
 */
export function checkFreeSpace(path: string, bytes: number, what: string): void {
  const free = freeBytes(path);
  if (bytes * 1.05 > free) {
    throw new Error(`${what} needs about ${formatBytes(bytes)}, but only ${formatBytes(free)} is free on the file system of ${resolve(path)}`);
  }
}
