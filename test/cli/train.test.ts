// End-to-end tests of `xrd train` as a user runs it: a short run writes a usable run directory,
// a synth dataset can be the source, --init starts a new run from a model's weights (for its task
// or, with a new output layer, for another), Ctrl-C saves a checkpoint that --resume continues,
// and bad flags or directories stop with one line and the right exit code.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../../src/engine/safetensors.ts';
import { xrdIn } from '../helpers/cli.ts';

const root = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'xrd-train-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const xrd = xrdIn(tmp);

// small and quick: 8 patterns per step from a pool of 8 crystals
const QUICK = ['--batch', '8', '--val-size', '8', '--pool', '8', '--refresh', '1', '--preset', 'clean'];

describe('xrd train', () => {
  it('trains, validates and leaves a run directory that is also a model directory', () => {
    const r = xrd(['train', '--out', 'run', '--steps', '3', '--validate-every', '2', '--checkpoint-every', '2', ...QUICK]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^trained 3 steps in .*; model, checkpoint, log.jsonl and curves.svg in run/);
    expect(r.stderr).toMatch(/^training compact \(\d\.\d\dM parameters\) for crystal-system on synthetic crystals/);
    expect(r.stderr).toMatch(/validation at step 2 on synthetic \(held out, uniform groups\): top-1 \d\.\d{3}/);
    for (const f of ['run.json', 'checkpoint.safetensors', 'config.json', 'weights.safetensors', 'log.jsonl', 'curves.svg']) expect(existsSync(join(tmp, 'run', f))).toBe(true);
    const log = readFileSync(join(tmp, 'run', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
    expect(log.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([1, 2, 3]);
    expect(log.filter((e) => e.type === 'validation').map((e) => e.step)).toEqual([2, 3]);
  }, 180_000);

  it('trains on a dataset written by xrd synth, validating on rows it holds out', () => {
    expect(xrd(['synth', '--count', '20', '-o', 'ds', '--preset', 'clean', '--space-groups', '2,225']).code).toBe(0);
    const r = xrd(['train', '--dataset', 'ds', '--out', 'from-ds', '--steps', '2', '--batch', '4', '--val-size', '6']);
    expect(r.stderr).toMatch(/on dataset ds \(14 patterns, 6 more held out for validation\)/);
    expect(r.stderr).toMatch(/validation at step 2 on dataset \(held-out rows\): .*\(6 patterns\)/);
    expect(r.code).toBe(0);
    // a dataset on another grid than the model's
    expect(xrd(['synth', '--count', '4', '-o', 'coarse', '--preset', 'clean', '--step', '0.02']).code).toBe(0);
    const bad = xrd(['train', '--dataset', 'coarse', '--out', 'from-coarse', '--steps', '2', '--batch', '2', '--val-size', '1']);
    expect(bad.stderr).toMatch(/the data's grid \(4250 points from 5 deg, step 0.02, 1.5418 A\) does not match the model's \(8500 points/);
    expect(bad.code).toBe(2);
    expect(existsSync(join(tmp, 'from-coarse'))).toBe(false);
  }, 180_000);

  it('--init starts a new run from a model directory: its architecture, task and weights', () => {
    const r = xrd(['train', '--init', 'run', '--out', 'more', '--steps', '1', '--lr', '1e-12', '--warmup', '0', '--validate-every', '0', '--seed', '1', ...QUICK]);
    expect(r.stderr).toMatch(/^starting from run: compact \(\d\.\d\dM parameters\) for crystal-system on synthetic crystals/);
    expect(r.code).toBe(0);
    const weights = (dir: string) => decodeSafetensors(readFileSync(join(tmp, dir, 'weights.safetensors'))).tensors;
    const [from, to] = [weights('run'), weights('more')];
    const learnt = [...from.keys()].filter((k) => !/running_|num_batches/.test(k));
    expect(learnt.length).toBeGreaterThan(4);
    // one step at lr 1e-12 leaves the learnt weights as they were (a fresh initialisation would not be)
    for (const k of learnt) {
      const [a, b] = [from.get(k)!.data, to.get(k)!.data];
      expect(b.length, k).toBe(a.length);
      expect(a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0), k).toBeLessThan(1e-6);
    }
    const other = xrd(['train', '--init', 'run', '--arch', 'npcnn', '--out', 'y', ...QUICK]);
    expect(other.stderr).toMatch(/run is a compact model, not npcnn; leave out --arch to start from it/);
    expect(other.code).toBe(2);
    const both = xrd(['train', '--init', 'run', '--resume', 'more']);
    expect(both.stderr).toMatch(/--resume continues a run from its own checkpoint; --init starts a new one from a model/);
    expect(both.code).toBe(2);
    expect(existsSync(join(tmp, 'y'))).toBe(false);
  }, 180_000);

  it('--init with another --task copies every layer but the output layer, which starts new for the classes', () => {
    const r = xrd(['train', '--init', 'run', '--task', 'space-group', '--out', 'sg', '--steps', '1', '--lr', '1e-12', '--warmup', '0', '--validate-every', '0', ...QUICK]);
    expect(r.stderr).toMatch(/^starting from run \(all but the output layer, new for 230 classes\): compact .* for space-group/);
    expect(r.code).toBe(0);
    const config = JSON.parse(readFileSync(join(tmp, 'sg', 'config.json'), 'utf8')) as { task: string; classes: string[]; layers: { type: string }[] };
    expect(config.task).toBe('space-group');
    expect(config.classes).toHaveLength(230);
    const out = config.layers.length - 1;
    expect(config.layers[out]!.type).toBe('dense');
    const weights = (dir: string) => decodeSafetensors(readFileSync(join(tmp, dir, 'weights.safetensors'))).tensors;
    const [from, to] = [weights('run'), weights('sg')];
    expect([...to.keys()].sort()).toEqual([...from.keys()].sort());
    for (const [k, t] of to) {
      if (k.startsWith(`${out}.`)) {
        // the new output layer: 230 rows, not the crystal-system model's 7
        expect(t.shape[0], k).toBe(230);
        expect(from.get(k)!.shape[0], k).toBe(7);
      } else if (!/running_|num_batches/.test(k)) {
        const a = from.get(k)!.data;
        expect(t.data.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i]!)), 0), k).toBeLessThan(1e-6);
      }
    }
    // a model whose layers differ from the architecture's beyond the output layer cannot start another task
    mkdirSync(join(tmp, 'odd'));
    const odd = JSON.parse(readFileSync(join(tmp, 'run', 'config.json'), 'utf8')) as { layers: { kernel?: number }[] };
    odd.layers[0]!.kernel = 99;
    writeFileSync(join(tmp, 'odd', 'config.json'), JSON.stringify(odd));
    copyFileSync(join(tmp, 'run', 'weights.safetensors'), join(tmp, 'odd', 'weights.safetensors'));
    const refused = xrd(['train', '--init', 'odd', '--task', 'space-group', '--out', 'z', ...QUICK]);
    expect(refused.stderr).toMatch(/odd differs from a fresh compact model for space-group in more than its output layer/);
    expect(refused.code).toBe(2);
    expect(existsSync(join(tmp, 'z'))).toBe(false);
  }, 180_000);

  /** A 500-step run into `out` sent `signal` once its first progress line is out. */
  async function interruptedRun(out: string, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [join(root, 'bin/xrd.js'), 'train', '--out', out, '--steps', '500', '--checkpoint-every', '1000', ...QUICK], { cwd: tmp });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/step \d+\/500/.test(stderr) && !child.killed) child.kill(signal);
    });
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    return { code, stderr };
  }

  it('Ctrl-C saves a checkpoint and exits 130; --resume continues to the end', async () => {
    const { code, stderr } = await interruptedRun('sig', 'SIGINT');
    expect(code).toBe(130);
    expect(stderr).toMatch(/stopped at step (\d+); checkpoint saved in sig; continue with: xrd train --resume sig/);
    const step = Number(/stopped at step (\d+)/.exec(stderr)![1]);
    expect(step).toBeLessThan(500);
    const r = xrd(['train', '--resume', 'sig', '--steps', String(step + 2)]);
    expect(r.stderr).toMatch(new RegExp(`^resuming sig at step ${step} `));
    expect(r.stdout).toMatch(new RegExp(`^trained ${step + 2} steps`));
    expect(r.code).toBe(0);
  }, 180_000);

  it('SIGTERM (a cluster time limit, docker stop) saves a checkpoint too and exits 143', async () => {
    const { code, stderr } = await interruptedRun('term', 'SIGTERM');
    expect(code).toBe(143);
    expect(stderr).toMatch(/SIGTERM: stopping after this step/);
    expect(stderr).toMatch(/stopped at step \d+; checkpoint saved in term/);
    expect(existsSync(join(tmp, 'term', 'checkpoint.safetensors'))).toBe(true);
  }, 180_000);

  it('bad flags and directories: one line, exit 2 for the command line and 1 for the rest, nothing written', () => {
    const cases: [string[], number, RegExp][] = [
      [['train', '--out', 'x', '--arch', 'resnet'], 2, /--arch must be one of npcnn, npcnn-bn, compact, compact-logq, scnn, mlp, got 'resnet'/],
      [['train', '--out', 'x', '--steps', '0'], 2, /--steps must be a positive integer, got 0/],
      [['train', '--out', 'x', '--task', 'bravais'], 2, /--task must be one of crystal-system, space-group/],
      [['train', '--steps', '3'], 2, /needs --out DIR/],
      [['train', '--resume', 'run', '--batch', '4'], 2, /a resumed run keeps its settings; only --steps may change \(remove --batch\)/],
      [['train', '--resume', 'nothing-here'], 1, /nothing-here has no checkpoint to resume/],
      [['train', '--out', 'run', '--steps', '2', ...QUICK], 1, /run holds another training run; pass --resume to continue it or --overwrite to replace it/],
      [['train', '--out', 'x', '--dataset', 'no-such-dataset'], 1, /no-such-dataset is not a dataset written by 'xrd synth'/],
      [['train', '--out', 'x', '--cif', 'no-such-dir'], 1, /cannot read the CIF directory no-such-dir/],
    ];
    for (const [args, code, message] of cases) {
      const r = xrd(args);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.code, args.join(' ')).toBe(code);
    }
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  }, 180_000);
});
