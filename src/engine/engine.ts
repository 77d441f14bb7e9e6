// The engine: one WebGPU device, its kernels, a buffer pool and a command batch.
//
// Dispatches are recorded into one open compute pass and submitted together on flush() (or when
// a readback needs the results). Uniform values go into per-batch chunks written just before the
// submit, so recording a dispatch never waits for the GPU.
import { BufferPool } from './buffer-pool.ts';
import { openDevice, type DeviceOptions, type EngineInfo } from './device.ts';
import { EngineDestroyedError, EngineError, KernelError, ShapeError } from './errors.ts';
import { checkCompilation, packUniforms, reflectKernel, type EntryInfo, type KernelModule } from './kernel.ts';
import { Storage, Tensor, checkShape, sizeOf, type DType, type TypedArrayFor } from './tensor.ts';

export type { BackendChoice, DeviceOptions, EngineInfo } from './device.ts';

export interface EngineOptions extends DeviceOptions {
  /** Returns the WGSL source of a kernel by name; defaults to reading kernels/<name>.wgsl. */
  kernelSource?: (name: string) => string;
  /** Kernel variant per op family, e.g. { dense: 'tiled' }; env XRD_KERNEL_VARIANTS="dense=tiled,conv1d=direct". */
  variants?: Record<string, string>;
  /** Submit automatically after this many recorded dispatches (default 512). */
  maxDispatchesPerSubmit?: number;
  /**
   * How to wait for the GPU. Dawn's Node binding polls in a busy loop while any GPU promise is
   * pending, which takes a core away from a software GPU. 'sleep' first sleeps for most of the
   * time the same sequence of dispatches took before, then waits; 'spin' always waits at once.
   * Default: 'sleep' on software adapters, 'spin' otherwise (env XRD_WAIT overrides).
   */
  wait?: 'sleep' | 'spin';
}

export type UniformValues = Record<string, number | readonly number[]>;
export type BindingValue = Tensor | UniformValues;

export interface DispatchSpec {
  bindings: Record<string, BindingValue>;
  workgroups: readonly [number, number?, number?];
  overrides?: Record<string, number>;
}

const UNIFORM_CHUNK = 64 * 1024;

function parseVariantEnv(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (k && v) out[k] = v;
  }
  return out;
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const { gpu, device, info: engineInfo } = await openDevice(options);
  let source = options.kernelSource;
  if (!source) {
    const { nodeKernelSource } = await import('./node-gpu.ts');
    source = nodeKernelSource();
  }
  const variants = { ...options.variants, ...parseVariantEnv(globalThis.process?.env?.XRD_KERNEL_VARIANTS) };
  const envWait = globalThis.process?.env?.XRD_WAIT;
  const wait = envWait === 'sleep' || envWait === 'spin' ? envWait : (options.wait ?? (engineInfo.isSoftware ? 'sleep' : 'spin'));
  return new Engine(gpu, device, engineInfo, source, variants, options.maxDispatchesPerSubmit ?? 512, wait);
}

/**
 * The next wait estimate (ms) after a wait of `took` ms that began with a sleep of `slept` ms.
 * Work that was already done when the sleep ended only shows it took at most that long, so the
 * estimate halves; a wait far longer than expected (a paused process, a busy machine) counts as
 * at most 3x the estimate. Otherwise a moving average. Without these two rules one long wait
 * kept every later wait sleeping about as long (the sleep itself sustained the estimate).
 */
export function nextEstimate(estimate: number | undefined, took: number, slept: number): number {
  if (estimate === undefined) return took;
  if (slept > 0 && took - slept < 2) return 0.5 * estimate;
  return 0.6 * estimate + 0.4 * Math.min(took, 3 * estimate);
}

