// The engine runtime: adapter info, kernel loading and errors, binding checks, pipeline cache,
// buffer pool reuse, batching, destroy.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketSize } from '../../src/engine/buffer-pool.ts';
import { nextEstimate, createEngine, type Engine } from '../../src/engine/engine.ts';
import { EngineDestroyedError, KernelError, NoAdapterError, ShapeError } from '../../src/engine/errors.ts';
import { nodeKernelSource } from '../../src/engine/node-gpu.ts';

const COPY = `
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
override WG: u32 = 64;
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.n) { y[g.x] = x[g.x] * p.scale; }
}
@group(0) @binding(3) var<storage, read_write> lab: array<i32>;
@compute @workgroup_size(64)
fn labels(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.n) { lab[g.x] = i32(g.x) * 2; }
}
`;

const BROKEN = `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  y[g.x] = undefined_thing + 1.0;
}
`;

const sources: Record<string, string> = { copy: COPY, broken: BROKEN };
const fileSource = nodeKernelSource();
const kernelSource = (name: string) => sources[name] ?? fileSource(name);

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ kernelSource });
});
afterAll(() => engine?.destroy());

function scale(x: ReturnType<Engine['tensor']>, s: number, wg?: number) {
  const y = engine.empty(x.shape);
  engine.dispatch('copy', 'scale', {
    bindings: { p: { n: x.size, scale: s }, x, y },
    workgroups: [Math.ceil(x.size / (wg ?? 64))],
    overrides: wg ? { WG: wg } : undefined,
  });
  return y;
}

