import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkFreeSpace, formatBytes, freeBytes, makeDirectory, writeAtomically } from '../../src/io/files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'xrd-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('file helpers', () => {
  it('makeDirectory creates missing parents, accepts existing folders, and refuses at once where Node would hang', () => {
    const deep = join(tmp, 'a', 'b', 'c');
    makeDirectory(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    makeDirectory(deep); // exists: nothing to do
    writeFileSync(join(tmp, 'file'), 'x');
    expect(() => makeDirectory(join(tmp, 'file', 'sub'))).toThrow(/is a file, not a folder/);
    const t0 = Date.now();
    expect(() => makeDirectory('/proc/xrd-files-test/deeper')).toThrow(/ENOENT/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(existsSync('/proc/xrd-files-test')).toBe(false);
  });

  it('checks free space against a write and formats sizes', () => {
    expect(freeBytes(join(tmp, 'not', 'yet'))).toBeGreaterThan(0);
    expect(() => checkFreeSpace(tmp, 1e18, 'a test write')).toThrow(/^a test write needs about 1000\.0 PB, but only .* is free on the file system of /);
    expect(() => checkFreeSpace(tmp, 1000, 'a small write')).not.toThrow();
    expect(formatBytes(999)).toBe('999 bytes');
    expect(formatBytes(34_400_000_000_000)).toBe('34.4 TB');
  });

  it('writeAtomically replaces a file whole and leaves no temporary file', async () => {
    const path = join(tmp, 'atomic.txt');
    await writeAtomically(path, 'first');
    await writeAtomically(path, 'second');
    expect(readFileSync(path, 'utf8')).toBe('second');
    expect(existsSync(`${path}.tmp-${process.pid}`)).toBe(false);
  });
});
