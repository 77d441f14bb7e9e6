import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ag from '../../src/engine/autograd.ts';
import {
  CheckpointFormatError,
  CheckpointNotFoundError,
  CheckpointTensorError,
  loadCheckpoint,
  saveCheckpoint,
} from '../../src/npcnn/model-dir.ts';
import { createEngine, type Engine } from '../../src/engine/engine.ts';
import { Parameters, seededRandom } from '../../src/engine/parameters.ts';
import { SafetensorsError, decodeSafetensors, encodeSafetensors } from '../../src/engine/safetensors.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await createEngine();
  dir = mkdtempSync(join(tmpdir(), 'xrd-ckpt-'));
});
afterAll(() => {
  engine?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function headerOf(bytes: Uint8Array): { len: number; json: Record<string, unknown> } {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { len, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) };
}

/** Rewrites the header of a safetensors file (keeping the data) to make corrupt variants. */
function withHeader(bytes: Uint8Array, header: unknown): Uint8Array {
  const { len } = headerOf(bytes);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - len);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + len), 8 + json.length);
  return out;
}

describe('safetensors', () => {
  const a = { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 1e-30, -0, 7]) };
  const s = { shape: [], data: Float32Array.from([42]) };
  const e = { shape: [0, 4], data: new Float32Array(0) };

  it('writes the layout of the spec: u64 LE header length, JSON header padded to 8, data in order', () => {
    const bytes = encodeSafetensors(
      [
        ['a', a],
        ['s', s],
        ['e', e],
      ],
      { note: 'hi' },
    );
    const { len, json } = headerOf(bytes);
    expect(len % 8).toBe(0);
    expect(json).toEqual({
      __metadata__: { note: 'hi' },
      a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      s: { dtype: 'F32', shape: [], data_offsets: [24, 28] },
      e: { dtype: 'F32', shape: [0, 4], data_offsets: [28, 28] },
    });
    expect(bytes.length).toBe(8 + len + 28);
    const data = new DataView(bytes.buffer, 8 + len);
    expect(data.getFloat32(8, true)).toBe(3.5);
    expect(data.getFloat32(24, true)).toBe(42);
  });

  it('round-trips values bit for bit', () => {
    const back = decodeSafetensors(encodeSafetensors([['a', a], ['s', s], ['e', e]], { k: 'v' }));
    expect(back.metadata).toEqual({ k: 'v' });
    expect([...back.tensors.keys()]).toEqual(['a', 's', 'e']);
    expect(back.tensors.get('a')).toEqual(a);
    expect(Object.is(back.tensors.get('a')!.data[4], -0)).toBe(true);
    expect(back.tensors.get('s')).toEqual(s);
    expect(back.tensors.get('e')!.shape).toEqual([0, 4]);
  });

  it('rejects corrupt files with SafetensorsError', () => {
    const good = encodeSafetensors([['a', a]]);
    const hdr = headerOf(good).json;
    expect(() => decodeSafetensors(good.subarray(0, 5))).toThrow(/shorter than the 8-byte/);
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => decodeSafetensors(huge)).toThrow(/header length/);
    const garbage = good.slice();
    garbage[8] = 0x7b + 1;
    expect(() => decodeSafetensors(garbage)).toThrow(/not UTF-8 JSON/);
    expect(() => decodeSafetensors(withHeader(good, { a: { ...(hdr.a as object), dtype: 'F16' } }))).toThrow(/dtype "F16"/);
    expect(() => decodeSafetensors(withHeader(good, { a: { ...(hdr.a as object), shape: [3, 3] } }))).toThrow(/needs 36/);
    expect(() => decodeSafetensors(withHeader(good, { a: { ...(hdr.a as object), data_offsets: [4, 28] } }))).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(good.subarray(0, good.length - 4))).toThrow(/ends at byte 24/);
    expect(() => decodeSafetensors(withHeader(good, [1, 2]))).toThrow(/not a JSON object/);
    expect(() => encodeSafetensors([['a', { shape: [5], data: a.data }]])).toThrow(/needs 5 values, got 6/);
  });
});

