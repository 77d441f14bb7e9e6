// A tensor is a shape and a dtype over a pooled GPU buffer. Reshapes are views sharing the
// buffer; the buffer goes back to the pool when the last view is disposed.
import type { Engine } from './engine.ts';
import { EngineError, ShapeError } from './errors.ts';

export type DType = 'f32' | 'i32' | 'u32';
export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: readonly number[], what = 'shape'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what} [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
}

/** Shared GPU storage with a reference count (one per live view). */
export class Storage {
  refs = 1;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
    readonly byteLength: number,
  ) {}
}

export class Tensor<D extends DType = DType> {
  readonly size: number;
  private disposed = false;

  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: D,
  ) {
    this.size = sizeOf(shape);
  }

  get engine(): Engine {
    return this.storage.engine;
  }
  get buffer(): GPUBuffer {
    if (this.disposed) throw new EngineError(`tensor [${this.shape.join(', ')}] was used after dispose()`);
    return this.storage.buffer;
  }
  get byteLength(): number {
    return this.size * 4;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** A view with another shape over the same buffer (no copy). One dimension may be -1. */
  reshape(shape: readonly number[]): Tensor<D> {
    const s = [...shape];
    const free = s.indexOf(-1);
    if (free >= 0) {
      const rest = sizeOf(s.filter((_, i) => i !== free));
      if (rest === 0 || this.size % rest !== 0) throw new ShapeError(`cannot reshape [${this.shape.join(', ')}] to [${shape.join(', ')}]`);
      s[free] = this.size / rest;
    }
    checkShape(s);
    if (sizeOf(s) !== this.size) {
      throw new ShapeError(`cannot reshape [${this.shape.join(', ')}] (${this.size} elements) to [${shape.join(', ')}]`);
    }
    void this.buffer; // throws if disposed
    this.storage.refs++;
    return new Tensor(this.storage, s, this.dtype);
  }

  /** Flatten all dimensions after the first: [N, ...] -> [N, prod(rest)]. */
  flatten(): Tensor<D> {
    return this.reshape([this.shape[0] ?? 1, -1]);
  }

  /** Copies the values back to the CPU. */
  read(): Promise<TypedArrayFor<D>> {
    return this.engine.read(this);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (--this.storage.refs === 0) this.engine.releaseStorage(this.storage);
  }
}