describe('adapter and info', () => {
  it('reports the adapter, backend and limits', () => {
    expect(['vulkan', 'opengl', 'metal', 'd3d12']).toContain(engine.info.backend);
    expect(engine.info.description.length).toBeGreaterThan(0);
    expect(engine.info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(['core', 'compatibility']).toContain(engine.info.featureLevel);
  });

  it('rejects an unknown backend name with a clear error', async () => {
    // XRD_BACKEND, when set, overrides the option: CI runs this suite with it set to opengl.
    const forced = process.env.XRD_BACKEND;
    delete process.env.XRD_BACKEND;
    try {
      await expect(createEngine({ backend: 'glide' as never })).rejects.toThrow(/unknown backend "glide"/);
      process.env.XRD_BACKEND = 'glide';
      await expect(createEngine()).rejects.toThrow(/unknown backend "glide"/);
    } finally {
      if (forced === undefined) delete process.env.XRD_BACKEND;
      else process.env.XRD_BACKEND = forced;
    }
  });

  it('NoAdapterError tells the user what to install', () => {
    const e = new NoAdapterError('x');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('NoAdapterError');
  });
});

describe('kernels', () => {
  it('runs a reflected kernel and packs uniforms by member name', async () => {
    const x = engine.tensor([1, 2, 3, 4, 5], [5]);
    const y = scale(x, 2.5);
    expect([...(await y.read())]).toEqual([2.5, 5, 7.5, 10, 12.5]);
    x.dispose();
    y.dispose();
  });

  it('caches pipelines by override constants, never by shape', async () => {
    const before = engine.pipelineCacheSize;
    for (const n of [3, 70, 1000]) {
      const x = engine.tensor(new Float32Array(n).fill(1), [n]);
      scale(x, 1).dispose();
      x.dispose();
    }
    expect(engine.pipelineCacheSize - before).toBe(0);
    const x = engine.tensor(new Float32Array(300).fill(2), [300]);
    const y = scale(x, 3, 128);
    expect(engine.pipelineCacheSize - before).toBe(1);
    expect((await y.read()).every((v) => v === 6)).toBe(true);
    x.dispose();
    y.dispose();
  });

  it('throws KernelError for a missing kernel file, naming it', () => {
    expect(() => engine.kernel('no_such_kernel')).toThrow(KernelError);
    expect(() => engine.kernel('no_such_kernel')).toThrow(/no_such_kernel\.wgsl/);
  });

  it('turns WGSL compile errors into a KernelError naming the kernel and line', async () => {
    let err: unknown;
    try {
      await engine.prepare(['broken']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as Error).message).toMatch(/broken\.wgsl:5:/);
    expect((err as Error).message).toMatch(/undefined_thing/);
    // Nothing leaks into later work, and asking again reports the same error.
    const x = engine.tensor([1], [1]);
    expect((await scale(x, 2).read())[0]).toBe(2);
    await expect(engine.prepare(['broken'])).rejects.toThrow(KernelError);
  });

  it('rejects an unknown entry point, override or uniform member', () => {
    const x = engine.tensor([1], [1]);
    const y = engine.empty([1]);
    expect(() => engine.dispatch('copy', 'nope', { bindings: {}, workgroups: [1] })).toThrow(/no compute entry point "nope"/);
    expect(() =>
      engine.dispatch('copy', 'scale', { bindings: { p: { n: 1, scale: 1 }, x, y }, workgroups: [1], overrides: { TILE: 4 } }),
    ).toThrow(/no override "TILE"/);
    expect(() =>
      engine.dispatch('copy', 'scale', { bindings: { p: { n: 1, scale: 1, extra: 2 }, x, y }, workgroups: [1] }),
    ).toThrow(/no member "extra"/);
    expect(() => engine.dispatch('copy', 'scale', { bindings: { p: { n: 1 }, x, y }, workgroups: [1] })).toThrow(/p\.scale was not given/);
    x.dispose();
    y.dispose();
  });
});

describe('dispatch checks', () => {
  it('requires every binding, with the right kind and dtype', () => {
    const x = engine.tensor([1, 2], [2]);
    const y = engine.empty([2]);
    const lab = engine.empty([2], 'i32');
    expect(() => engine.dispatch('copy', 'scale', { bindings: { p: { n: 2, scale: 1 }, x }, workgroups: [1] })).toThrow(
      /binding "y" was not given/,
    );
    expect(() => engine.dispatch('copy', 'scale', { bindings: { p: x, x, y }, workgroups: [1] })).toThrow(/uniform struct/);
    expect(() => engine.dispatch('copy', 'scale', { bindings: { p: { n: 2, scale: 1 }, x, y: lab }, workgroups: [1] })).toThrow(
      ShapeError,
    );
    expect(() => engine.dispatch('copy', 'labels', { bindings: { p: { n: 2, scale: 1 }, lab: y }, workgroups: [1] })).toThrow(
      /holds i32 but the tensor is f32/,
    );
    expect(() => engine.dispatch('copy', 'scale', { bindings: { p: { n: 2, scale: 1 }, x, y: x }, workgroups: [1] })).toThrow(
      /same buffer/,
    );
    expect(() =>
      engine.dispatch('copy', 'scale', { bindings: { p: { n: 2, scale: 1 }, x, y }, workgroups: [70000] }),
    ).toThrow(/workgroup count 70000/);
    expect(() => engine.dispatch('copy', 'scale', { bindings: { p: { n: -1, scale: 1 }, x, y }, workgroups: [1] })).toThrow(
      /must be a u32/,
    );
    for (const t of [x, y, lab]) t.dispose();
  });

  it('writes integer tensors', async () => {
    const lab = engine.empty([5], 'i32');
    engine.dispatch('copy', 'labels', { bindings: { p: { n: 5, scale: 0 }, lab }, workgroups: [1] });
    expect([...(await lab.read())]).toEqual([0, 2, 4, 6, 8]);
    lab.dispose();
  });

  it('records many dispatches into one submit', async () => {
    const submits = engine.counters.submits;
    let x = engine.tensor([1], [1]);
    for (let i = 0; i < 20; i++) {
      const y = scale(x, 2);
      x.dispose();
      x = y;
    }
    expect(engine.counters.submits).toBe(submits);
    expect((await x.read())[0]).toBe(2 ** 20);
    expect(engine.counters.submits).toBe(submits + 1);
    x.dispose();
  });
});

describe('tensors and the buffer pool', () => {
  it('rounds sizes to buckets', () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(4097)).toBeGreaterThanOrEqual(4097);
    expect(bucketSize(4097)).toBeLessThan(4097 * 1.3);
    expect(bucketSize(1e6) / 1e6).toBeLessThan(1.26);
  });

  it('copyRange copies a slice between tensors and refuses ranges past the end', async () => {
    const src = engine.tensor(Float32Array.from({ length: 10 }, (_, i) => i), [2, 5]);
    const dst = engine.zeros([6]);
    engine.copyRange(src, 3, dst, 1, 4);
    expect(Array.from(await dst.read())).toEqual([0, 3, 4, 5, 6, 0]);
    expect(() => engine.copyRange(src, 8, dst, 0, 3)).toThrow(/run past the end/);
    expect(() => engine.copyRange(src, 0, dst, 4, 3)).toThrow(/run past the end/);
    expect(() => engine.copyRange(src, -1, dst, 0, 1)).toThrow(/srcStart must be an integer >= 0/);
    src.dispose();
    dst.dispose();
  });

  it('reuses a released buffer only after the submit that used it', async () => {
    const x = engine.tensor(new Float32Array(1000).fill(1), [1000]);
    const y = scale(x, 3); // recorded, not submitted
    const xBuffer = x.buffer;
    x.dispose();
    // Not yet submitted: a new tensor of the same size must not get x's buffer, or the upload
    // below would overwrite x before the recorded scale() reads it.
    const z = engine.tensor(new Float32Array(1000).fill(7), [1000]);
    expect((await y.read()).every((v) => v === 3)).toBe(true);
    z.dispose();
    // After a submit, the same size bucket is served from the pool.
    await engine.sync();
    const created = engine.pool.stats.created;
    const w = engine.empty([1000]);
    expect(engine.pool.stats.created).toBe(created);
    expect([xBuffer, z.storage.buffer]).toContain(w.buffer);
    y.dispose();
    w.dispose();
  });

  it('reshapes as views sharing the buffer', async () => {
    const x = engine.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const v = x.reshape([3, -1]);
    expect(v.shape).toEqual([3, 2]);
    expect(v.buffer).toBe(x.buffer);
    x.dispose();
    expect([...(await v.read())]).toEqual([1, 2, 3, 4, 5, 6]); // base kept alive by the view
    expect(() => v.reshape([4, 2])).toThrow(ShapeError);
    v.dispose();
    expect(() => x.buffer).toThrow(/after dispose/);
  });

  it('rejects data that does not fill the shape', () => {
    expect(() => engine.tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
    expect(() => engine.empty([2, 1.5])).toThrow(ShapeError);
  });
});

