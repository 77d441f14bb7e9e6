// Progress on stderr: a redrawn bar when stderr is a terminal, nothing otherwise (the command
// prints a plain summary when it finishes either way).

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly start = performance.now();
  private readonly live: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly unit = 'patterns',
  ) {
    this.live = Boolean(stream.isTTY);
  }

  get elapsedSeconds(): number {
    return (performance.now() - this.start) / 1000;
  }

  /** Rate so far, per second. */
  get rate(): number {
    return this.done / Math.max(this.elapsedSeconds, 1e-9);
  }

  tick(n = 1): void {
    this.done += n;
    if (!this.live) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = now;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - 60));
    const fill = Math.round(frac * width);
    const eta = this.rate > 0 ? (this.total - this.done) / this.rate : 0;
    const line =
      `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${this.done}/${this.total} ` +
      `${this.rate.toFixed(1)} ${this.unit}/s ETA ${eta.toFixed(0)}s`;
    this.stream.write(`\r${line}\x1b[K`);
  }

  /** Clear the bar (the caller prints its own summary). */
  finish(): void {
    if (this.live) this.stream.write('\r\x1b[K');
  }
}