describe('checkpoints', () => {
  function model(seed: number): Parameters {
    const p = new Parameters(engine);
    const r = seededRandom(seed);
    p.uniform('conv.weight', [3, 2, 4], 0.5, r);
    p.uniform('conv.bias', [3], 0.5, r);
    p.uniform('fc.weight', [4, 18], 0.3, r);
    p.uniform('fc.bias', [4], 0.3, r);
    return p;
  }
  const config = { cin: 2, cout: 3, kernel: 4, stride: 2, length: 15, classes: 4 };

  it('round-trips parameters and config through a directory', async () => {
    const src = model(1);
    const ckpt = join(dir, 'roundtrip');
    await saveCheckpoint(ckpt, src, config);
    const dst = model(2);
    const loaded = await loadCheckpoint<typeof config>(ckpt, { into: dst });
    expect(loaded.config).toEqual(config);
    expect(loaded.metadata.format).toBe('pt');
    for (const p of src) {
      const want = await p.data.read();
      expect(await dst.get(p.name).data.read()).toEqual(want);
      expect(loaded.tensors.get(p.name)!.data).toEqual(want);
    }
    src.dispose();
    dst.dispose();
  });

  it('raises typed errors that name the file or the tensor', async () => {
    const src = model(1);
    const ckpt = join(dir, 'errors');
    await saveCheckpoint(ckpt, src, config);
    await expect(loadCheckpoint(join(dir, 'nope'))).rejects.toThrow(CheckpointNotFoundError);
    await expect(loadCheckpoint(join(dir, 'nope'))).rejects.toThrow(/weights\.safetensors does not exist/);

    // A model with a parameter the file lacks, and one with another shape.
    const extra = model(1);
    extra.zeros('head.bias', [7]);
    await expect(loadCheckpoint(ckpt, { into: extra })).rejects.toThrow(/no tensor "head\.bias"/);
    const reshaped = new Parameters(engine);
    reshaped.zeros('conv.weight', [3, 2, 5]);
    const err = await loadCheckpoint(ckpt, { into: reshaped }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointTensorError);
    expect((err as CheckpointTensorError).tensorName).toBe('conv.weight');
    expect((err as Error).message).toMatch(/"conv\.weight" has shape \[3, 2, 4\] but the model expects \[3, 2, 5\]/);
    // strict: the file's other tensors are unknown to this model; with strict false they are ignored.
    const partial = new Parameters(engine);
    partial.zeros('conv.bias', [3]);
    await expect(loadCheckpoint(ckpt, { into: partial })).rejects.toThrow(/"conv\.weight" that the model does not have/);
    await loadCheckpoint(ckpt, { into: partial, strict: false });
    expect(await partial.get('conv.bias').data.read()).toEqual(await src.get('conv.bias').data.read());

    // Corrupt header, and corrupt config.
    const weights = join(ckpt, 'weights.safetensors');
    const bytes = readFileSync(weights);
    bytes[12] = 0;
    writeFileSync(weights, bytes);
    await expect(loadCheckpoint(ckpt)).rejects.toThrow(CheckpointFormatError);
    await saveCheckpoint(ckpt, src, config);
    writeFileSync(join(ckpt, 'config.json'), '{"cin": 2,');
    await expect(loadCheckpoint(ckpt)).rejects.toThrow(/config\.json is not valid JSON/);
    for (const p of [src, extra, reshaped, partial]) p.dispose();
  });

  const python = '/usr/bin/python3';
  const hasTorch = existsSync(python) && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!hasTorch)('PyTorch loads a file we wrote into a Conv1d + Linear module and computes our forward (skipped without /usr/bin/python3 + torch)', async () => {
    const params = model(5);
    const ckpt = join(dir, 'torch');
    await saveCheckpoint(ckpt, params, config);
    const xv = Float32Array.from({ length: 2 * 2 * 15 }, (_, i) => Math.sin(i * 0.7));
    const x = ag.variable(engine.tensor(xv, [2, 2, 15]));
    const y = ag.noGrad(() => {
      const h = ag.flatten(ag.relu(ag.conv1d(x, params.get('conv.weight'), params.get('conv.bias'), { stride: 2 })));
      return ag.dense(h, params.get('fc.weight'), params.get('fc.bias'));
    });
    const expected = {
      tensors: Object.fromEntries(await Promise.all([...params].map(async (p) => [p.name, [...(await p.data.read())]]))),
      input: [...xv],
      output: [...(await y.read())],
    };
    const expectedPath = join(dir, 'expected.json');
    writeFileSync(expectedPath, JSON.stringify(expected));
    const out = execFileSync(python, [join(repoRoot, 'scripts/check-torch-load.py'), ckpt, expectedPath], { encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    console.log('check-torch-load:', JSON.stringify(result));
    expect(result.ok).toBe(true);
    expect(result.max_abs_value_diff).toBe(0);
    expect(result.max_abs_forward_diff).toBeLessThan(1e-4);
    y.dispose();
    x.dispose();
    params.dispose();
  }, 60_000);
});
