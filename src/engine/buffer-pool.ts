// GPU buffer pool keyed by size bucket and usage.
//
// A released buffer may still be read by commands recorded but not yet submitted, and a later
// queue.writeBuffer into it would run before them. So released buffers wait in `pending` until the
// engine submits, and only then become reusable.

/** Buckets grow by ~1.19x (4 steps per power of two) above 4 KiB; small sizes round to 256 B. */
export function bucketSize(bytes: number): number {
  const min = 256;
  if (bytes <= 4096) return Math.max(min, Math.ceil(bytes / min) * min);
  const exp = Math.floor(Math.log2(bytes));
  const step = 2 ** (exp - 2);
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  created: number;
  reused: number;
  live: number;
  free: number;
  bytesAllocated: number;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private pending: { key: string; buffer: GPUBuffer }[] = [];
  private all = new Set<GPUBuffer>();
  private keys = new WeakMap<GPUBuffer, string>();
  readonly stats: PoolStats = { created: 0, reused: 0, live: 0, free: 0, bytesAllocated: 0 };

  constructor(private device: GPUDevice) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const size = bucketSize(Math.max(4, bytes));
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.stats.reused++;
      this.stats.free--;
      this.stats.live++;
      return reused;
    }
    const buffer = this.device.createBuffer({ size, usage, label: label ?? `pool ${size}B` });
    this.keys.set(buffer, key);
    this.all.add(buffer);
    this.stats.created++;
    this.stats.live++;
    this.stats.bytesAllocated += size;
    return buffer;
  }

  /** Give a buffer back; it becomes reusable after the next submit. */
  release(buffer: GPUBuffer): void {
    const key = this.keys.get(buffer);
    if (key === undefined) throw new Error('release(): buffer does not belong to this pool');
    this.pending.push({ key, buffer });
    this.stats.live--;
  }

  /** Called by the engine right after queue.submit(). */
  afterSubmit(): void {
    for (const { key, buffer } of this.pending) {
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(buffer);
      this.stats.free++;
    }
    this.pending.length = 0;
  }

  destroy(): void {
    for (const b of this.all) b.destroy();
    this.all.clear();
    this.free.clear();
    this.pending.length = 0;
    this.stats.live = 0;
    this.stats.free = 0;
    this.stats.bytesAllocated = 0;
  }
}