export class Engine {
  readonly pool: BufferPool;
  private kernels = new Map<string, KernelModule>();
  private layouts = new Map<string, GPUBindGroupLayout>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private pipelineIds = new Map<GPUComputePipeline, number>();
  /** Rolling hash of the dispatches since the last wait, and the wait time seen per hash. */
  private workSignature = 0;
  private dispatchesSinceWait = 0;
  private waitEstimates = new Map<number, number>();
  private pendingChecks: Promise<void>[] = [];
  private deviceErrors: string[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchCount = 0;
  private uniformChunks: { buffer: GPUBuffer; data: ArrayBuffer; used: number }[] = [];
  private destroyed = false;
  /** Counters for benchmarks and tests. */
  readonly counters = { dispatches: 0, submits: 0, pipelinesCreated: 0, readbacks: 0 };

  constructor(
    // Dawn's instance must outlive the device: if the GPU object is garbage-collected, Dawn's
    // event polling touches a freed instance and the process crashes.
    readonly gpu: GPU,
    readonly device: GPUDevice,
    readonly info: EngineInfo,
    private readonly kernelSource: (name: string) => string,
    private readonly variantOverrides: Record<string, string>,
    private readonly maxDispatchesPerSubmit: number,
    readonly waitStrategy: 'sleep' | 'spin' = 'spin',
  ) {
    this.pool = new BufferPool(device);
    device.addEventListener('uncapturederror', (ev) => {
      this.deviceErrors.push((ev as GPUUncapturedErrorEvent).error.message);
    });
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  private alive(what: string): void {
    if (this.destroyed) throw new EngineDestroyedError(what);
  }

  /**
   * The kernel variant for an op family: an explicit override, else the default for this kind of
   * device. Software rasterisers (lavapipe) pay dearly for workgroup barriers, so they get
   * register-blocked kernels; real GPUs get shared-memory tiling.
   */
  variant(op: string, defaults: { software: string; gpu: string }): string {
    return this.variantOverrides[op] ?? (this.info.isSoftware ? defaults.software : defaults.gpu);
  }

  /** Sets (or clears, with undefined) the variant override of an op family. */
  setVariant(op: string, variant: string | undefined): void {
    if (variant === undefined) delete this.variantOverrides[op];
    else this.variantOverrides[op] = variant;
  }

  // ---- kernels and pipelines -------------------------------------------------------------

  /** Loads, compiles and reflects a kernel file (cached). Compile errors surface at the next sync point. */
  kernel(name: string): KernelModule {
    this.alive(`kernel("${name}")`);
    let k = this.kernels.get(name);
    if (k) return k;
    const source = this.kernelSource(name);
    const entries = reflectKernel(name, source);
    // The error scope keeps a bad module's validation error out of the uncaptured-error stream:
    // it is reported once, as a KernelError naming the line, by checkCompilation.
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: source, label: name });
    const scope = this.device.popErrorScope();
    const check = Promise.all([scope, checkCompilation(name, module, source)]).then(
      () => undefined,
      (e: unknown) => {
        this.kernels.delete(name);
        throw e;
      },
    );
    check.catch(() => undefined); // reported at the next sync point
    this.pendingChecks.push(check);
    k = { name, source, module, entries };
    this.kernels.set(name, k);
    return k;
  }

  /** Compiles kernels ahead of use and throws their compile errors now. */
  async prepare(names: string[]): Promise<void> {
    for (const n of names) this.kernel(n);
    await this.checkErrors();
  }

  private entry(kernel: KernelModule, entryName: string): EntryInfo {
    const e = kernel.entries.get(entryName);
    if (!e) {
      throw new KernelError(
        `kernel "${kernel.name}" has no compute entry point "${entryName}" (it has: ${[...kernel.entries.keys()].join(', ')})`,
      );
    }
    return e;
  }

