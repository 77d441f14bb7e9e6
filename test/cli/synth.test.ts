// End-to-end tests of `xrd synth`: the dataset on disk, read back by our reader and by numpy.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSpaceGroups } from '../../src/cli/synth.ts';
import { crystalSystemOf } from '../../src/sim/crystal.ts';
import { decodeNpy } from '../../src/sim/npy.ts';
import { XRD_BIN, xrdIn } from '../helpers/cli.ts';

const root = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'xrd-synth-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const PY = '/usr/bin/python3';
const xrd = xrdIn(tmp, 120_000);

const GROUPS = [14, 62, 225];

describe('xrd synth', () => {
  it('writes a dataset numpy reads with the right shape, labels in range, and the same data for the same seed', () => {
    // 7 patterns in batches of 3: the last batch is cut to the count.
    const args = ['synth', '--count', '7', '--batch', '3', '--space-groups', GROUPS.join(','), '--preset', 'paper', '--seed', '11'];
    const r = xrd([...args, '-o', 'ds']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote 7 patterns of 8500 points to ds/);
    const dir = join(tmp, 'ds');

    const { data, shape } = decodeNpy(new Uint8Array(readFileSync(join(dir, 'patterns.npy'))));
    expect(shape).toEqual([7, 8500]);
    for (let i = 0; i < 7; i++) {
      const row = data.subarray(i * 8500, (i + 1) * 8500);
      expect(Math.max(...row)).toBeCloseTo(1, 5);
    }

    const labels = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')) as {
      index: number; space_group: number; crystal_system: string; crystal_system_id: number; effects: { U: number; V: number; W: number; uniformMax: number };
    }[];
    expect(labels.map((l) => l.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const l of labels) {
      expect(GROUPS).toContain(l.space_group);
      expect(l.crystal_system).toBe(crystalSystemOf(l.space_group));
      expect(l.crystal_system_id).toBeGreaterThanOrEqual(0);
      expect(l.crystal_system_id).toBeLessThan(7);
      // The paper preset: one of its four Caglioti settings and uniform noise of 2-19 per mille.
      expect([0.05, 0]).toContain(l.effects.U);
      expect(l.effects.uniformMax).toBeGreaterThanOrEqual(0.002);
      expect(l.effects.uniformMax).toBeLessThanOrEqual(0.019);
    }
    const csv = readFileSync(join(dir, 'labels.csv'), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(8);
    expect(csv[0].split(',').slice(0, 5)).toEqual(['index', 'name', 'space_group', 'crystal_system', 'crystal_system_id']);
    expect(csv[0]).toContain('effects.W');

    const meta = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
    expect(meta).toMatchObject({ count: 7, preset: 'paper', seed: 11, wavelength: 1.5418, space_groups: GROUPS, grid: { two_theta_min: 5, two_theta_max: 89.99, step: 0.01, points: 8500 } });
    expect(meta.version).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);

    if (existsSync(PY)) {
      const out = execFileSync(PY, ['-c', 'import sys, numpy as n; a = n.load(sys.argv[1]); print(a.dtype, a.shape, round(float(a.max()), 4))', join(dir, 'patterns.npy')], { encoding: 'utf8' });
      expect(out.trim()).toBe('float32 (7, 8500) 1.0');
    }

    // Same seed, different batch size: the same patterns, bitwise.
    const again = xrd(['synth', '--count', '7', '--batch', '7', '--space-groups', GROUPS.join(','), '--preset', 'paper', '--seed', '11', '-o', 'ds2']);
    expect(again.code).toBe(0);
    expect(readFileSync(join(tmp, 'ds2/patterns.npy')).equals(readFileSync(join(dir, 'patterns.npy')))).toBe(true);

    // An existing dataset is not replaced without --overwrite.
    const exists = xrd([...args, '-o', 'ds']);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/^xrd: ds already holds a dataset; pass --overwrite to replace it/);
  });

  it('Ctrl-C leaves nothing; a second writer is refused at once; the first completes whole; unrelated files are never touched', async () => {
    const start = (out: string, count: number) => spawn(process.execPath, [XRD_BIN, 'synth', '--count', String(count), '--batch', '16', '--preset', 'clean', '-o', out], { cwd: tmp });
    const stderrOf = (child: ReturnType<typeof spawn>) => {
      let text = '';
      child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
      return () => text;
    };
    const exit = (child: ReturnType<typeof spawn>) => new Promise<number | null>((done) => child.on('exit', (c) => done(c)));

    // interrupted: exit 130, no dataset, no staging folder, no lock
    const a = start('interrupted', 100000);
    const aErr = stderrOf(a);
    await new Promise((r) => setTimeout(r, 4000));
    a.kill('SIGINT');
    expect(await exit(a)).toBe(130);
    expect(aErr()).toMatch(/interrupted \(SIGINT\) after \d+ of 100000 patterns; nothing was written to interrupted/);
    expect(readdirSync(tmp).filter((f) => f.startsWith('interrupted'))).toEqual([]);

    // two writers into one folder: the second is refused while the first runs, the first completes
    // enough patterns that the first run is still writing when the second starts
    const first = start('shared', 1500);
    const firstDone = exit(first);
    for (let i = 0; i < 100 && !existsSync(join(tmp, 'shared.lock')); i++) await new Promise((r) => setTimeout(r, 100));
    const second = xrd(['synth', '--count', '8', '--preset', 'clean', '-o', 'shared']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^xrd: another xrd \(pid \d+\) is writing shared; wait for it to finish or choose another folder/);
    expect(await firstDone).toBe(0);
    const { shape } = decodeNpy(new Uint8Array(readFileSync(join(tmp, 'shared', 'patterns.npy'))));
    expect(shape).toEqual([1500, 8500]);
    expect(readFileSync(join(tmp, 'shared', 'labels.json'), 'utf8').trim().endsWith(']')).toBe(true);
    expect(readdirSync(tmp).filter((f) => f.startsWith('shared'))).toEqual(['shared']);

    // a folder of other files is refused and left as it was
    mkdirSync(join(tmp, 'mine'));
    writeFileSync(join(tmp, 'mine', 'notes.txt'), 'keep');
    const foreign = xrd(['synth', '--count', '2', '--preset', 'clean', '-o', 'mine', '--overwrite']);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/mine holds other files \(notes.txt\); write the dataset to a new or empty folder/);
    expect(readdirSync(join(tmp, 'mine'))).toEqual(['notes.txt']);
  }, 120_000);

  it('--prior system-balanced draws each crystal system about equally; the prior is recorded', () => {
    // A coarse grid keeps this fast. Uniform over groups would give ~2.4 triclinic crystals of 280.
    const r = xrd(['synth', '--count', '280', '--preset', 'clean', '--range', '5,60', '--step', '0.05', '--prior', 'system-balanced', '--seed', '4', '-o', 'balanced']);
    expect(r.code).toBe(0);
    const labels = JSON.parse(readFileSync(join(tmp, 'balanced', 'labels.json'), 'utf8')) as { crystal_system_id: number }[];
    const counts = new Array<number>(7).fill(0);
    for (const l of labels) counts[l.crystal_system_id]!++;
    for (const c of counts) expect(Math.abs(c - 40)).toBeLessThan(20); // 40 expected, sd 5.9
    expect(JSON.parse(readFileSync(join(tmp, 'balanced', 'dataset.json'), 'utf8')).prior).toBe('system-balanced');
    const both = xrd(['synth', '--count', '2', '-o', 'never', '--prior', 'uniform', '--prior-from', 'examples']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --prior or --prior-from, not both');
  }, 120_000);

  it('rejects bad space-group lists, presets and formats with exit code 2', () => {
    expect(parseSpaceGroups('1-3, 225,2')).toEqual([1, 2, 3, 225]);
    expect(parseSpaceGroups('1-230')).toHaveLength(230);
    for (const bad of [['--space-groups', '0-10'], ['--space-groups', '200-231'], ['--space-groups', 'cubic'], ['--preset', 'noisy'], ['--format', 'hdf5']]) {
      const r = xrd(['synth', '--count', '2', '-o', 'never', ...bad]);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    expect(existsSync(join(tmp, 'never'))).toBe(false);
    // Disk space is checked before any work: 1e9 patterns of 8500 float32 points are 34 TB.
    const huge = xrd(['synth', '--count', '1000000000', '-o', 'never']);
    expect(huge.code).toBe(1);
    expect(huge.stderr).toMatch(/^xrd: a dataset of 1000000000 patterns of 8500 points needs about 34\.4 TB, but only .* is free .*; lower --count or write elsewhere\n$/);
    expect(readdirSync(tmp).filter((f) => f.startsWith('never'))).toEqual([]);
    const missing = xrd(['synth', '-o', 'never']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs --count N and -o DIR');
  });
});