describe('waiting for the GPU', () => {
  it("the 'sleep' strategy still returns complete results when work changes length", async () => {
    const e = await createEngine({ kernelSource, wait: 'sleep' });
    expect(e.waitStrategy).toBe('sleep');
    for (const n of [10, 200000, 10, 200000, 50000, 10]) {
      const x = e.tensor(Float32Array.from({ length: n }, (_, i) => i % 97), [n]);
      const y = e.empty([n]);
      e.dispatch('copy', 'scale', { bindings: { p: { n, scale: 2 }, x, y }, workgroups: [Math.ceil(n / 64)] });
      const out = await y.read();
      expect(out[n - 1]).toBe(((n - 1) % 97) * 2);
      x.dispose();
      y.dispose();
    }
    e.destroy();
  });

  it('wait estimates recover from one long wait (a paused process) instead of sustaining it', () => {
    // work ready as soon as the sleep ended: the estimate halves, whatever it was
    let est = 60_000;
    for (let i = 0; i < 12; i++) est = nextEstimate(est, est * 0.85 + 0.5, est * 0.85);
    expect(est).toBeLessThan(60_000 / 2 ** 11);
    // a wait 1000x longer than expected moves the estimate by at most 3x
    expect(nextEstimate(10, 10_000, 0)).toBeLessThanOrEqual(0.6 * 10 + 0.4 * 30);
    // ordinary waits: a moving average
    expect(nextEstimate(10, 20, 0)).toBeCloseTo(14);
    expect(nextEstimate(undefined, 7, 0)).toBe(7);
  });
});

describe('destroy', () => {
  it('frees everything and refuses further use with a typed error', async () => {
    const e = await createEngine({ kernelSource });
    const x = e.tensor([1, 2], [2]);
    await x.read();
    e.destroy();
    expect(e.isDestroyed).toBe(true);
    expect(e.pool.stats.bytesAllocated).toBe(0);
    expect(() => e.tensor([1], [1])).toThrow(EngineDestroyedError);
    expect(() => e.dispatch('copy', 'scale', { bindings: {}, workgroups: [1] })).toThrow(/engine has been destroyed/);
    await expect(e.read(x)).rejects.toThrow(EngineDestroyedError);
    e.destroy(); // idempotent
  });
});

describe('process lifetime', () => {
  it('a process that destroyed its engine exits by itself', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/engine-exit.ts'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).out).toEqual([2, 4, 6]);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});