  private layout(kernel: KernelModule, e: EntryInfo): GPUBindGroupLayout {
    const key = `${kernel.name}:${e.name}`;
    let l = this.layouts.get(key);
    if (!l) {
      l = this.device.createBindGroupLayout({
        label: key,
        entries: e.bindings.map((b) => ({
          binding: b.binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: b.kind === 'uniform' ? 'uniform' : b.kind === 'storage-read' ? 'read-only-storage' : 'storage' },
        })),
      });
      this.layouts.set(key, l);
    }
    return l;
  }

  /** Pipelines are cached by kernel, entry point and override constants, never by shape. */
  private pipeline(kernel: KernelModule, e: EntryInfo, overrides: Record<string, number> | undefined): GPUComputePipeline {
    const ov = overrides ?? {};
    for (const k of Object.keys(ov)) {
      if (!e.overrides.includes(k)) {
        throw new KernelError(`kernel "${kernel.name}" entry "${e.name}" has no override "${k}" (it has: ${e.overrides.join(', ') || 'none'})`);
      }
    }
    const key = `${kernel.name}:${e.name}:${Object.keys(ov).sort().map((k) => `${k}=${ov[k]}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipeline({
        label: key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(kernel, e)] }),
        compute: { module: kernel.module, entryPoint: e.name, constants: ov },
      });
      this.pipelines.set(key, p);
      this.pipelineIds.set(p, this.pipelines.size);
      this.counters.pipelinesCreated++;
    }
    return p;
  }

  get pipelineCacheSize(): number {
    return this.pipelines.size;
  }

  // ---- tensors ---------------------------------------------------------------------------

  private newStorage(bytes: number, label?: string): Storage {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    if (bytes > this.info.limits.maxStorageBufferBindingSize) {
      throw new ShapeError(
        `a tensor of ${bytes} bytes exceeds this device's storage binding limit of ${this.info.limits.maxStorageBufferBindingSize} bytes; use a smaller batch`,
      );
    }
    return new Storage(this, this.pool.acquire(bytes, usage, label), bytes);
  }

  /** An uninitialised tensor (contents undefined until a kernel writes it). */
  empty<D extends DType = 'f32'>(shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    this.alive('empty()');
    checkShape(shape);
    return new Tensor(this.newStorage(sizeOf(shape) * 4), [...shape], dtype);
  }

  zeros<D extends DType = 'f32'>(shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    const t = this.empty(shape, dtype);
    this.endPass();
    this.commandEncoder().clearBuffer(t.buffer, 0, t.size * 4);
    this.noteWork(0x5eed, t.size);
    return t;
  }

  /** Uploads CPU data into a new tensor. */
  tensor<D extends DType = 'f32'>(data: ArrayLike<number>, shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    this.alive('tensor()');
    checkShape(shape);
    if (sizeOf(shape) !== data.length) {
      throw new ShapeError(`tensor(): ${data.length} values do not fill shape [${shape.join(', ')}] (${sizeOf(shape)} elements)`);
    }
    const t = this.empty(shape, dtype);
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the CPU, after every command recorded so far. */
  write(t: Tensor, data: ArrayLike<number>): void {
    this.alive('write()');
    if (data.length !== t.size) throw new ShapeError(`write(): ${data.length} values for a tensor of ${t.size} elements`);
    // queue.writeBuffer runs before commands that are recorded but not yet submitted.
    if (this.encoder) this.flush();
    const typed =
      t.dtype === 'f32'
        ? data instanceof Float32Array
          ? data
          : Float32Array.from(data)
        : t.dtype === 'i32'
          ? data instanceof Int32Array
            ? data
            : Int32Array.from(data)
          : data instanceof Uint32Array
            ? data
            : Uint32Array.from(data);
    this.device.queue.writeBuffer(t.buffer, 0, typed.buffer, typed.byteOffset, typed.byteLength);
  }

  /** Called by Tensor.dispose() when the last view of a storage goes away. */
  releaseStorage(s: Storage): void {
    if (this.destroyed) return;
    this.pool.release(s.buffer);
  }

  /** Copies `src` into `dst` (same element count). */
  copy(src: Tensor, dst: Tensor): void {
    this.alive('copy()');
    if (src.size !== dst.size) throw new ShapeError(`copy(): sizes differ (${src.size} vs ${dst.size})`);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.buffer, 0, dst.buffer, 0, src.size * 4);
    this.noteWork(0xc0b1, src.size);
  }

  /** Copies `count` elements of `src` from element `srcStart` into `dst` from element `dstStart`. */
  copyRange(src: Tensor, srcStart: number, dst: Tensor, dstStart: number, count: number): void {
    this.alive('copyRange()');
    for (const [what, v] of [['srcStart', srcStart], ['dstStart', dstStart], ['count', count]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new ShapeError(`copyRange(): ${what} must be an integer >= 0, got ${v}`);
    }
    if (srcStart + count > src.size || dstStart + count > dst.size) {
      throw new ShapeError(`copyRange(): ${count} elements from ${srcStart} of ${src.size} into ${dstStart} of ${dst.size} run past the end`);
    }
    if (count === 0) return;
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.buffer, srcStart * 4, dst.buffer, dstStart * 4, count * 4);
    this.noteWork(0xc0b1, count);
  }

  // ---- recording and submission ------------------------------------------------------------

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private uniformSlot(bytes: number): { buffer: GPUBuffer; view: DataView; offset: number } {
    const align = this.device.limits.minUniformBufferOffsetAlignment;
    const size = Math.ceil(bytes / align) * align;
    let chunk = this.uniformChunks[this.uniformChunks.length - 1];
    if (!chunk || chunk.used + size > UNIFORM_CHUNK) {
      const buffer = this.pool.acquire(UNIFORM_CHUNK, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'uniforms');
      chunk = { buffer, data: new ArrayBuffer(UNIFORM_CHUNK), used: 0 };
      this.uniformChunks.push(chunk);
    }
    const offset = chunk.used;
    chunk.used += size;
    return { buffer: chunk.buffer, view: new DataView(chunk.data), offset };
  }

  /**
   * Records one dispatch. Every binding of the entry point must be given: tensors for storage
   * arrays (checked for dtype and size), plain objects for uniform structs (packed by member name).
   */
  dispatch(kernelName: string, entryName: string, spec: DispatchSpec): void {
    this.alive(`dispatch(${kernelName}.${entryName})`);
    const kernel = this.kernel(kernelName);
    const e = this.entry(kernel, entryName);
    const label = `${kernelName}.${entryName}`;
    for (const key of Object.keys(spec.bindings)) {
      if (!e.bindings.some((b) => b.name === key)) {
        throw new ShapeError(`${label}: unknown binding "${key}" (entry uses: ${e.bindings.map((b) => b.name).join(', ')})`);
      }
    }
    const entries: GPUBindGroupEntry[] = [];
    const written = new Set<GPUBuffer>();
    const used = new Map<GPUBuffer, string>();
    for (const b of e.bindings) {
      const v = spec.bindings[b.name];
      if (v === undefined) throw new ShapeError(`${label}: binding "${b.name}" was not given`);
      if (b.kind === 'uniform') {
        if (v instanceof Tensor) throw new ShapeError(`${label}: binding "${b.name}" is a uniform struct; pass an object of values, not a tensor`);
        const slot = this.uniformSlot(b.size);
        packUniforms(b, v, slot.view, slot.offset, label);
        entries.push({ binding: b.binding, resource: { buffer: slot.buffer, offset: slot.offset, size: b.size } });
        continue;
      }
      if (!(v instanceof Tensor)) throw new ShapeError(`${label}: binding "${b.name}" is a storage buffer; pass a tensor`);
      if (b.scalar && b.scalar !== v.dtype) {
        throw new ShapeError(`${label}: binding "${b.name}" holds ${b.element} but the tensor is ${v.dtype}`);
      }
      if (v.size === 0) throw new ShapeError(`${label}: binding "${b.name}" got an empty tensor`);
      if ((v.size * 4) % b.stride !== 0) {
        throw new ShapeError(`${label}: binding "${b.name}" has ${v.size * 4} bytes, not a whole number of ${b.element} (${b.stride} bytes)`);
      }
      const buffer = v.buffer;
      const other = used.get(buffer);
      if (other !== undefined && (b.kind === 'storage-rw' || written.has(buffer))) {
        throw new ShapeError(`${label}: bindings "${other}" and "${b.name}" use the same buffer and one of them is written`);
      }
      used.set(buffer, b.name);
      if (b.kind === 'storage-rw') written.add(buffer);
      entries.push({ binding: b.binding, resource: { buffer, offset: 0, size: v.size * 4 } });
    }
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxWg = this.info.limits.maxComputeWorkgroupsPerDimension;
    for (const n of [x, y, z]) {
      if (!Number.isInteger(n) || n < 0 || n > maxWg) {
        throw new ShapeError(`${label}: workgroup count ${n} is outside 0..${maxWg}; the op must split this shape`);
      }
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pipeline = this.pipeline(kernel, e, spec.overrides);
    const bindGroup = this.device.createBindGroup({ layout: this.layout(kernel, e), entries });
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(x, y, z);
    this.noteWork(this.pipelineIds.get(pipeline)!, x + y * 7 + z * 13, true);
    this.counters.dispatches++;
    if (++this.dispatchCount >= this.maxDispatchesPerSubmit) this.flush();
  }

  /** Submits everything recorded so far. */
  flush(): void {
    this.alive('flush()');
    if (!this.encoder) return;
    this.endPass();
    for (const c of this.uniformChunks) {
      this.device.queue.writeBuffer(c.buffer, 0, c.data, 0, c.used);
      this.pool.release(c.buffer);
    }
    this.uniformChunks = [];
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.dispatchCount = 0;
    this.counters.submits++;
    this.pool.afterSubmit();
  }

  /** Throws the first pending compile or device error, if any. */
  async checkErrors(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    await Promise.all(checks);
    if (this.deviceErrors.length) {
      const msg = this.deviceErrors.join('\n');
      this.deviceErrors = [];
      throw new EngineError(`WebGPU reported an error: ${msg}`);
    }
  }

  /** Submits and waits until the GPU has finished all work. */
  /** Adds one recorded command (kind and size) to the signature the wait estimates are keyed by. */
  private noteWork(kind: number, size: number, isDispatch = false): void {
    this.workSignature = (Math.imul(this.workSignature, 31) + Math.imul(kind, 65599) + size) | 0;
    if (isDispatch) this.dispatchesSinceWait++;
  }

  /**
   * Waits on a GPU promise. With the 'sleep' strategy, first sleeps for 85 % of what the same
   * dispatch sequence took last time, so Dawn's busy poll does not compete with a software GPU
   * for the CPU; the estimate corrects itself when work gets shorter or longer.
   */
  private async waitFor<T>(start: () => Promise<T>): Promise<T> {
    const key = this.workSignature;
    const dispatches = this.dispatchesSinceWait;
    this.workSignature = 0;
    this.dispatchesSinceWait = 0;
    const t0 = performance.now();
    const estimate = this.waitEstimates.get(key);
    let slept = 0;
    // Copies and readbacks alone are short: only kernel work is worth sleeping through.
    if (this.waitStrategy === 'sleep' && dispatches > 0 && estimate !== undefined && estimate > 2) {
      slept = estimate * 0.85;
      await new Promise((r) => setTimeout(r, slept));
    }
    const result = await start();
    const took = performance.now() - t0;
    this.waitEstimates.set(key, nextEstimate(estimate, took, slept));
    if (this.waitEstimates.size > 4096) this.waitEstimates.clear();
    return result;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.waitFor(() => this.device.queue.onSubmittedWorkDone());
    await this.checkErrors();
  }

  /** Copies a tensor back to the CPU. */
  async read<D extends DType>(t: Tensor<D>): Promise<TypedArrayFor<D>> {
    this.alive('read()');
    const bytes = t.size * 4;
    const staging = this.pool.acquire(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.noteWork(0x4ead, t.size);
    this.flush();
    this.counters.readbacks++;
    try {
      await this.waitFor(() => staging.mapAsync(GPUMapMode.READ, 0, bytes));
    } catch (e) {
      await this.checkErrors();
      throw new EngineError(`read(): mapping the result failed: ${(e as Error).message}`);
    }
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.pool.release(staging);
    await this.checkErrors();
    const out = t.dtype === 'f32' ? new Float32Array(copy) : t.dtype === 'i32' ? new Int32Array(copy) : new Uint32Array(copy);
    return out as TypedArrayFor<D>;
  }

  /** Frees every GPU object. The engine cannot be used afterwards; the process can exit. */
  destroy(): void {
    if (this.destroyed) return;
    if (this.pass) this.pass.end();
    this.pass = null;
    this.encoder = null;
    this.uniformChunks = [];
    this.pool.destroy();
    this.kernels.clear();
    this.layouts.clear();
    this.pipelines.clear();
    this.pipelineIds.clear();
    this.waitEstimates.clear();
    this.device.destroy();
    this.destroyed = true;
  }
}
